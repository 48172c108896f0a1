"""HTTP plumbing shared by the Trading, OAuth and Analytics calls.

What lives here, and why it is in one place:

* **One attempt = one counted HTTP request.**  ``Transport.send`` sends exactly one
  request, counts it in ``calls`` *before* it goes out (a retry spends eBay quota
  just like the first try), reads the body with a hard size cap
  (``settings.MAX_RESPONSE_BYTES``) and turns every network-level failure into a
  typed error from ``errors.py``.  Nothing above this layer sees a ``requests``
  exception.
* **Bounded retries with exponential backoff and full jitter.**  ``Transport.run``
  repeats an attempt on ``TransientError`` / ``MalformedResponse`` at most
  ``max_retries`` times (so ``max_retries + 1`` attempts), refreshes the access
  token once on ``TokenExpired`` and gives up with the typed error.  ``sleep`` and
  the random source are injectable so tests never wait.
* **Secrets never leave.**  ``SecretRegistry`` knows every credential the client
  holds (client secret, refresh token, access tokens), registers each with
  Airflow's log masker when running inside Airflow, and scrubs them out of every
  error message built from a server answer.  No header is ever logged.
* **Thread safety.**  The sync calls ``GetItem`` from several threads sharing one
  client: the call counter is guarded by a lock; a ``requests.Session`` is shared
  (urllib3's pool is thread-safe for plain request/response use).
"""
from __future__ import annotations

import collections
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import requests

from . import settings
from .errors import AuthRevoked, EbayError, MalformedResponse, RequestError, TokenExpired, TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Reasons quoted from exceptions or bodies are cut to this many characters: enough
# to act on, never a whole HTML page in a log line.
MAX_REASON_CHARS = 300
_READ_CHUNK = 64 * 1024


# --------------------------------------------------------------------------- secrets
def _airflow_mask_secret() -> Callable[[str], None] | None:
    """Airflow's ``mask_secret`` inside an Airflow process, else ``None`` (core runs without it).

    Only when ``airflow.sdk`` is already loaded (task runner, DAG processor, anything
    that imported the hook): importing Airflow from a plain script would replace the
    root logging handlers and write ``~/airflow/airflow.cfg`` — and its masker only
    filters Airflow's task logs anyway, which exist only in such processes.
    """
    if "airflow.sdk" not in sys.modules:
        return None
    try:
        from airflow.sdk.log import mask_secret  # type: ignore[import-not-found]
    except Exception:  # a broken/partial Airflow install: the core must still work
        return None
    return mask_secret


def register_secret(value: str | None) -> None:
    """Tell Airflow's log masker about ``value`` (no-op outside Airflow or for empty values)."""
    if not value:
        return
    masker = _airflow_mask_secret()
    if masker is not None:
        try:
            masker(value)
        except Exception:  # masking is best effort; never break a call because of it
            log.debug("mask_secret failed", exc_info=False)


class SecretRegistry:
    """The credentials one client holds; scrubs them out of text that may reach a log.

    Access tokens rotate, so only the most recent few are kept (older ones have
    expired and are useless to an attacker anyway).
    """

    _MAX_ROTATING = 8

    def __init__(self, fixed: Iterable[str | None] = ()) -> None:
        self._lock = threading.Lock()
        self._fixed: list[str] = []
        self._rotating: collections.deque[str] = collections.deque(maxlen=self._MAX_ROTATING)
        for value in fixed:
            self.add(value)

    def add(self, value: str | None, *, rotating: bool = False) -> None:
        # Very short values would redact innocent text; real secrets are long.
        if not value or len(value) < 4:
            return
        with self._lock:
            target = self._rotating if rotating else self._fixed
            if value in target:
                return
            target.append(value)
        register_secret(value)

    def redact(self, text: str) -> str:
        with self._lock:
            values = sorted({*self._fixed, *self._rotating}, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, "***")
        return text


def _identity(text: str) -> str:
    return text


def shorten(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """One line, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- context
@dataclass(frozen=True)
class CallContext:
    """Names one logical call for messages: ``GetMyeBaySelling page 3 of seller_a``."""

    call: str
    account: str
    page: int | None = None
    subject: str | None = None          # item id, report day, ... when there is no page
    redact: Callable[[str], str] = field(default=_identity, repr=False, compare=False)

    def describe(self) -> str:
        what = self.call
        if self.page is not None:
            what += f" page {self.page}"
        elif self.subject:
            what += f" {self.subject}"
        return f"{what} of {self.account}"

    def error(self, cls: type[EbayError], reason: str, *, code: str | int | None = None,
              **kwargs) -> EbayError:
        """Build ``cls`` with a message naming call, account and page; secrets scrubbed.

        The context is put in the message prefix (readable in the Airflow UI) and in
        the ``call``/``account``/``page`` attributes (for code), not repeated as the
        ``[call=…]`` suffix ``EbayError`` would add.
        """
        reason = self.redact(str(reason))
        err = cls(f"{self.describe()}: {reason}", code=None if code is None else str(code), **kwargs)
        err.call, err.account, err.page = self.call, self.account, self.page
        err.reason = reason  # type: ignore[attr-defined]
        return err


# --------------------------------------------------------------------------- responses
@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    content_type: str                   # lower-cased media type without parameters, "" if absent
    body: bytes
    retry_after: float | None = None    # seconds, from a Retry-After header when numeric


class TokenSource(Protocol):
    def get_token(self) -> str: ...
    def invalidate(self, token: str) -> None: ...


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _retry_after(header: str | None) -> float | None:
    if header and header.strip().isdigit():
        return float(header.strip())
    return None


# --------------------------------------------------------------------------- transport
class Transport:
    """One ``requests.Session``, a thread-safe call counter, and the retry loop."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (settings.CONNECT_TIMEOUT_S, settings.READ_TIMEOUT_S),
        max_retries: int = settings.MAX_TRANSIENT_RETRIES,
        backoff_base: float = settings.BACKOFF_BASE_S,
        backoff_max: float = settings.BACKOFF_MAX_S,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_response_bytes: int = settings.MAX_RESPONSE_BYTES,
        secrets: SecretRegistry | None = None,
        user_agent: str = "ebay-trends/1.0 (+requests)",
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if not (isinstance(timeout, (tuple, list)) and len(timeout) == 2
                and all(isinstance(t, (int, float)) and t > 0 for t in timeout)):
            # Explicit connect and read timeouts: requests' default is to wait forever.
            raise ValueError("timeout must be a (connect, read) tuple of positive seconds")
        timeout = (float(timeout[0]), float(timeout[1]))
        self._owns_session = session is None
        self.session = session if session is not None else self._new_session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.max_response_bytes = max_response_bytes
        self.secrets = secrets or SecretRegistry()
        self.user_agent = user_agent
        self._calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    @staticmethod
    def _new_session() -> requests.Session:
        s = requests.Session()
        # No urllib3-level retries: every retry is ours, counted and bounded.  A pool
        # big enough for the GetItem thread pool so threads don't queue on sockets.
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=4, pool_maxsize=settings.DEFAULT_GETITEM_CONCURRENCY + 2, max_retries=0
        )
        s.mount("https://", adapter)
        s.mount("http://", adapter)
        return s

    # -- counting ------------------------------------------------------------
    @property
    def calls(self) -> collections.Counter[str]:
        """A snapshot of HTTP attempts by call name (retries included)."""
        with self._lock:
            return collections.Counter(self._calls)

    def _count(self, call: str) -> None:
        with self._lock:
            self._calls[call] += 1

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    # -- one attempt -----------------------------------------------------------
    def send(
        self,
        ctx: CallContext,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        data: bytes | str | None = None,
    ) -> RawResponse:
        """Send one request and read its (size-capped) body.  5xx/429 -> ``TransientError``.

        Redirects are refused: a redirect would carry the ``X-EBAY-API-IAF-TOKEN``
        header (which ``requests`` does not strip) to whatever host it names.
        """
        hdrs = {"User-Agent": self.user_agent, **headers}
        self._count(ctx.call)
        try:
            resp = self.session.request(
                method, url, headers=hdrs, data=data, timeout=self.timeout,
                stream=True, allow_redirects=False,
            )
        except requests.exceptions.InvalidHeader:
            # requests quotes the offending header value, which may be a token: say nothing more.
            raise ctx.error(RequestError, "bad request configuration (a header value is invalid)") from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as exc:
            raise ctx.error(RequestError, f"bad request configuration ({type(exc).__name__}: {shorten(exc)})")
        except requests.exceptions.Timeout as exc:
            raise ctx.error(TransientError, f"timed out ({shorten(exc)})")
        except (requests.exceptions.RequestException, OSError) as exc:
            raise ctx.error(TransientError, f"connection failed ({type(exc).__name__}: {shorten(exc)})")

        try:
            status = resp.status_code
            ctype = _media_type(resp.headers.get("Content-Type"))
            retry_after = _retry_after(resp.headers.get("Retry-After"))
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                raise ctx.error(MalformedResponse,
                                f"response of {int(declared)} bytes exceeds the {self.max_response_bytes}-byte cap")
            body = self._read_capped(ctx, resp)
        finally:
            resp.close()

        log.debug("%s: HTTP %s, %s, %d bytes", ctx.describe(), status, ctype or "no content-type", len(body))
        if 300 <= status < 400:
            raise ctx.error(MalformedResponse, f"unexpected redirect (HTTP {status}); redirects are not followed")
        if status >= 500:
            page = " (an HTML error page)" if ctype == "text/html" else ""
            err = ctx.error(TransientError, f"HTTP {status} from eBay{page}")
            err.retry_after = retry_after  # type: ignore[attr-defined]
            raise err
        if status == 429:
            err = ctx.error(TransientError, "HTTP 429 rate limited")
            err.retry_after = retry_after  # type: ignore[attr-defined]
            raise err
        return RawResponse(status=status, content_type=ctype, body=body, retry_after=retry_after)

    def _read_capped(self, ctx: CallContext, resp: requests.Response) -> bytes:
        buf = bytearray()
        try:
            for chunk in resp.iter_content(_READ_CHUNK):
                buf += chunk
                if len(buf) > self.max_response_bytes:
                    raise ctx.error(MalformedResponse,
                                    f"response exceeds the {self.max_response_bytes}-byte cap")
        except EbayError:
            raise
        except requests.exceptions.ConnectionError as exc:
            # requests wraps urllib3's ReadTimeoutError here, during the body read.
            reason = "read timed out" if "timed out" in str(exc).lower() else "connection broken"
            raise ctx.error(TransientError, f"{reason} while reading the body ({shorten(exc)})")
        except (requests.exceptions.RequestException, OSError) as exc:
            raise ctx.error(TransientError,
                            f"truncated transfer ({type(exc).__name__}: {shorten(exc)})")
        except Exception as exc:  # urllib3/http.client errors that slip past requests' wrapping
            raise ctx.error(TransientError, f"transfer failed ({type(exc).__name__}: {shorten(exc)})")
        return bytes(buf)

    # -- retry loop --------------------------------------------------------------
    def backoff_delay(self, retry_index: int, retry_after: float | None = None) -> float:
        """Full jitter: uniform(0, min(max, base * 2**n)); never less than a server's Retry-After."""
        cap = min(self.backoff_max, self.backoff_base * (2 ** retry_index))
        delay = self.rng.uniform(0.0, cap)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def run(self, ctx: CallContext, attempt: Callable[[str | None], T], *,
            tokens: TokenSource | None = None) -> T:
        """Run ``attempt(token)`` with bounded transient retries and one token refresh.

        * ``TransientError`` / ``MalformedResponse``: retried ``max_retries`` times with
          backoff, then re-raised naming the number of attempts.
        * ``TokenExpired``, or ``AuthRevoked`` code 931 (which eBay sometimes answers
          spuriously): the token is invalidated, refreshed and the call repeated once;
          a second rejection is ``AuthRevoked`` ("re-authorise account X").
        * Anything else (518, ItemNotFound, RequestError, ...) propagates at once.

        Errors raised while *getting* a token come from the token endpoint's own
        bounded retry loop and propagate unchanged (no retries of retries).
        """
        transient_retries = 0
        reauthorised = False
        while True:
            token = tokens.get_token() if tokens is not None else None
            try:
                return attempt(token)
            except (TokenExpired, AuthRevoked) as exc:
                retry_once = isinstance(exc, TokenExpired) or exc.code == "931"
                if tokens is None or token is None or not retry_once:
                    raise
                if reauthorised:
                    raise ctx.error(
                        AuthRevoked,
                        f"eBay still rejects the access token after a refresh (code {exc.code}); "
                        f"re-authorise account {ctx.account}",
                        code=exc.code,
                    ) from None
                reauthorised = True
                log.warning("%s: access token rejected (code %s); refreshing it and retrying once",
                            ctx.describe(), exc.code)
                tokens.invalidate(token)
            except (TransientError, MalformedResponse) as exc:
                if transient_retries >= self.max_retries:
                    reason = getattr(exc, "reason", str(exc))
                    raise ctx.error(type(exc), f"{reason} (gave up after {transient_retries + 1} attempts)",
                                    code=exc.code) from None
                delay = self.backoff_delay(transient_retries, getattr(exc, "retry_after", None))
                transient_retries += 1
                log.warning("%s: %s; retry %d/%d in %.2f s", ctx.describe(), getattr(exc, "reason", exc),
                            transient_retries, self.max_retries, delay)
                self.sleep(delay)

"""OAuth user access tokens for one eBay account (refresh-token grant).

eBay user access tokens live about two hours; the long-lived refresh token (about
18 months) buys new ones.  ``TokenProvider`` keeps the current access token in
memory and refreshes it ``settings.TOKEN_REFRESH_MARGIN_S`` *before* it expires —
the system this project replaces refreshed only after a call had already failed.

* Request: ``POST {api_base_url}/identity/v1/oauth2/token`` with
  ``Authorization: Basic base64(client_id:client_secret)`` and the form body
  ``grant_type=refresh_token&refresh_token=…&scope=<space-separated scopes>``.
* ``invalid_grant`` (revoked or expired refresh token) → ``AuthRevoked`` naming the
  account: a human must re-authorise it; retrying cannot help.
* HTTP 5xx, 429, timeouts, resets, non-JSON bodies → bounded retries with backoff
  (the shared ``Transport.run`` loop), then ``TransientError``/``MalformedResponse``.
* Thread-safe: the GetItem thread pool shares one provider; one lock serialises
  refreshes so N threads that find the token stale cause one refresh, not N.

Every attempt is counted as ``OAuthToken`` in the client's ``calls``.  Tokens and the
client secret are registered with the ``SecretRegistry`` (and Airflow's masker) and
never appear in logs or exception messages.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlencode

from . import settings
from .errors import AuthRevoked, MalformedResponse, RequestError
from .transport import CallContext, RawResponse, Transport, shorten

log = logging.getLogger(__name__)

CALL_NAME = "OAuthToken"
DEFAULT_EXPIRES_IN_S = 7200     # eBay's documented lifetime, used only if expires_in is absent


class TokenProvider:
    """Caches one account's access token and refreshes it ahead of expiry."""

    def __init__(
        self,
        *,
        transport: Transport,
        token_url: str,
        account_id: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        scopes: Sequence[str] = settings.OAUTH_SCOPES,
        refresh_margin_s: float = settings.TOKEN_REFRESH_MARGIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._token_url = token_url
        self._account_id = account_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._scopes = tuple(scopes)
        self._margin = refresh_margin_s
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._revoked: AuthRevoked | None = None
        self._refresh_at = 0.0          # monotonic time after which the token is refreshed
        transport.secrets.add(client_secret)
        transport.secrets.add(refresh_token)

    def __repr__(self) -> str:  # never show tokens
        return f"TokenProvider(account_id={self._account_id!r}, token_url={self._token_url!r})"

    # -- public ---------------------------------------------------------------
    def get_token(self) -> str:
        """A valid access token, refreshing it first if it is missing or near expiry."""
        with self._lock:
            if self._revoked is not None:
                # eBay said invalid_grant: asking again (another thread of the same page,
                # a later call) cannot succeed and would only repeat the refusal.
                raise self._revoked
            if self._token is None or self._clock() >= self._refresh_at:
                try:
                    self._refresh_locked()
                except AuthRevoked as exc:
                    self._revoked = exc
                    raise
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (eBay rejected it).  A token another thread already replaced stays."""
        with self._lock:
            if self._token == token:
                self._token = None

    # -- refresh ------------------------------------------------------------------
    def _refresh_locked(self) -> None:
        ctx = CallContext(CALL_NAME, self._account_id, redact=self._transport.secrets.redact)
        self._token = None
        token, expires_in = self._transport.run(ctx, lambda _unused: self._attempt(ctx))
        now = self._clock()
        # Short-lived tokens (test setups) must not look stale at once: never use
        # more than a quarter of the lifetime as the safety margin.
        margin = min(self._margin, expires_in / 4)
        self._token = token
        self._refresh_at = now + expires_in - margin
        log.info("%s: new access token, valid %d s", ctx.describe(), expires_in)

    def _attempt(self, ctx: CallContext) -> tuple[str, int]:
        basic = base64.b64encode(f"{self._client_id}:{self._client_secret}".encode()).decode("ascii")
        body = urlencode({
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "scope": " ".join(self._scopes),
        })
        raw = self._transport.send(
            ctx, "POST", self._token_url,
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            data=body,
        )
        return self._parse(ctx, raw)

    def _parse(self, ctx: CallContext, raw: RawResponse) -> tuple[str, int]:
        payload = _json_object(raw.body)
        if raw.status != 200:
            error = str(payload.get("error", "")) if payload else ""
            if error == "invalid_grant":
                raise ctx.error(
                    AuthRevoked,
                    f"refresh token rejected (invalid_grant); re-authorise account {self._account_id}",
                    code="invalid_grant",
                )
            if error == "invalid_client" or raw.status == 401:
                raise ctx.error(RequestError,
                                f"client credentials rejected (HTTP {raw.status} {error or 'no error code'}); "
                                "check the connection's client id and client secret",
                                code=error or str(raw.status))
            described = error or "no error code"
            if payload and payload.get("error_description"):
                described += f": {shorten(payload['error_description'], 200)}"
            raise ctx.error(RequestError, f"token request refused (HTTP {raw.status}, {described})",
                            code=error or str(raw.status))
        if payload is None:
            raise ctx.error(MalformedResponse,
                            f"token response is not a JSON object (content-type {raw.content_type or 'none'})")
        token = payload.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise ctx.error(MalformedResponse, "token response has no access_token")
        expires_raw = payload.get("expires_in", DEFAULT_EXPIRES_IN_S)
        try:
            expires_in = int(expires_raw)
        except (TypeError, ValueError):
            raise ctx.error(MalformedResponse, "token response has a non-numeric expires_in") from None
        if expires_in < 0:   # 0 is usable once (the next get_token refreshes); negative is nonsense
            raise ctx.error(MalformedResponse, "token response has a negative expires_in")
        self._transport.secrets.add(token, rotating=True)
        return token, expires_in


def _json_object(body: bytes) -> dict | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None

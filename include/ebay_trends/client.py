"""``EbayClient``: the one object the sync uses to talk to eBay for one account.

It wraps three APIs behind typed methods and typed errors:

* Trading API (XML): ``get_my_ebay_selling`` (the active selling list, one page) and
  ``get_item`` (category, status, watchers for one listing);
* Sell Analytics (JSON): ``traffic_report`` (views etc. for ≤ 200 listings, one day);
* OAuth: user access tokens refreshed ahead of expiry, transparently.

Design points (see docs/DESIGN.md, "Client"):

* **One ``requests.Session`` per client**, explicit ``(connect, read)`` timeouts, and
  every base URL taken from ``AccountConfig.api_base_url`` — production, sandbox and
  the local emulator are reached the same way.
* **Every call checks eBay's envelope** and raises one of the errors in
  ``errors.py``; transient failures are retried a bounded number of times with
  exponential backoff and full jitter; a rejected access token is refreshed once;
  518 (call limit) is never retried.
* **Calls are counted** (``calls``) per HTTP attempt, retries included, because
  each attempt spends eBay quota — the sync's budget guard reads these numbers.
* **Thread-safe**: ``get_item`` is called from a thread pool sharing one client.
* **No secrets escape**: ``AccountConfig``'s repr hides them, they are registered
  with Airflow's masker when Airflow is present, and scrubbed from error messages.

The module imports neither Airflow nor a database: it is usable from a plain
script, the CLI, the benchmarks and tests.
"""
from __future__ import annotations

import collections
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from urllib.parse import urlsplit

import requests

from . import analytics, settings, trading
from .errors import BadItemError
from .oauth import TokenProvider
from .records import BadItem, ItemDetails, SellerListPage, SellingPage, TrafficReport
from .transport import CallContext, SecretRegistry, Transport, register_secret

log = logging.getLogger(__name__)


def site_id_for(marketplace_id: str) -> str:
    """Trading API ``X-EBAY-API-SITEID`` of a marketplace (``EBAY_US`` → ``"0"``)."""
    try:
        return settings.SITE_IDS[marketplace_id]
    except KeyError:
        known = ", ".join(sorted(settings.SITE_IDS))
        raise ValueError(f"unknown eBay marketplace {marketplace_id!r}; expected one of: {known}") from None


@dataclass(frozen=True, repr=False)
class AccountConfig:
    """Everything needed to call eBay for one seller account.

    ``client_secret`` and ``refresh_token`` never appear in ``repr``/``str``; they are
    registered with Airflow's secret masker on creation when Airflow is installed.
    ``api_base_url`` is the scheme and host (e.g. ``https://api.ebay.com``,
    ``https://api.sandbox.ebay.com`` or ``http://127.0.0.1:8765`` for the emulator).
    """

    account_id: str
    marketplace_id: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    api_base_url: str
    scopes: tuple[str, ...] = settings.OAUTH_SCOPES

    def __post_init__(self) -> None:
        for name in ("account_id", "marketplace_id", "client_id", "client_secret", "refresh_token",
                     "api_base_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                # Name the field, never the value.
                raise ValueError(f"AccountConfig.{name} must be a non-empty string "
                                 f"(account {self.account_id if name != 'account_id' else '?'})")
        register_secret(self.client_secret)
        register_secret(self.refresh_token)
        site_id_for(self.marketplace_id)        # unknown marketplace -> ValueError now, not mid-run
        url = self.api_base_url.strip().rstrip("/")
        parts = urlsplit(url)
        if (parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc
                or parts.query or parts.fragment):
            # The value is not echoed: a URL with user:password@ in it would leak.
            raise ValueError(f"api_base_url of account {self.account_id} must be an http(s) URL "
                             "like https://api.ebay.com, without credentials, query or fragment")
        object.__setattr__(self, "api_base_url", url)
        scopes = (self.scopes.split() if isinstance(self.scopes, str) else tuple(self.scopes))
        if not scopes or not all(isinstance(s, str) and s and not any(c.isspace() for c in s) for s in scopes):
            raise ValueError(f"scopes of account {self.account_id} must be non-empty strings without spaces")
        object.__setattr__(self, "scopes", tuple(scopes))

    def __repr__(self) -> str:
        return (f"AccountConfig(account_id={self.account_id!r}, marketplace_id={self.marketplace_id!r}, "
                f"client_id={self.client_id!r}, client_secret='***', refresh_token='***', "
                f"api_base_url={self.api_base_url!r}, scopes={self.scopes!r})")

    __str__ = __repr__

    @property
    def site_id(self) -> str:
        return site_id_for(self.marketplace_id)

    @property
    def trading_url(self) -> str:
        return self.api_base_url + settings.TRADING_PATH

    @property
    def token_url(self) -> str:
        return self.api_base_url + settings.OAUTH_TOKEN_PATH

    @property
    def traffic_report_url(self) -> str:
        return self.api_base_url + settings.TRAFFIC_REPORT_PATH


class EbayClient:
    """Typed access to eBay for one account.  See the module docstring."""

    def __init__(
        self,
        account: AccountConfig,
        *,
        timeout: tuple[float, float] = (settings.CONNECT_TIMEOUT_S, settings.READ_TIMEOUT_S),
        max_retries: int = settings.MAX_TRANSIENT_RETRIES,
        backoff_base: float = settings.BACKOFF_BASE_S,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        backoff_max: float = settings.BACKOFF_MAX_S,
        rng: random.Random | None = None,
        max_response_bytes: int = settings.MAX_RESPONSE_BYTES,
    ) -> None:
        if not isinstance(account, AccountConfig):
            raise TypeError("account must be an AccountConfig")
        self.account = account
        self._site_id = account.site_id
        self._secrets = SecretRegistry([account.client_secret, account.refresh_token])
        self._transport = Transport(
            session=session, timeout=timeout, max_retries=max_retries, backoff_base=backoff_base,
            backoff_max=backoff_max, sleep=sleep, rng=rng, max_response_bytes=max_response_bytes,
            secrets=self._secrets,
        )
        self._tokens = TokenProvider(
            transport=self._transport, token_url=account.token_url, account_id=account.account_id,
            client_id=account.client_id, client_secret=account.client_secret,
            refresh_token=account.refresh_token, scopes=account.scopes,
        )

    def __repr__(self) -> str:
        return f"EbayClient(account_id={self.account.account_id!r}, api_base_url={self.account.api_base_url!r})"

    # -- bookkeeping -----------------------------------------------------------
    @property
    def calls(self) -> collections.Counter[str]:
        """HTTP attempts by call name (``GetMyeBaySelling``, ``GetItem``, ``TrafficReport``,
        ``OAuthToken``), retries included.  A snapshot: read it again for new numbers."""
        return self._transport.calls

    @property
    def application(self) -> str:
        """The eBay application (client id) whose daily Trading quota these calls spend."""
        return self.account.client_id

    @property
    def session(self) -> requests.Session:
        return self._transport.session

    def close(self) -> None:
        """Close the HTTP session (only if the client created it)."""
        self._transport.close()

    def __enter__(self) -> EbayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def verify_credentials(self) -> None:
        """Obtain an access token (one ``OAuthToken`` call unless cached); raises on bad credentials."""
        self._tokens.get_token()

    def _ctx(self, call: str, *, page: int | None = None, subject: str | None = None) -> CallContext:
        return CallContext(call, self.account.account_id, page=page, subject=subject,
                           redact=self._secrets.redact)

    # -- Trading API -------------------------------------------------------------
    def _trading(self, ctx: CallContext, call: str, body: bytes, parse: Callable[[dict, list[str]], object]):
        def attempt(token: str | None):
            assert token is not None
            raw = self._transport.send(ctx, "POST", self.account.trading_url,
                                       headers=trading.headers(call, self._site_id, token), data=body)
            content, warnings = trading.parse_response(raw, call, ctx)
            return parse(content, warnings)      # inside the attempt: a malformed page is retried too

        return self._transport.run(ctx, attempt, tokens=self._tokens)

    def get_my_ebay_selling(self, page: int, entries_per_page: int = settings.MAX_ENTRIES_PER_PAGE,
                            sort: str = settings.DEFAULT_SORT) -> SellingPage:
        """One page of the active selling list (``ActiveList``), items parsed one by one.

        Returns what eBay answered, also for a page past the end (empty, or the last
        page again): check ``SellingPage.past_end``.
        """
        body = trading.get_my_ebay_selling_request(page, entries_per_page, sort)   # ValueError before any HTTP
        ctx = self._ctx(trading.GET_MY_EBAY_SELLING, page=page)
        return self._trading(
            ctx, trading.GET_MY_EBAY_SELLING, body,
            lambda content, warnings: trading.parse_selling_page(content, page, entries_per_page, ctx, warnings),
        )

    def get_item(self, item_id: str) -> ItemDetails:
        """``GetItem`` with watch count.  ``ItemNotFound`` for code 17; ``BadItemError`` if invalid."""
        body = trading.get_item_request(item_id)
        ctx = self._ctx(trading.GET_ITEM, subject=f"item {item_id}")

        def parse(content: dict, warnings: list[str]) -> ItemDetails:
            details = trading.parse_item_details(trading.get_item_node(content, item_id, ctx))
            if isinstance(details, BadItem):
                raise ctx.error(BadItemError, f"item fails validation ({details.error_class}: {details.message})",
                                bad_item=details)
            return details

        return self._trading(ctx, trading.GET_ITEM, body, parse)

    def get_seller_list(self, end_from: datetime, end_to: datetime, page: int,
                        entries_per_page: int = settings.MAX_ENTRIES_PER_PAGE) -> SellerListPage:
        """One page of ``GetSellerList`` (full items, watch counts) for an EndTime window.

        200 listings' GetItem details in one Trading call: what makes a first sync of
        an account cost pages, not listings (docs/SYNC.md).
        """
        body = trading.get_seller_list_request(end_from, end_to, page, entries_per_page)
        ctx = self._ctx(trading.GET_SELLER_LIST, page=page)
        return self._trading(
            ctx, trading.GET_SELLER_LIST, body,
            lambda content, warnings: trading.parse_seller_list_page(content, page, entries_per_page, ctx,
                                                                     warnings),
        )

    # -- Sell Analytics ------------------------------------------------------------
    def traffic_report(self, listing_ids: Sequence[str], start: date, end: date) -> TrafficReport:
        """Traffic metrics of ≤ 200 listings over ``[start..end]`` (ask one day: totals are per range)."""
        query = analytics.build_query(self.account.marketplace_id, listing_ids, start, end)
        ids = analytics.validate_listing_ids(listing_ids)
        subject = f"{start:%Y-%m-%d}" if start == end else f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"
        ctx = self._ctx(analytics.CALL_NAME, subject=subject)
        url = f"{self.account.traffic_report_url}?{query}"

        def attempt(token: str | None) -> TrafficReport:
            assert token is not None
            raw = self._transport.send(ctx, "GET", url,
                                       headers=analytics.request_headers(token, self.account.marketplace_id))
            analytics.check_status(raw, ctx)
            return analytics.parse_report(raw, ctx, start=start, end=end, requested_ids=ids)

        return self._transport.run(ctx, attempt, tokens=self._tokens)


def iter_selling_pages(client: EbayClient, entries_per_page: int = settings.MAX_ENTRIES_PER_PAGE,
                       *, sort: str = settings.DEFAULT_SORT) -> Iterator[SellingPage]:
    """Yield pages ``1..TotalNumberOfPages`` (as page 1 reported it), each item once.

    * Never loops forever: the page count is fixed by page 1 and capped at eBay's
      25,000-entry ActiveList limit.
    * Never yields an item twice: listings that start or end during the walk shift
      items between pages, so ids already yielded are dropped (only ids are kept:
      ≤ 25,000 short strings).
    * Stops early when a page comes back empty past the end the list now reports
      (the list shrank while we were walking it).
    """
    first = client.get_my_ebay_selling(1, entries_per_page, sort)
    total = first.pagination.total_pages
    cap = math.ceil(settings.MAX_ACTIVE_LIST_ENTRIES / entries_per_page)
    if total > cap:
        log.warning("%s reports %d pages; eBay serves at most %d pages of %d",
                    client.account.account_id, total, cap, entries_per_page)
        total = cap
    seen: set[str] = set()
    page, number = first, 1
    while True:
        yield _drop_seen(page, seen)
        number += 1
        if number > total:
            return
        page = client.get_my_ebay_selling(number, entries_per_page, sort)
        if page.past_end and not page.items and not page.bad_items:
            log.info("%s page %d: empty and past the end (%d pages now); stopping",
                     client.account.account_id, number, page.pagination.total_pages)
            return


def _drop_seen(page: SellingPage, seen: set[str]) -> SellingPage:
    fresh = []
    for item in page.items:
        if item.item_id not in seen:
            seen.add(item.item_id)
            fresh.append(item)
    dropped = len(page.items) - len(fresh)
    if not dropped:
        return page
    return replace(page, items=fresh,
                   warnings=[*page.warnings, f"{dropped} item(s) already seen on an earlier page dropped"])


__all__ = ["AccountConfig", "EbayClient", "iter_selling_pages", "site_id_for"]

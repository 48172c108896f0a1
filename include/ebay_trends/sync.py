"""Page-at-a-time sync of a seller's active listings into the warehouse.

Usable without Airflow (the DAG, the CLI and the tests all call these):

    plan_pages(account, client)                 -> page descriptors (one call)
    sync_page(account, page, day, options, ...) -> tiny summary; one page, bounded memory
    reconcile_account(...)                      -> page 0: repairs page drift, confirms ends
    finalise_account(...)                       -> marks ended listings when every page succeeded

Memory: a page task holds one GetMyeBaySelling page (<= 200 small records) plus the
GetItem (or one GetSellerList page of) answers for that page, nothing else; rows go to PostgreSQL in transactions of
``batch_size`` items through SQLAlchemy Core (no ORM identity map, no caches).

Design notes (page drift, transactions, traffic lag, call budget): docs/SYNC.md.
"""
from __future__ import annotations

import logging
import math
import re
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Engine

from include.ebay_trends import budget
from include.ebay_trends.errors import (
    AuthRevoked,
    BadItemError,
    CallBudgetExhausted,
    CallLimitReached,
    EbayError,
    ItemNotFound,
    TransientError,
)
from include.ebay_trends.records import (
    BadItem,
    ItemDetails,
    SellerListPage,
    SellingItem,
    SellingPage,
    TrafficReport,
)
from include.ebay_trends.settings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DAILY_CALL_BUDGET,
    DEFAULT_GETITEM_CONCURRENCY,
    DEFAULT_SORT,
    MAX_ACTIVE_LIST_ENTRIES,
    MAX_ENTRIES_PER_PAGE,
    RAW_EXCERPT_MAX_BYTES,
    TRAFFIC_LOOKBACK_DAYS,
    TRAFFIC_MAX_LISTING_IDS,
)
from include.ebay_trends.warehouse import (
    ITEM_ERRORS_CONFLICT,
    accounts,
    listing_details,
    item_errors,
    listing_snapshots,
    listings,
    sync_pages,
)

log = logging.getLogger(__name__)

RECONCILE_PAGE = 0
ITEM_DETAILS_MODES = ("new", "all", "none")
# Where a page's missing details come from (decided per account by plan_pages).
DETAILS_GETITEM = "getitem"            # one GetItem per listing lacking details
DETAILS_SELLER_LIST = "seller_list"    # one GetSellerList page (200 full items) per page
# GetSellerList EndTime window: starts a day before eBay's "now" (nothing active is
# missed at the boundary) and stays inside eBay's 120-day limit; no active listing
# ends more than 30 days ahead (GTC renews every 30 days).
SELLER_LIST_LOOKBEHIND = timedelta(days=1)
SELLER_LIST_SPAN = timedelta(days=119)
# Errors after which no further call of this page can succeed: stop the page.
_PAGE_FATAL = (AuthRevoked, CallLimitReached, CallBudgetExhausted)


# --------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class AccountRef:
    """Which seller to sync.  Only ``account_id`` is used by the sync itself."""

    account_id: str
    marketplace_id: str = "EBAY_US"
    conn_id: str | None = None


@dataclass(frozen=True)
class SyncOptions:
    item_details: str = "new"          # new | all | none (see docs/SYNC.md)
    batch_size: int = DEFAULT_BATCH_SIZE
    entries_per_page: int = MAX_ENTRIES_PER_PAGE
    getitem_concurrency: int = DEFAULT_GETITEM_CONCURRENCY
    dry_run: bool = False
    full_resync: bool = False          # GetItem for every listing (refresh category/status/end)
    daily_call_budget: int = DEFAULT_DAILY_CALL_BUDGET
    traffic: bool = True
    bulk_details: bool = True          # GetSellerList when it costs fewer calls than GetItem

    def __post_init__(self) -> None:
        if self.item_details not in ITEM_DETAILS_MODES:
            raise ValueError(f"item_details must be one of {ITEM_DETAILS_MODES}, got {self.item_details!r}")
        if not 1 <= self.entries_per_page <= MAX_ENTRIES_PER_PAGE:
            raise ValueError(f"entries_per_page must be 1..{MAX_ENTRIES_PER_PAGE}")
        if self.batch_size < 1 or self.getitem_concurrency < 1 or self.daily_call_budget < 0:
            raise ValueError("batch_size and getitem_concurrency must be >= 1, daily_call_budget >= 0")

    @property
    def details_for_all(self) -> bool:
        return self.item_details == "all" or (self.full_resync and self.item_details != "none")


def _account_id(account: AccountRef | str | Mapping[str, Any]) -> str:
    if isinstance(account, str):
        return account
    if isinstance(account, Mapping):
        return str(account.get("account_id") or account["account"])
    return str(account.account_id)


def _application(client) -> str:
    """The eBay application (client id) whose daily quota the calls spend."""
    app = getattr(client, "application", None)
    if not app:
        app = getattr(getattr(client, "account", None), "client_id", None)
    if not app:
        raise ValueError("client exposes no application / client id; cannot account for calls")
    return str(app)


# --------------------------------------------------------------------------- small helpers
def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux: the process's peak, which is what the OOM killer sees.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _calls_delta(before: Mapping[str, int], client) -> dict[str, int]:
    after = Counter(dict(client.calls))
    return {k: after[k] - before.get(k, 0) for k in sorted(after) if after[k] - before.get(k, 0) > 0}


def _trading(calls: Mapping[str, int]) -> int:
    return sum(n for k, n in calls.items() if k in budget.TRADING_CALLS)


_SECRETISH = re.compile(
    r"(?i)(bearer\s+|basic\s+|access_token[\"'=:\s]+|refresh_token[\"'=:\s]+|client_secret[\"'=:\s]+|"
    r"x-ebay-api-iaf-token[\"'=:\s]+|authorization[\"'=:\s]+|<eBayAuthToken>)([^\s\"'<&,]+)"
)
_EMU_TOKEN = re.compile(r"v\^1\.1#[^\s\"'<]+|emu-(?:refresh|access)-[A-Za-z0-9_.\-]+")


def redact(text: str) -> str:
    """Best-effort scrub of anything token-shaped; the client already never puts secrets
    in messages, this is the second line of defence before text reaches a table."""
    text = _SECRETISH.sub(lambda m: m.group(1) + "***", text)
    return _EMU_TOKEN.sub("***", text)


def _excerpt(text: str | None, limit: int = RAW_EXCERPT_MAX_BYTES) -> str | None:
    if text is None:
        return None
    raw = redact(text).encode("utf-8")
    if len(raw) <= limit:
        return raw.decode("utf-8")
    return raw[:limit].decode("utf-8", errors="ignore")


def _error_summary(exc: BaseException) -> str:
    return _excerpt(f"{type(exc).__name__}: {exc}", 1000) or type(exc).__name__


def _chunks(seq: Sequence, n: int) -> Iterator[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _items_on_page(page: Mapping[str, Any]) -> int:
    epp = int(page.get("entries_per_page") or MAX_ENTRIES_PER_PAGE)
    entries = page.get("entries")
    if entries is None:
        return epp
    return max(0, min(epp, int(entries) - (int(page["page"]) - 1) * epp))


# --------------------------------------------------------------------------- planning
def plan_pages(account: AccountRef | str, client, *, entries_per_page: int = MAX_ENTRIES_PER_PAGE,
               engine: Engine | None = None, options: SyncOptions | None = None) -> list[dict]:
    """Page descriptors from page 1's PaginationResult (exactly one call).

    ``engine`` is optional: when given, the planning call is recorded in
    ``ebay.api_calls`` and the details source is chosen (needs the warehouse): when
    more of the account's listings lack details than there are pages -- a first sync,
    a full resync -- every page also fetches one GetSellerList page (200 full items a
    call) instead of one GetItem per listing.  The window is fixed here, from eBay's
    clock, so every page and every retry of this run asks the same question.
    """
    acct = _account_id(account)
    before = Counter(dict(client.calls))
    try:
        first = client.get_my_ebay_selling(1, entries_per_page, sort=DEFAULT_SORT)
    finally:
        if engine is not None:
            budget.record_calls(engine, _application(client), acct, _calls_delta(before, client))
    total = int(first.pagination.total_entries)
    if total <= 0:
        return []
    # eBay caps the ActiveList; trust its page count but never beyond the cap.
    pages = max(int(first.pagination.total_pages), math.ceil(min(total, MAX_ACTIVE_LIST_ENTRIES) / entries_per_page))
    pages = min(pages, math.ceil(MAX_ACTIVE_LIST_ENTRIES / entries_per_page))
    extra: dict[str, Any] = {}
    if engine is not None and _bulk_details_pays(engine, acct, total, pages, options):
        start = (first.timestamp or datetime.now(timezone.utc)) - SELLER_LIST_LOOKBEHIND
        start = start.astimezone(timezone.utc).replace(microsecond=0)
        extra = {"details": DETAILS_SELLER_LIST,
                 "seller_list_window": [start.isoformat(), (start + SELLER_LIST_SPAN).isoformat()]}
    return [
        {"account": acct, "page": n, "pages": pages, "entries": total, "entries_per_page": entries_per_page,
         **extra}
        for n in range(1, pages + 1)
    ]


def _active_with_details(engine: Engine, acct: str) -> int:
    """The account's active listings the warehouse already has details for."""
    with engine.connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(listings).where(
                listings.c.account_id == acct, listings.c.ended_date.is_(None),
                listings.c.details_fetched_at.is_not(None))
        ).scalar_one())


def _bulk_details_pays(engine: Engine, acct: str, total: int, pages: int, options: SyncOptions | None) -> bool:
    """True when GetSellerList (1 call per page) beats GetItem (1 call per listing lacking details)."""
    options = options or SyncOptions()
    if not options.bulk_details or options.dry_run or options.item_details == "none":
        return False
    if options.details_for_all:
        return total > pages
    known = _active_with_details(engine, acct)
    return max(0, total - int(known)) > pages


# --------------------------------------------------------------------------- row building
def _quantity_available(quantity: int | None, sold: int | None, available: int | None) -> int | None:
    if available is not None:
        return available
    if quantity is not None and sold is not None:
        return max(0, quantity - sold)          # eBay's Quantity = available + sold
    return None


def _rows_from_selling(acct: str, it: SellingItem, det: ItemDetails | None, day: date, run_id: str,
                       fetched_at: datetime | None) -> tuple[dict, dict]:
    """Listing + snapshot rows.  The daily numbers always come from the selling list
    (fetched every day) so a rerun without GetItem writes the same values; GetItem
    only adds what the list lacks (category, status, end time, HitCount)."""
    qty = it.quantity if it.quantity is not None else (det.quantity if det else None)
    qa = _quantity_available(qty, it.quantity_sold, it.quantity_available)
    listing = {
        "account_id": acct, "item_id": it.item_id, "title": it.title, "sku": it.sku,
        "category_id": det.category_id if det else None,
        "category_name": det.category_name if det else None,
        "listing_type": it.listing_type,
        # It is in today's active list: Active, unless GetItem said something more precise.
        "listing_status": (det.listing_status if det and det.listing_status else "Active"),
        "currency": it.currency, "current_price": it.price, "quantity": qty,
        "quantity_available": qa, "quantity_sold": it.quantity_sold,
        "watch_count": it.watch_count, "bid_count": it.bid_count,
        "gallery_url": it.gallery_url or (det.gallery_url if det else None),
        "view_item_url": it.view_item_url or (det.view_item_url if det else None),
        "start_time": it.start_time or (det.start_time if det else None),
        "end_time": det.end_time if det else None,
        "details_fetched_at": fetched_at if det else None,
        "first_seen_date": day, "last_seen_date": day,
    }
    snapshot = {
        "account_id": acct, "item_id": it.item_id, "snapshot_date": day, "currency": it.currency,
        "price": it.price, "quantity_available": qa, "quantity_sold": it.quantity_sold,
        "watch_count": it.watch_count, "bid_count": it.bid_count,
        "hit_count": det.hit_count if det else None, "run_id": run_id,
    }
    return listing, snapshot


def _rows_from_details(acct: str, d: ItemDetails, day: date, run_id: str,
                       fetched_at: datetime) -> tuple[dict, dict]:
    """Rows for an active listing the pages missed (found by reconcile's GetItem)."""
    qa = _quantity_available(d.quantity, d.quantity_sold, None)
    listing = {
        "account_id": acct, "item_id": d.item_id, "title": d.title, "sku": d.sku,
        "category_id": d.category_id, "category_name": d.category_name,
        "listing_type": d.listing_type, "listing_status": d.listing_status or "Active",
        "currency": d.currency, "current_price": d.price, "quantity": d.quantity,
        "quantity_available": qa, "quantity_sold": d.quantity_sold,
        "watch_count": d.watch_count, "bid_count": d.bid_count,
        "gallery_url": d.gallery_url, "view_item_url": d.view_item_url,
        "start_time": d.start_time, "end_time": d.end_time, "details_fetched_at": fetched_at,
        "first_seen_date": day, "last_seen_date": day,
    }
    snapshot = {
        "account_id": acct, "item_id": d.item_id, "snapshot_date": day, "currency": d.currency,
        "price": d.price, "quantity_available": qa, "quantity_sold": d.quantity_sold,
        "watch_count": d.watch_count, "bid_count": d.bid_count, "hit_count": d.hit_count,
        "run_id": run_id,
    }
    return listing, snapshot


# --------------------------------------------------------------------------- upserts
# Values that describe the listing "now": only a write for a day >= the stored
# last_seen_date may replace them (a backfill of an older day must not roll them back).
_CURRENT_COLS = ("title", "sku", "listing_type", "listing_status", "currency", "current_price",
                 "quantity", "quantity_available", "quantity_sold", "watch_count", "bid_count",
                 "gallery_url", "view_item_url", "start_time")
# Only GetItem knows these: a write without details keeps what is stored.
_DETAIL_COLS = ("category_id", "category_name", "end_time")


def _listing_upsert():
    stmt = pg.insert(listings)
    ex = stmt.excluded
    newer = ex.last_seen_date >= listings.c.last_seen_date
    set_: dict[str, Any] = {
        c: sa.case((newer, ex[c]), else_=listings.c[c]) for c in _CURRENT_COLS
    }
    for c in _DETAIL_COLS:
        set_[c] = sa.case((newer, sa.func.coalesce(ex[c], listings.c[c])), else_=listings.c[c])
    set_["details_fetched_at"] = sa.func.greatest(ex.details_fetched_at, listings.c.details_fetched_at)
    set_["first_seen_date"] = sa.func.least(ex.first_seen_date, listings.c.first_seen_date)
    set_["last_seen_date"] = sa.func.greatest(ex.last_seen_date, listings.c.last_seen_date)
    # Seen again on/after the day it was marked ended: it is active after all.
    set_["ended_date"] = sa.case(
        (sa.and_(listings.c.ended_date.is_not(None), ex.last_seen_date >= listings.c.ended_date), sa.null()),
        else_=listings.c.ended_date,
    )
    set_["updated_at"] = sa.func.now()
    return stmt.on_conflict_do_update(index_elements=[listings.c.account_id, listings.c.item_id], set_=set_)


def _snapshot_upsert():
    stmt = pg.insert(listing_snapshots)
    ex = stmt.excluded
    set_: dict[str, Any] = {
        c: ex[c] for c in ("currency", "price", "quantity_available", "quantity_sold", "watch_count",
                           "bid_count", "run_id")
    }
    set_["hit_count"] = sa.func.coalesce(ex.hit_count, listing_snapshots.c.hit_count)
    set_["synced_at"] = sa.func.now()
    # traffic columns are untouched: they are filled by later runs' traffic pass.
    return stmt.on_conflict_do_update(
        index_elements=[listing_snapshots.c.account_id, listing_snapshots.c.item_id,
                        listing_snapshots.c.snapshot_date],
        set_=set_,
    )


def _write_rows(engine: Engine, pairs: Sequence[tuple[dict, dict]], batch_size: int) -> int:
    """Upsert listing + snapshot rows, one transaction per ``batch_size`` items."""
    written = 0
    lst_stmt, snap_stmt = _listing_upsert(), _snapshot_upsert()
    for chunk in _chunks(pairs, batch_size):
        with engine.begin() as conn:
            conn.execute(lst_stmt, [p[0] for p in chunk])
            conn.execute(snap_stmt, [p[1] for p in chunk])
        written += len(chunk)
    return written


@dataclass
class _ErrorRow:
    item_id: str | None
    error_class: str
    message: str
    raw_excerpt: str | None = None


def _record_item_errors(engine: Engine, *, run_id: str, acct: str, page: int, day: date,
                        errors: Sequence[_ErrorRow], batch_size: int) -> None:
    if not errors:
        return
    stmt = pg.insert(item_errors)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(ITEM_ERRORS_CONFLICT),
        set_={"message": stmt.excluded.message, "raw_excerpt": stmt.excluded.raw_excerpt,
              "snapshot_date": stmt.excluded.snapshot_date},
    )
    # One row per (item, class) even if an item failed twice within the page.
    uniq = {(e.item_id or "", e.error_class): e for e in errors}
    rows = [
        {"run_id": run_id, "account_id": acct, "page": page, "snapshot_date": day,
         "item_id": e.item_id, "error_class": e.error_class,
         "message": _excerpt(e.message, 1000) or e.error_class, "raw_excerpt": _excerpt(e.raw_excerpt)}
        for e in uniq.values()
    ]
    for chunk in _chunks(rows, batch_size):
        with engine.begin() as conn:
            conn.execute(stmt, list(chunk))


def _bad_item_error(b: BadItem) -> _ErrorRow:
    return _ErrorRow(b.item_id, b.error_class, b.message, b.raw_excerpt)


# --------------------------------------------------------------------------- sync_pages rows
def _start_page_row(engine: Engine, *, run_id: str, acct: str, page: int, day: date,
                    pages: int | None, attempt: int) -> None:
    with engine.begin() as conn:
        known = conn.execute(sa.select(accounts.c.account_id).where(accounts.c.account_id == acct)).first()
        if known is None:
            raise LookupError(f"account {acct!r} is not registered in ebay.accounts (cli: accounts add)")
        stmt = pg.insert(sync_pages).values(
            run_id=run_id, account_id=acct, page=page, snapshot_date=day, pages=pages, status="running",
            attempt=attempt, items_seen=0, items_written=0, items_failed=0, details_deferred=0,
            traffic_rows=0, api_calls={},
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[sync_pages.c.run_id, sync_pages.c.account_id, sync_pages.c.page],
            set_={"snapshot_date": day, "pages": pages, "status": "running", "attempt": attempt,
                  "items_seen": 0, "items_written": 0, "items_failed": 0, "details_deferred": 0,
                  "traffic_rows": 0, "api_calls": {}, "duration_s": None, "peak_rss_mb": None,
                  "error_summary": None, "first_item_id": None, "last_item_id": None,
                  "started_at": sa.func.now(), "finished_at": None},
        )
        conn.execute(stmt)


def _finish_page_row(engine: Engine, *, run_id: str, acct: str, page: int, status: str,
                     stats: _PageStats, calls: Mapping[str, int], duration_s: float, rss_mb: float,
                     error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(sync_pages)
            .where(sync_pages.c.run_id == run_id, sync_pages.c.account_id == acct, sync_pages.c.page == page)
            .values(status=status, items_seen=stats.seen, items_written=stats.written,
                    items_failed=stats.failed, details_deferred=stats.deferred,
                    traffic_rows=stats.traffic_rows, api_calls=dict(calls),
                    duration_s=round(duration_s, 3), peak_rss_mb=rss_mb, error_summary=error,
                    first_item_id=stats.first_item_id, last_item_id=stats.last_item_id,
                    finished_at=sa.func.now())
        )


@dataclass
class _PageStats:
    seen: int = 0
    written: int = 0
    failed: int = 0
    deferred: int = 0
    traffic_rows: int = 0
    first_item_id: str | None = None
    last_item_id: str | None = None
    extra: dict | None = None
    pending_details: int = 0           # bulk run: details left to the staged merge


class _PageRun:
    """Bookkeeping shared by sync_page and reconcile_account: the sync_pages row, the
    call delta recorded into api_calls in ``finally`` (also on failure), timing, RSS."""

    def __init__(self, *, engine: Engine, client, acct: str, page: int, day: date, pages: int | None,
                 run_id: str, attempt: int, dry_run: bool):
        self.engine, self.client, self.acct, self.page = engine, client, acct, page
        self.day, self.pages, self.run_id, self.attempt, self.dry_run = day, pages, run_id, attempt, dry_run
        self.application = _application(client)
        self.stats = _PageStats()
        self.before: Counter[str] = Counter()
        self.t0 = 0.0
        self.calls: dict[str, int] = {}

    def __enter__(self) -> _PageRun:
        self.t0 = time.monotonic()
        self.before = Counter(dict(self.client.calls))
        _start_page_row(self.engine, run_id=self.run_id, acct=self.acct, page=self.page, day=self.day,
                        pages=self.pages, attempt=self.attempt)
        return self

    def trading_spent(self) -> int:
        return _trading(_calls_delta(self.before, self.client))

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.calls = _calls_delta(self.before, self.client)
        duration = time.monotonic() - self.t0
        status = ("dry_run" if self.dry_run else "success") if exc is None else "failed"
        error = _error_summary(exc) if exc is not None else None
        try:
            # Calls are spent whether or not the page succeeded: always count them.
            budget.record_calls(self.engine, self.application, self.acct, self.calls)
        except Exception:  # noqa: BLE001 - never mask the page's own exception
            if exc is None:
                raise
            log.exception("could not record api calls for %s page %s", self.acct, self.page)
        try:
            _finish_page_row(self.engine, run_id=self.run_id, acct=self.acct, page=self.page, status=status,
                             stats=self.stats, calls=self.calls, duration_s=duration,
                             rss_mb=_peak_rss_mb(), error=error)
        except Exception:  # noqa: BLE001
            if exc is None:
                raise
            log.exception("could not record the failed sync_pages row for %s page %s", self.acct, self.page)
        self.duration = duration
        return False

    def summary(self) -> dict:
        out = {
            "account": self.acct, "page": self.page, "pages": self.pages,
            "status": "dry_run" if self.dry_run else "success",
            "items_seen": self.stats.seen, "items_written": self.stats.written,
            "items_failed": self.stats.failed, "details_deferred": self.stats.deferred,
            "traffic_rows": self.stats.traffic_rows, "calls": dict(self.calls),
            "duration_s": round(self.duration, 3), "peak_rss_mb": _peak_rss_mb(),
        }
        if self.stats.extra:
            out.update(self.stats.extra)
        return out


# --------------------------------------------------------------------------- GetItem
def _fetch_details(client, item_ids: Sequence[str], concurrency: int
                   ) -> tuple[dict[str, ItemDetails], list[_ErrorRow], set[str]]:
    """GetItem for ``item_ids`` with at most ``concurrency`` calls in flight.

    Returns (details by id, per-item errors, ids not found).  Per-item failures
    never stop the page; auth/quota errors do (re-raised after in-flight calls end).
    """
    details: dict[str, ItemDetails] = {}
    errs: list[_ErrorRow] = []
    not_found: set[str] = set()
    if not item_ids:
        return details, errs, not_found

    def one(item_id: str):
        try:
            return item_id, client.get_item(item_id), None
        except _PAGE_FATAL:
            raise
        except EbayError as exc:
            return item_id, None, exc

    fatal: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(item_ids))),
                            thread_name_prefix="getitem") as pool:
        futures = [pool.submit(one, i) for i in item_ids]
        for fut in futures:
            try:
                item_id, det, exc = fut.result()
            except BaseException as e:  # noqa: BLE001 - fatal: stop submitting, keep first
                if fatal is None:
                    fatal = e
                    for f in futures:
                        f.cancel()
                continue
            if det is not None:
                details[item_id] = det
            elif isinstance(exc, ItemNotFound):
                not_found.add(item_id)
                errs.append(_ErrorRow(item_id, "ItemNotFound", str(exc)))
            elif isinstance(exc, BadItemError) and exc.bad_item is not None:
                b = exc.bad_item
                errs.append(_ErrorRow(item_id, f"GetItem.{b.error_class}", b.message, b.raw_excerpt))
            else:
                errs.append(_ErrorRow(item_id, type(exc).__name__, f"GetItem failed: {exc}"))
    if fatal is not None:
        raise fatal
    return details, errs, not_found


def _details_known(engine: Engine, acct: str, item_ids: Sequence[str]) -> set[str]:
    """Ids of this page the warehouse already has GetItem details for."""
    if not item_ids:
        return set()
    with engine.connect() as conn:
        return set(conn.execute(
            sa.select(listings.c.item_id).where(
                listings.c.account_id == acct, listings.c.item_id.in_(list(item_ids)),
                listings.c.details_fetched_at.is_not(None))
        ).scalars())


def _estimate_page_cost(engine: Engine, acct: str, page: Mapping[str, Any], options: SyncOptions) -> int:
    """Upper estimate of the page's Trading calls, before fetching it."""
    on_page = _items_on_page(page)
    if options.item_details == "none" or options.dry_run:
        return 1
    if page.get("details") == DETAILS_SELLER_LIST:
        return 2                        # GetMyeBaySelling + GetSellerList; no GetItem
    if options.details_for_all:
        return 1 + on_page
    # "new": the account's listings we have no details for are all that can need GetItem.
    known = _active_with_details(engine, acct)
    entries = page.get("entries")
    unknown = on_page if entries is None else max(0, int(entries) - int(known))
    return 1 + min(on_page, unknown)


# --------------------------------------------------------------------------- GetSellerList
@dataclass(frozen=True, slots=True)
class _Staged:
    """Details of one listing staged from GetSellerList, shaped like what the rows need."""

    category_id: str | None
    category_name: str | None
    listing_status: str | None
    end_time: datetime | None
    hit_count: int | None
    quantity: None = None
    gallery_url: None = None
    view_item_url: None = None
    start_time: None = None


def _window(page: Mapping[str, Any]) -> tuple[datetime, datetime]:
    lo, hi = page["seller_list_window"]
    return datetime.fromisoformat(lo), datetime.fromisoformat(hi)


def _stage_details(run: _PageRun, slp: SellerListPage, day: date, batch_size: int) -> int:
    """Upsert one GetSellerList page's details into ``ebay.listing_details``."""
    if not slp.items:
        return 0
    fetched_at = datetime.now(timezone.utc)
    by_id = {d.item_id: d for d in slp.items}
    rows = [{"account_id": run.acct, "item_id": d.item_id, "category_id": d.category_id,
             "category_name": d.category_name, "listing_status": d.listing_status, "end_time": d.end_time,
             "hit_count": d.hit_count, "fetched_at": fetched_at, "fetched_date": day, "run_id": run.run_id}
            for d in by_id.values()]
    stmt = pg.insert(listing_details)
    stmt = stmt.on_conflict_do_update(
        index_elements=[listing_details.c.account_id, listing_details.c.item_id],
        set_={c: stmt.excluded[c] for c in ("category_id", "category_name", "listing_status", "end_time",
                                            "hit_count", "fetched_at", "fetched_date", "run_id")},
    )
    for chunk in _chunks(rows, batch_size):
        with run.engine.begin() as conn:
            conn.execute(stmt, list(chunk))
    return len(rows)


def _fetch_seller_list(run: _PageRun, page: Mapping[str, Any], day: date, options: SyncOptions,
                       epp: int, errs: list[_ErrorRow]) -> tuple[int, int]:
    """Fetch (and stage) this page's GetSellerList page; the last page also fetches any
    pages beyond the selling list's count.  Returns (listings staged, seller-list pages)."""
    lo, hi = _window(page)
    n, staged, total_pages = int(page["page"]), 0, 0
    last = int(page.get("pages") or n)
    while True:
        slp = run.client.get_seller_list(lo, hi, n, epp)
        errs.extend(_ErrorRow(b.item_id, f"GetSellerList.{b.error_class}", b.message, b.raw_excerpt)
                    for b in slp.bad_items)
        if not options.dry_run:
            staged += _stage_details(run, slp, day, options.batch_size)
        total_pages = slp.pagination.total_pages
        del slp
        n += 1
        if n <= last or n > total_pages:
            return staged, total_pages


def _staged_for(engine: Engine, acct: str, ids: Sequence[str], day: date) -> dict[str, _Staged]:
    """This run day's staged details for ``ids``."""
    if not ids:
        return {}
    d = listing_details.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(d.item_id, d.category_id, d.category_name, d.listing_status, d.end_time, d.hit_count)
            .where(d.account_id == acct, d.item_id.in_(list(ids)), d.fetched_date == day)
        ).all()
    return {r.item_id: _Staged(r.category_id, r.category_name, r.listing_status, r.end_time, r.hit_count)
            for r in rows}


def merge_staged_details(engine: Engine, acct: str, day: date) -> dict[str, int]:
    """Copy this day's staged details into ``ebay.listings`` (and HitCount into today's
    snapshots), where they are newer than what the listing has; drop older staging rows.

    Idempotent; reconcile runs it first (so it only GetItems what nothing staged) and
    finalise again (a page cleared by hand after reconcile).
    """
    d, l, s = listing_details.c, listings.c, listing_snapshots.c
    with engine.begin() as conn:
        merged = conn.execute(
            sa.update(listings)
            .where(l.account_id == d.account_id, l.item_id == d.item_id, d.account_id == acct,
                   d.fetched_date == day,
                   sa.or_(l.details_fetched_at.is_(None), l.details_fetched_at < d.fetched_at))
            .values(category_id=sa.func.coalesce(d.category_id, l.category_id),
                    category_name=sa.func.coalesce(d.category_name, l.category_name),
                    end_time=sa.func.coalesce(d.end_time, l.end_time),
                    details_fetched_at=d.fetched_at, updated_at=sa.func.now())
        ).rowcount or 0
        hits = conn.execute(
            sa.update(listing_snapshots)
            .where(s.account_id == d.account_id, s.item_id == d.item_id, d.account_id == acct,
                   d.fetched_date == day, s.snapshot_date == day, s.hit_count.is_(None),
                   d.hit_count.is_not(None))
            .values(hit_count=d.hit_count)
        ).rowcount or 0
        dropped = conn.execute(
            sa.delete(listing_details).where(d.account_id == acct, d.fetched_date < day)
        ).rowcount or 0
        pending = conn.execute(
            sa.select(sa.func.count()).select_from(listings).where(
                l.account_id == acct, l.last_seen_date == day, l.ended_date.is_(None),
                l.details_fetched_at.is_(None))
        ).scalar_one()
    out = {"merged": int(merged), "hit_counts": int(hits), "dropped_old": int(dropped),
           "still_without_details": int(pending)}
    log.info("%s: staged details merged for %s: %s", acct, day, out)
    return out


# --------------------------------------------------------------------------- traffic
def _traffic_holes(engine: Engine, acct: str, item_ids: Sequence[str], day: date) -> list[date]:
    """Days in the lookback window (newest first) where these listings have a snapshot
    row still waiting for traffic numbers.  Usually just yesterday; empty on day one."""
    lo, hi = day - timedelta(days=TRAFFIC_LOOKBACK_DAYS), day - timedelta(days=1)
    s = listing_snapshots.c
    with engine.connect() as conn:
        return list(conn.execute(
            sa.select(s.snapshot_date).distinct()
            .where(s.account_id == acct, s.item_id.in_(list(item_ids)), s.snapshot_date.between(lo, hi),
                   s.traffic_date.is_(None))
            .order_by(s.snapshot_date.desc())
        ).scalars())


def _apply_traffic(engine: Engine, acct: str, report: TrafficReport, day: date, item_ids: Sequence[str]) -> int:
    """Store one complete day's numbers into that day's existing snapshot rows.

    Every requested listing's row of ``day`` gets ``traffic_date = day`` -- with NULL
    metrics when the report had no record for it -- so a reported day is never asked
    again.  Returns the number of rows updated.
    """
    by_id = {r.listing_id: r for r in report.rows}
    rows = []
    for i in item_ids:
        r = by_id.get(i)
        rows.append({"a": acct, "i": i, "d": day,
                     "views": r.views if r else None, "impressions": r.impressions if r else None,
                     "ctr": r.click_through_rate if r else None, "cr": r.conversion_rate if r else None,
                     "tx": r.transactions if r else None})
    s = listing_snapshots.c
    stmt = (
        sa.update(listing_snapshots)
        .where(s.account_id == sa.bindparam("a"), s.item_id == sa.bindparam("i"),
               s.snapshot_date == sa.bindparam("d"))
        .values(views=sa.bindparam("views"), impressions=sa.bindparam("impressions"),
                click_through_rate=sa.bindparam("ctr"), conversion_rate=sa.bindparam("cr"),
                transactions=sa.bindparam("tx"), traffic_date=sa.bindparam("d"))
    )
    # <= 200 primary-key UPDATEs of one page: one small transaction.
    with engine.begin() as conn:
        return int(conn.execute(stmt, rows).rowcount or 0)


def _traffic_pass(engine: Engine, client, acct: str, item_ids: Sequence[str], day: date
                  ) -> tuple[int, _ErrorRow | None]:
    """Fill earlier days' views of these listings from the traffic report.

    The report lags (about a day) and, with ``dimension=LISTING``, sums its date
    range, so each call asks for exactly one day.  In steady state that is one call
    per page, for yesterday; older days are asked only while their rows are still
    empty (a run missed them because of a longer lag), and never beyond the day the
    first answer says is complete.  Partial days are never stored.
    """
    updated = 0
    if not item_ids:
        return updated, None
    complete: date | None = None
    for d in _traffic_holes(engine, acct, item_ids, day):
        if complete is not None and d > complete:
            continue
        for ids in _chunks(list(item_ids), TRAFFIC_MAX_LISTING_IDS):
            try:
                report = client.traffic_report(list(ids), d, d)
            except _PAGE_FATAL:
                raise
            except EbayError as exc:
                # Views are secondary: the page's listing data is kept and the empty days
                # are asked again by the next run (they stay in the lookback window).
                return updated, _ErrorRow(None, f"TrafficReport.{type(exc).__name__}", str(exc))
            c = report.complete_through()
            complete = c if complete is None or (c is not None and c < complete) else complete
            if c is None or c < d:
                log.info("%s: traffic for %s not complete yet (complete through %s); left NULL", acct, d, c)
                break
            updated += _apply_traffic(engine, acct, report, d, ids)
    return updated, None


# --------------------------------------------------------------------------- the page
def _process_items(run: _PageRun, items: Sequence[SellingItem], bad: Sequence[BadItem], day: date,
                   options: SyncOptions, *, traffic: bool, record_bad: bool = True,
                   getitem_unstaged: bool = True, errs_in: Sequence[_ErrorRow] = ()) -> list[str]:
    """Enrich, write and (optionally) traffic one fetched page.  Returns written ids.

    ``record_bad=False`` when re-reading a page already synced in this run: its bad
    items are in ``item_errors`` under their own page already.  Details staged today
    from GetSellerList are used first; ``getitem_unstaged=False`` (a page of a bulk
    run, whose other GetSellerList pages may not have run yet) leaves the rest to the
    merge in reconcile/finalise instead of calling GetItem.
    """
    engine, client, acct = run.engine, run.client, run.acct
    # One row per item id even if eBay repeated one inside a page (ON CONFLICT can't hit a row twice).
    by_id: dict[str, SellingItem] = {}
    for it in items:
        by_id[it.item_id] = it
    ids = list(by_id)
    run.stats.seen += len(ids) + len(bad)
    if ids:
        run.stats.first_item_id = run.stats.first_item_id or ids[0]
        run.stats.last_item_id = ids[-1]
    errs: list[_ErrorRow] = [_bad_item_error(b) for b in bad] if record_bad else []
    errs.extend(errs_in)

    # --- which items need GetItem (a dry run spends no quota on details it would not store)
    if options.item_details == "none" or options.dry_run:
        need: list[str] = []
    elif options.details_for_all:
        need = ids
    else:
        known = _details_known(engine, acct, ids)
        need = [i for i in ids if i not in known]
    staged = _staged_for(engine, acct, need, day) if need else {}
    if staged:
        need = [i for i in need if i not in staged]
    if need and not getitem_unstaged:
        run.stats.pending_details += len(need)
        need = []
    # Post-fetch budget check, now that the real need is known: defer what does not fit
    # (those rows keep details_fetched_at NULL, so the next run enriches them).
    if need:
        left = budget.remaining(engine, run.application, options.daily_call_budget) - run.trading_spent()
        allowed = max(0, left)
        if len(need) > allowed:
            run.stats.deferred += len(need) - allowed
            log.warning("%s page %s: %d GetItem calls deferred to stay within the daily budget",
                        acct, run.page, len(need) - allowed)
            need = need[:allowed]
    fetched, item_errs, not_found = _fetch_details(client, need, options.getitem_concurrency)
    details: dict[str, ItemDetails | _Staged] = {**staged, **fetched}
    errs.extend(item_errs)

    # --- write (not-found items are quarantined: recorded, not written)
    fetched_at = datetime.now(timezone.utc)
    pairs = [
        _rows_from_selling(acct, by_id[i], details.get(i), day, run.run_id, fetched_at)
        for i in ids if i not in not_found
    ]
    written_ids = [p[0]["item_id"] for p in pairs]
    run.stats.failed += (len(bad) if record_bad else 0) + len(not_found)
    if options.dry_run:
        return written_ids
    run.stats.written += _write_rows(engine, pairs, options.batch_size)
    del pairs

    # --- traffic numbers for earlier days of these listings
    if traffic and options.traffic:
        n, terr = _traffic_pass(engine, client, acct, written_ids, day)
        run.stats.traffic_rows += n
        if terr is not None:
            errs.append(terr)
    _record_item_errors(engine, run_id=run.run_id, acct=acct, page=run.page, day=day, errors=errs,
                        batch_size=options.batch_size)
    return written_ids


def sync_page(account: AccountRef | str, page: Mapping[str, Any] | int, snapshot_date: date,
              options: SyncOptions | None = None, *, client, engine: Engine, run_id: str,
              attempt: int = 1) -> dict:
    """Sync one GetMyeBaySelling page into the warehouse; return a tiny summary.

    Raises the client's typed error (or ``CallBudgetExhausted``) on a page-level
    failure after marking the ``sync_pages`` row failed; per-item problems go to
    ``ebay.item_errors`` and the page continues.
    """
    options = options or SyncOptions()
    acct = _account_id(account)
    if isinstance(page, int):
        page = {"account": acct, "page": page, "pages": None, "entries": None,
                "entries_per_page": options.entries_per_page}
    page_no = int(page["page"])
    epp = int(page.get("entries_per_page") or options.entries_per_page)
    with _PageRun(engine=engine, client=client, acct=acct, page=page_no, day=snapshot_date,
                  pages=page.get("pages"), run_id=run_id, attempt=attempt, dry_run=options.dry_run) as run:
        estimate = _estimate_page_cost(engine, acct, page, options)
        budget.check_budget(engine, run.application, estimate=estimate,
                            daily_budget=options.daily_call_budget, account=acct, page=page_no)
        bulk = page.get("details") == DETAILS_SELLER_LIST and not options.dry_run
        slerrs: list[_ErrorRow] = []
        if bulk:
            # Both calls in flight at once: the page waits for the slower one, not the sum.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sellerlist") as pool:
                fut = pool.submit(_fetch_seller_list, run, page, snapshot_date, options, epp, slerrs)
                try:
                    sp: SellingPage = client.get_my_ebay_selling(page_no, epp, sort=DEFAULT_SORT)
                except BaseException:
                    fut.cancel()                          # the selling page's error is the one raised
                    raise
                staged, sl_pages = fut.result()           # re-raises a GetSellerList failure
            run.stats.extra = {**(run.stats.extra or {}), "details_staged": staged,
                               "seller_list_pages": sl_pages}
        else:
            sp = client.get_my_ebay_selling(page_no, epp, sort=DEFAULT_SORT)
        _process_items(run, sp.items, sp.bad_items, snapshot_date, options, traffic=True,
                       getitem_unstaged=not bulk, errs_in=slerrs)
        if run.stats.pending_details:
            run.stats.extra = {**(run.stats.extra or {}), "details_pending": run.stats.pending_details}
        del sp
    summary = run.summary()
    log.info("%s page %s/%s: %s", acct, page_no, page.get("pages"), summary)
    return summary


# --------------------------------------------------------------------------- reconcile
_GONE_STATUSES = ("Ended", "Completed")
_RETRYABLE_NAMES = ("TransientError", "MalformedResponse", "TokenExpired")
_NUM_ID = sa.cast(listings.c.item_id, sa.Numeric(20, 0))     # ItemIDs are digit strings


def _seen_today(acct: str, day: date) -> list:
    """Listings seen today and not known to have gone since."""
    return [listings.c.account_id == acct, listings.c.last_seen_date >= day, listings.c.ended_date.is_(None),
            sa.func.coalesce(listings.c.listing_status, "Active").not_in(_GONE_STATUSES)]


def _seen_today_count(engine: Engine, acct: str, day: date) -> int:
    with engine.connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(listings).where(*_seen_today(acct, day))
        ).scalar_one())


def _unstorable_today(engine: Engine, acct: str, day: date, run_id: str) -> int:
    """Listings of this run that eBay listed but we quarantined (not stored today)."""
    e = item_errors
    seen = sa.select(listings.c.item_id).where(
        listings.c.account_id == acct, listings.c.item_id == e.c.item_id, listings.c.last_seen_date >= day)
    with engine.connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.count(sa.distinct(e.c.item_id))).where(
                e.c.run_id == run_id, e.c.account_id == acct, e.c.item_id.is_not(None), ~seen.exists())
        ).scalar_one())


def _unseen_candidates(engine: Engine, acct: str, day: date, after: str | None, limit: int) -> list[str]:
    """Known, not-ended listings not seen today, in id order (keyset pages of ``limit``)."""
    q = (sa.select(listings.c.item_id)
         .where(listings.c.account_id == acct, listings.c.ended_date.is_(None),
                listings.c.last_seen_date < day)
         .order_by(_NUM_ID)
         .limit(limit))
    if after is not None:
        q = q.where(_NUM_ID > int(after))
    with engine.connect() as conn:
        return list(conn.execute(q).scalars())


def _count_unseen(engine: Engine, acct: str, day: date) -> int:
    with engine.connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(listings).where(
                listings.c.account_id == acct, listings.c.ended_date.is_(None),
                listings.c.last_seen_date < day)
        ).scalar_one())


def _gone_since_seen(engine: Engine, acct: str, day: date, sp: SellingPage, *, is_first: bool,
                     is_last: bool) -> list[str]:
    """Listings seen earlier today that are provably no longer in the active list.

    A page is a contiguous window of the list sorted by ItemID, so every active listing
    whose id lies inside the page's id range is on the page (and, for page 1 / the last
    page, everything below / above it too).  A listing seen today inside that range
    but absent from the page has ended since its own page was fetched.
    """
    present = [i.item_id for i in sp.items] + [b.item_id for b in sp.bad_items]
    if not present or None in present or sp.past_end:
        return []
    nums = [int(i) for i in present]          # type: ignore[arg-type]
    cond = [*_seen_today(acct, day), listings.c.item_id.not_in(present)]
    if not is_first:
        cond.append(_NUM_ID >= min(nums))
    if not is_last:
        cond.append(_NUM_ID <= max(nums))
    with engine.connect() as conn:
        return list(conn.execute(sa.select(listings.c.item_id).where(*cond).order_by(_NUM_ID)).scalars())


def _tail_start_page(engine: Engine, acct: str, day: date, epp: int) -> int:
    """First page that can hold listings unknown before today.

    New listings get larger ItemIDs, so everything unknown before this run sorts after
    the largest id known before it; the listings before that point are the ones seen
    today with smaller ids.  One page of slack covers listings that ended after we saw them.
    """
    with engine.connect() as conn:
        max_old = conn.execute(
            sa.select(sa.func.max(_NUM_ID)).where(listings.c.account_id == acct, listings.c.first_seen_date < day)
        ).scalar_one()
        if max_old is None:
            return 1
        before = conn.execute(
            sa.select(sa.func.count()).select_from(listings).where(*_seen_today(acct, day), _NUM_ID <= max_old)
        ).scalar_one()
    return max(1, int(before) // epp)          # 0-based page of the boundary = 1-based page minus one of slack


def _confirm(run: _PageRun, ids: Sequence[str], day: date, options: SyncOptions, extra: dict) -> list[str]:
    """GetItem for listings that may have ended; returns ids that could not be decided."""
    engine, client, acct = run.engine, run.client, run.acct
    details, errs, not_found = _fetch_details(client, ids, options.getitem_concurrency)
    active = [d for d in details.values() if (d.listing_status or "Active") not in _GONE_STATUSES]
    gone = [d for d in details.values() if (d.listing_status or "Active") in _GONE_STATUSES]
    extra["confirmed_active"] += len(active)
    extra["confirmed_ended"] += len(gone) + len(not_found)
    run.stats.seen += len(ids)
    errs = [e for e in errs if e.error_class != "ItemNotFound"]   # a listing that is gone is no error
    # Only a retry can still tell whether these ended; permanent errors are left to finalise.
    undecided = [e.item_id for e in errs if e.item_id and e.error_class in _RETRYABLE_NAMES]
    run.stats.failed += len(errs)
    if options.dry_run:
        return undecided
    fetched_at = datetime.now(timezone.utc)
    # Active after all: a page shift hid it from every page -> today's snapshot from GetItem.
    pairs = [_rows_from_details(acct, d, day, run.run_id, fetched_at) for d in active]
    run.stats.written += _write_rows(engine, pairs, options.batch_size)
    # Gone: keep eBay's status and end time; finalise_account sets ended_date.
    marks = [{"iid": d.item_id, "st": d.listing_status, "et": d.end_time} for d in gone]
    marks += [{"iid": i, "st": "Ended", "et": None} for i in sorted(not_found)]
    if marks:
        with engine.begin() as conn:
            conn.execute(
                sa.update(listings)
                .where(listings.c.account_id == acct, listings.c.item_id == sa.bindparam("iid"))
                .values(listing_status=sa.bindparam("st"),
                        end_time=sa.func.coalesce(sa.bindparam("et", type_=listings.c.end_time.type),
                                                  listings.c.end_time),
                        details_fetched_at=fetched_at, updated_at=sa.func.now()),
                marks,
            )
    if options.traffic and marks:
        # Last chance to fill their earlier days' views: they leave the pages now.
        tn, terr = _traffic_pass(engine, client, acct, [m["iid"] for m in marks], day)
        run.stats.traffic_rows += tn
        if terr is not None:
            errs.append(terr)
    _record_item_errors(engine, run_id=run.run_id, acct=acct, page=RECONCILE_PAGE, day=day, errors=errs,
                        batch_size=options.batch_size)
    return undecided


def reconcile_account(account: AccountRef | str, snapshot_date: date, options: SyncOptions | None = None, *,
                      client, engine: Engine, run_id: str, planned_pages: int | Sequence[Mapping] | None,
                      attempt: int = 1) -> dict:
    """Page 0: repair page drift after all pages ran, before ``finalise_account``.

    1. GetMyeBaySelling page 1 again: current totals (page 1 re-upserted).
    2. Pages beyond the planned count (listings started during the run) are synced.
    3. Listings that may have ended get one GetItem each: known listings not seen
       today, and listings seen today that a re-fetched page proves gone.  Active ->
       today's snapshot is written (a page shift hid it); Ended/Completed/not found ->
       status and end time are stored and ``finalise_account`` marks them ended.
    4. If fewer listings were seen than eBay now counts, listings unknown before today
       were hidden by a shift: the tail pages (where new ids sort) are fetched again.
    Upserts make every double sighting harmless.  Details: docs/SYNC.md.
    """
    options = options or SyncOptions()
    acct = _account_id(account)
    planned = planned_pages if isinstance(planned_pages, int) or planned_pages is None else len(list(planned_pages))
    planned = int(planned or 0)
    epp = options.entries_per_page
    with _PageRun(engine=engine, client=client, acct=acct, page=RECONCILE_PAGE, day=snapshot_date,
                  pages=planned, run_id=run_id, attempt=attempt, dry_run=options.dry_run) as run:
        extra: dict[str, Any] = {"pages_refetched": [], "pages_beyond": [], "confirmed_active": 0,
                                 "confirmed_ended": 0, "tail_refetch": False}
        run.stats.extra = extra
        if not options.dry_run:
            # Details staged by the pages' GetSellerList calls: merged before anything
            # below decides what still needs a GetItem.
            extra["staged_details"] = merge_staged_details(engine, acct, snapshot_date)
        unseen = _count_unseen(engine, acct, snapshot_date)
        budget.check_budget(engine, run.application, estimate=1 + unseen,
                            daily_budget=options.daily_call_budget, account=acct, page=RECONCILE_PAGE)
        suspects: list[str] = []          # seen today, proven gone since: a handful at most

        def fetch_and_write(n: int) -> tuple[int, int]:
            sp = client.get_my_ebay_selling(n, epp, sort=DEFAULT_SORT)
            # Listings new here need details like on any page; traffic is skipped (listings
            # the pages did not see have no earlier snapshot rows to fill).
            _process_items(run, sp.items, sp.bad_items, snapshot_date, options, traffic=False,
                           record_bad=n > planned)
            if not options.dry_run:
                pages_now = sp.pagination.total_pages
                for i in _gone_since_seen(engine, acct, snapshot_date, sp, is_first=(n == 1),
                                          is_last=(n == pages_now)):
                    if i not in suspects:
                        suspects.append(i)
            return sp.pagination.total_entries, sp.pagination.total_pages

        # 1 + 2: current totals; pages that did not exist when planning.
        total_entries, pages_now = fetch_and_write(1)
        extra["pages_refetched"].append(1)
        n = max(planned + 1, 2)
        while n <= pages_now:
            total_entries, pages_now = fetch_and_write(n)
            extra["pages_beyond"].append(n)
            n += 1

        # 3: listings that may have ended (or were hidden by a shift).  A dry run stops
        # before: it would spend GetItem quota on answers it does not store.
        undecided: list[str] = []
        after: str | None = None
        while not options.dry_run:
            ids = _unseen_candidates(engine, acct, snapshot_date, after, options.batch_size)
            if not ids:
                break
            after = ids[-1]
            undecided += _confirm(run, ids, snapshot_date, options, extra)
        checked: set[str] = set()

        def confirm_suspects() -> None:
            todo = [i for i in suspects if i not in checked]
            checked.update(todo)
            for chunk in _chunks(todo, options.batch_size):
                undecided.extend(_confirm(run, chunk, snapshot_date, options, extra))

        confirm_suspects()

        # 4: listings unknown before today hidden by a shift (only when the counts disagree;
        # listings eBay lists but we could not store -- quarantined -- are no shortfall).
        if not options.dry_run and (_seen_today_count(engine, acct, snapshot_date)
                                    + _unstorable_today(engine, acct, snapshot_date, run_id)) < total_entries:
            extra["tail_refetch"] = True
            n = _tail_start_page(engine, acct, snapshot_date, epp)
            while n <= pages_now:
                total_entries, pages_now = fetch_and_write(n)
                extra["pages_refetched"].append(n)
                n += 1
            confirm_suspects()              # the re-read pages may prove more listings gone
        extra["entries_now"] = total_entries
        extra["pages_now"] = pages_now
        extra["seen_today"] = _seen_today_count(engine, acct, snapshot_date)
        if undecided:
            # Could not tell whether these ended: do not let finalise guess.  A rerun of
            # page 0 only re-checks what is still undecided.
            raise TransientError(f"{len(undecided)} listing(s) could not be checked with GetItem",
                                 call="GetItem", account=acct, page=RECONCILE_PAGE)
    summary = run.summary()
    log.info("%s reconcile: %s", acct, summary)
    return summary


# --------------------------------------------------------------------------- finalise
def finalise_account(account: AccountRef | str, snapshot_date: date, *, engine: Engine, run_id: str,
                     planned_pages: int | None = None) -> dict:
    """Mark listings not seen today as ended -- only when the whole account succeeded.

    The planned page count is ``planned_pages`` or, by default, the ``pages`` the
    page rows of this run recorded.  Every page 1..N must have a ``success`` row, and
    the reconcile row (page 0) too when it exists; otherwise nothing is marked.
    """
    acct = _account_id(account)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(sync_pages.c.page, sync_pages.c.pages, sync_pages.c.status).where(
                sync_pages.c.run_id == run_id, sync_pages.c.account_id == acct)
        ).all()
    by_page = {r.page: r for r in rows}
    if planned_pages is None and any(r.pages is None for r in rows if r.page != RECONCILE_PAGE):
        # a page ran without a plan (planning failed): the page count is unknown, so an
        # unseen listing may simply be on a page nobody read -- mark nothing.
        return {"account": acct, "finalised": False, "failed_pages": [],
                "reason": "planned page count unknown for this run"}
    if planned_pages is None:
        planned_pages = max((r.pages or 0 for r in rows if r.page != RECONCILE_PAGE), default=0)
        if not rows:
            return {"account": acct, "finalised": False, "failed_pages": [], "reason": "no pages recorded for this run"}
    expected = list(range(1, int(planned_pages) + 1))
    if RECONCILE_PAGE in by_page:
        expected.insert(0, RECONCILE_PAGE)
    failed = [p for p in expected if p not in by_page or by_page[p].status != "success"]
    if failed:
        return {"account": acct, "finalised": False, "failed_pages": failed,
                "reason": "pages missing or not successful"}

    staged = merge_staged_details(engine, acct, snapshot_date)
    with engine.begin() as conn:
        ended = conn.execute(
            sa.update(listings)
            .where(listings.c.account_id == acct, listings.c.ended_date.is_(None),
                   sa.or_(listings.c.last_seen_date < snapshot_date,
                          listings.c.listing_status.in_(_GONE_STATUSES)))
            .values(ended_date=snapshot_date,
                    listing_status=sa.case(
                        (sa.or_(listings.c.listing_status.is_(None), listings.c.listing_status == "Active"),
                         "Ended"), else_=listings.c.listing_status),
                    updated_at=sa.func.now())
            .returning(listings.c.item_id)
        ).fetchall()
        active = conn.execute(
            sa.select(sa.func.count()).select_from(listings).where(
                listings.c.account_id == acct, listings.c.ended_date.is_(None))
        ).scalar_one()
        conn.execute(
            sa.update(accounts).where(accounts.c.account_id == acct)
            .values(last_sync_run_id=run_id, last_sync_at=sa.func.now(), last_sync_date=snapshot_date,
                    updated_at=sa.func.now())
        )
    result = {"account": acct, "finalised": True, "failed_pages": [], "ended": len(ended),
              "active": int(active), "pages": int(planned_pages),
              "without_details": staged["still_without_details"]}
    log.info("%s finalised for %s: %s", acct, snapshot_date, result)
    return result


def sync_account(account: AccountRef | str, snapshot_date: date, options: SyncOptions | None = None, *,
                 client, engine: Engine, run_id: str,
                 on_page: Callable[[dict], None] | None = None) -> dict:
    """Plan + every page sequentially + reconcile + finalise (CLI / local debugging).

    Stops at the first failing page (its error is raised after the row is recorded).
    """
    options = options or SyncOptions()
    acct = _account_id(account)
    pages = plan_pages(account, client, entries_per_page=options.entries_per_page, engine=engine,
                       options=options)
    totals: Counter[str] = Counter()
    for p in pages:
        s = sync_page(account, p, snapshot_date, options, client=client, engine=engine, run_id=run_id)
        totals.update(s["calls"])
        if on_page:
            on_page(s)
    rec = reconcile_account(account, snapshot_date, options, client=client, engine=engine, run_id=run_id,
                            planned_pages=len(pages))
    totals.update(rec["calls"])
    if options.dry_run:
        fin = {"account": acct, "finalised": False, "reason": "dry run"}
    else:
        fin = finalise_account(account, snapshot_date, engine=engine, run_id=run_id, planned_pages=len(pages))
    return {"account": acct, "snapshot_date": snapshot_date.isoformat(), "pages": len(pages),
            "reconcile": rec, "finalise": fin, "calls_pages_and_reconcile": dict(totals)}


__all__ = [
    "AccountRef", "SyncOptions", "plan_pages", "sync_page", "reconcile_account", "finalise_account",
    "merge_staged_details", "sync_account", "RECONCILE_PAGE", "DETAILS_GETITEM", "DETAILS_SELLER_LIST",
]

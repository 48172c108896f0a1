"""What the DAG's tasks do, as plain functions (the DAG file only wires them).

Every function takes small values (dicts, dates, the Airflow context) and returns a
small JSON-able dict: XCom never carries item data or credentials.  The heavy lifting
is in :mod:`include.ebay_trends.sync` and :mod:`include.ebay_trends.trends`, which
know nothing about Airflow; this module adds what Airflow provides — connections,
params, run ids, try numbers, labels — and the logging an operator reads.
"""
from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Mapping
from datetime import date, timezone
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, Param, RetryAction, RetryRule

from include.ebay_trends import errors, settings

log = logging.getLogger("include.ebay_trends.pipeline")

POOL = "ebay_trading"
WAREHOUSE_CONN_ID = os.environ.get("EBAY_WAREHOUSE_CONN_ID", "ebay_warehouse")
_LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
logging.getLogger("include.ebay_trends").setLevel(_LOG_LEVEL)


# --- Airflow settings the DAG file uses ------------------------------------------------

SYNC_PARAMS: dict[str, Param] = {
    "accounts": Param(
        [], type="array", items={"type": "string"}, title="Accounts",
        description="Seller ids to sync. Empty = every active account in ebay.accounts.",
    ),
    "snapshot_date": Param(
        None, type=["null", "string"], format="date", title="Snapshot date",
        description="YYYY-MM-DD. Empty = the run's logical date (UTC). Use only to repair a "
                    "missed day: eBay returns today's active list whatever date you give.",
    ),
    "item_details": Param(
        "new", type="string", enum=["new", "all", "none"], title="GetItem enrichment",
        description="new: GetItem only for listings the warehouse lacks details for (default). "
                    "all: one GetItem per listing (the old behaviour; costs 1 call per listing). "
                    "none: no GetItem.",
    ),
    "bulk_details": Param(
        True, type="boolean", title="Bulk details (GetSellerList)",
        description="When more listings lack details than the account has pages (a first sync, a full "
                    "resync), fetch them 200 at a time with GetSellerList instead of one GetItem each.",
    ),
    "dry_run": Param(False, type="boolean", title="Dry run",
                     description="Fetch and validate every page, write nothing."),
    "page_size": Param(settings.MAX_ENTRIES_PER_PAGE, type="integer", minimum=1,
                       maximum=settings.MAX_ENTRIES_PER_PAGE, title="Listings per page",
                       description="GetMyeBaySelling EntriesPerPage (1..200)."),
    "full_resync": Param(False, type="boolean", title="Full resync",
                         description="Re-fetch GetItem details for every listing this run "
                                     "(refreshes category, status, end time)."),
}

# Fail fast where a retry only burns time or quota; retry what is transient.
PAGE_RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=[errors.AuthRevoked, errors.CallLimitReached,
                       errors.CallBudgetExhausted, errors.RequestError],
            action=RetryAction.FAIL,
            reason="Not retryable: needs re-authorisation, the quota reset, or a fixed request",
        ),
        RetryRule(
            exception=[errors.TransientError, errors.MalformedResponse, errors.TokenExpired,
                       "sqlalchemy.exc.OperationalError", "sqlalchemy.exc.InterfaceError",
                       "psycopg.OperationalError", "builtins.ConnectionError", "builtins.TimeoutError"],
            action=RetryAction.RETRY,
            reason="Transient eBay or database failure",
        ),
    ],
    default=RetryAction.DEFAULT,
)


# --- Resources --------------------------------------------------------------------------

def warehouse_engine():
    """The warehouse engine for this task process, from the ``ebay_warehouse`` connection.

    ``EBAY_WAREHOUSE_URL`` wins when set (the demo and the tests use it); otherwise the
    Airflow Postgres connection (apache-airflow-providers-postgres) is used.
    """
    url = os.environ.get("EBAY_WAREHOUSE_URL")
    if not url:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        url = PostgresHook(postgres_conn_id=WAREHOUSE_CONN_ID).sqlalchemy_url
    return _engine_for(url)


@functools.lru_cache(maxsize=4)
def _engine_for(url):
    # One pool per task process and URL; a task process syncs one page, so this is small.
    from include.ebay_trends import warehouse

    return warehouse.make_engine(url)


def _client_for(account: Mapping[str, Any]):
    from include.ebay_trends.hooks import EbayHook

    return EbayHook(ebay_conn_id=account["conn_id"]).get_client(account["account"])


def _account_ref(account: Mapping[str, Any]):
    from include.ebay_trends.sync import AccountRef

    return AccountRef(account_id=account["account"], marketplace_id=account["marketplace_id"],
                      conn_id=account["conn_id"])


# --- Params and dates -----------------------------------------------------------------

def snapshot_date(context: Mapping[str, Any]) -> date:
    """The run's snapshot date in UTC: the param override, else the logical date.

    Manual runs may have no logical date in Airflow 3; then the run's ``run_after``
    (when it was triggered) is used.  Never the wall clock of the worker.
    """
    override = (context.get("params") or {}).get("snapshot_date")
    if override:
        try:
            return date.fromisoformat(str(override))
        except ValueError as exc:
            raise ValueError(f"snapshot_date param must be YYYY-MM-DD, got {override!r}") from exc
    when = context.get("logical_date")
    if when is None:
        when = getattr(context.get("dag_run"), "run_after", None)
    if when is None:
        raise ValueError("the run has neither a logical date nor run_after; pass snapshot_date")
    return when.astimezone(timezone.utc).date()


def sync_options(params: Mapping[str, Any]):
    from include.ebay_trends.sync import SyncOptions

    mode = params.get("item_details", "new")
    if mode not in ("new", "all", "none"):
        raise ValueError(f"item_details must be new, all or none, got {mode!r}")
    size = int(params.get("page_size") or settings.MAX_ENTRIES_PER_PAGE)
    if not 1 <= size <= settings.MAX_ENTRIES_PER_PAGE:
        raise ValueError(f"page_size must be 1..{settings.MAX_ENTRIES_PER_PAGE}, got {size}")
    return SyncOptions(
        item_details=mode,
        entries_per_page=size,
        dry_run=bool(params.get("dry_run", False)),
        full_resync=bool(params.get("full_resync", False)),
        bulk_details=bool(params.get("bulk_details", True)),
        batch_size=int(os.environ.get("EBAY_BATCH_SIZE", settings.DEFAULT_BATCH_SIZE)),
        getitem_concurrency=int(os.environ.get("EBAY_GETITEM_CONCURRENCY",
                                               settings.DEFAULT_GETITEM_CONCURRENCY)),
        daily_call_budget=int(os.environ.get("EBAY_DAILY_CALL_BUDGET",
                                             settings.DEFAULT_DAILY_CALL_BUDGET)),
    )


def page_label(page: Mapping[str, Any]) -> str:
    pages = page.get("pages") or "?"
    return f"{page['account']} · page {page['page']}/{pages}"


# --- Tasks -----------------------------------------------------------------------------

def ensure_schema() -> list[str]:
    from include.ebay_trends import warehouse

    applied = warehouse.migrate(warehouse_engine())
    log.info("warehouse schema up to date (applied now: %s)", ", ".join(applied) or "none")
    return applied


def select_accounts(params: Mapping[str, Any]) -> list[dict]:
    """Active accounts from ``ebay.accounts``, optionally narrowed by the ``accounts`` param."""
    from include.ebay_trends import warehouse

    requested = [str(a) for a in (params.get("accounts") or [])]
    rows = warehouse.active_accounts(warehouse_engine(), only=requested or None)
    found = {r["account_id"] for r in rows}
    missing = sorted(set(requested) - found)
    if missing:
        raise ValueError(f"accounts not found or not active in ebay.accounts: {', '.join(missing)}")
    accounts = [{"account": r["account_id"], "marketplace_id": r["marketplace_id"],
                 "conn_id": r["conn_id"]} for r in rows]
    log.info("accounts to sync: %s", ", ".join(a["account"] for a in accounts) or "none")
    return accounts


def plan_pages(accounts: Iterable[Mapping[str, Any]], context: Mapping[str, Any]) -> list[dict]:
    """One small descriptor per selling-list page, for every account.

    An account whose planning call fails (revoked auth, quota) still gets a page-1
    descriptor, so the failure shows on that account's own mapped instance with its
    actionable message while every other account goes ahead.
    """
    from include.ebay_trends import sync

    options = sync_options(context["params"])
    planned: list[dict] = []
    for account in accounts:
        base = {"account": account["account"], "conn_id": account["conn_id"],
                "marketplace_id": account["marketplace_id"]}
        try:
            client = _client_for(account)
            try:
                pages = sync.plan_pages(_account_ref(account), client,
                                        entries_per_page=options.entries_per_page,
                                        engine=warehouse_engine(), options=options)
            finally:
                client.close()
        except errors.EbayError as exc:
            log.warning("planning %s failed: %s; its page 1 will carry the error",
                        account["account"], exc)
            planned.append({**base, "page": 1, "pages": None, "entries": None,
                            "entries_per_page": options.entries_per_page,
                            "plan_error": type(exc).__name__})
            continue
        if not pages:
            # No active listings: still one (empty) page, so the account is finalised
            # and yesterday's listings are marked ended.
            pages = [{"account": account["account"], "page": 1, "pages": 1, "entries": 0,
                      "entries_per_page": options.entries_per_page}]
        for p in pages:
            planned.append({**base, **p})
        log.info("%s: %d pages planned (%s listings; details from %s)", account["account"], len(pages),
                 pages[0]["entries"] if pages else 0,
                 "GetSellerList, one page per page" if pages[0].get("details") == sync.DETAILS_SELLER_LIST
                 else "GetItem for listings lacking them")
    if len(planned) > 1024:
        log.warning("%d pages planned: above Airflow's default [core] max_map_length (1024)",
                    len(planned))
    return planned


def sync_page_task(page: Mapping[str, Any], context: dict) -> dict:
    """The mapped task: one selling-list page into the warehouse."""
    from include.ebay_trends import sync

    context["page_label"] = page_label(page)
    day = snapshot_date(context)
    options = sync_options(context["params"])
    ti = context["ti"]
    account = {"account": page["account"], "conn_id": page["conn_id"],
               "marketplace_id": page["marketplace_id"]}
    client = _client_for(account)
    try:
        summary = sync.sync_page(
            _account_ref(account), dict(page), day, options,
            client=client, engine=warehouse_engine(),
            run_id=context["run_id"], attempt=int(getattr(ti, "try_number", 1) or 1),
        )
    finally:
        client.close()
    calls = summary.get("calls", {})
    log.info(
        "%s page %s/%s: %d items, %d written, %d failed, %d calls (%s), %.1f s, peak RSS %.0f MB",
        page["account"], page["page"], page.get("pages") or "?", summary.get("items_seen", 0),
        summary.get("items_written", 0), summary.get("items_failed", 0), sum(calls.values()),
        ", ".join(f"{k}={v}" for k, v in sorted(calls.items())), summary.get("duration_s", 0.0),
        summary.get("peak_rss_mb", 0.0),
    )
    if summary.get("items_failed"):
        log.warning("%s page %s: %d items quarantined in ebay.item_errors",
                    page["account"], page["page"], summary["items_failed"])
    return summary


def failed_pages(engine, *, run_id: str, account_id: str, pages: Iterable[int],
                 dry_run: bool = False) -> list[int]:
    """Planned pages of this run that have no successful ``ebay.sync_pages`` row."""
    import sqlalchemy as sa

    ok_status = ("dry_run",) if dry_run else ("success",)
    with engine.connect() as conn:
        done = set(conn.execute(
            sa.text("SELECT page FROM ebay.sync_pages WHERE run_id = :r AND account_id = :a "
                    "AND status = ANY(:ok)"),
            {"r": run_id, "a": account_id, "ok": list(ok_status)},
        ).scalars())
    return sorted(set(pages) - done)


def _group_by_account(planned: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for p in planned:
        grouped.setdefault(p["account"], []).append(p)
    return grouped


def finalise_accounts(planned: Iterable[Mapping[str, Any]], context: Mapping[str, Any]) -> dict:
    """Per account: when every page succeeded, reconcile page drift and mark ended listings.

    Runs whatever the pages' states (trigger rule ``all_done``).  An account with a
    failed page is left untouched (nothing marked ended) and reported.
    """
    from include.ebay_trends import sync

    day = snapshot_date(context)
    options = sync_options(context["params"])
    run_id = context["run_id"]
    engine = warehouse_engine()
    result: dict[str, Any] = {"snapshot_date": day.isoformat(), "finalised": [], "not_finalised": {}}
    for account_id, pages in _group_by_account(planned).items():
        first = pages[0]
        account = {"account": account_id, "conn_id": first["conn_id"],
                   "marketplace_id": first["marketplace_id"]}
        if first.get("plan_error"):
            result["not_finalised"][account_id] = f"planning failed ({first['plan_error']})"
            continue
        if options.dry_run:
            result["not_finalised"][account_id] = "dry run"
            continue
        failed = failed_pages(engine, run_id=run_id, account_id=account_id,
                              pages=[p["page"] for p in pages])
        if failed:
            log.warning("%s: pages %s did not succeed; nothing marked ended", account_id, failed)
            result["not_finalised"][account_id] = f"pages not successful: {failed}"
            # The listings the good pages stored still get the details their GetSellerList
            # pages staged (only detail columns of existing rows change; nothing is ended).
            sync.merge_staged_details(engine, account_id, day)
            continue
        try:
            client = _client_for(account)
            try:
                rec = sync.reconcile_account(_account_ref(account), day, options, client=client,
                                             engine=engine, run_id=run_id,
                                             planned_pages=len(pages))
            finally:
                client.close()
            fin = sync.finalise_account(_account_ref(account), day, engine=engine, run_id=run_id)
        except errors.EbayError as exc:
            log.warning("%s: reconciliation failed: %s", account_id, exc)
            result["not_finalised"][account_id] = f"reconciliation failed: {exc}"
            continue
        log.info("%s: reconciled (%s), finalised (%s)", account_id, rec, fin)
        result["finalised"].append(account_id)
    return result


def compute_trends_task(finalised: Mapping[str, Any] | None, context: Mapping[str, Any]) -> dict:
    """Trends for the accounts whose day is complete (partial days are not scored)."""
    from include.ebay_trends import trends

    if not finalised or not finalised.get("finalised"):
        log.warning("no account finalised for this run; trends not computed")
        return {"computed": False, "accounts": []}
    day = snapshot_date(context)
    # The traffic report lags: the last few days are recomputed too when today's sync
    # changed their inputs (views filled in), so those reach their own day's trends;
    # today is always computed (rerunning replaces, never duplicates).
    weights = trends.TrendWeights(
        views=float(os.environ.get("EBAY_TREND_WEIGHT_VIEWS", "0.4")),
        watchers=float(os.environ.get("EBAY_TREND_WEIGHT_WATCHERS", "0.4")),
        price=float(os.environ.get("EBAY_TREND_WEIGHT_PRICE", "0.2")),
    )
    summary = trends.refresh_trends(warehouse_engine(), day, accounts=list(finalised["finalised"]),
                                    weights=weights,
                                    top_n=int(os.environ.get("EBAY_TREND_TOP_N", "10")))
    for r in summary["dates"]:
        log.info("trends for %s %s: %s", r["snapshot_date"], "computed" if r["computed"] else "skipped",
                 r.get("reason", ""))
    log.info("trends for %s: computed %s, skipped %s in %s s", day, summary["computed"],
             sorted(summary["skipped"]) or "none", summary["seconds"])
    return {"computed": True, "accounts": list(finalised["finalised"]), "snapshot_date": summary["snapshot_date"],
            "computed_dates": list(summary["computed"]), "skipped_dates": dict(summary["skipped"]),
            "seconds": summary["seconds"]}


def check_pages(planned: Iterable[Mapping[str, Any]], finalised: Mapping[str, Any] | None,
                trends_result: Mapping[str, Any] | None, context: Mapping[str, Any]) -> dict:
    """Fail the run when any page, account or the trend step did not succeed.

    The data that did succeed stays stored; this task only makes the run's state honest.
    """
    run_id = context["run_id"]
    engine = warehouse_engine()
    problems: list[str] = []
    dry_run = bool(context["params"].get("dry_run"))
    for account_id, pages in _group_by_account(planned).items():
        failed = failed_pages(engine, run_id=run_id, account_id=account_id,
                              pages=[p["page"] for p in pages], dry_run=dry_run)
        if failed:
            problems.append(f"{account_id}: pages {failed} failed")
    if finalised is None:
        problems.append("finalise_accounts failed")
    else:
        for account_id, why in (finalised.get("not_finalised") or {}).items():
            if why != "dry run":
                problems.append(f"{account_id}: not finalised ({why})")
    if trends_result is None:
        problems.append("compute_trends failed")
    if problems:
        raise RuntimeError("run incomplete — " + "; ".join(problems)
                           + ". Stored pages are kept; clear the failed sync_page instances to finish.")
    return {"ok": True, "pages": sum(1 for _ in planned)}


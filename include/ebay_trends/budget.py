"""The daily Trading API call budget, counted in ``ebay.api_calls``.

eBay's quota is per application (client id) and resets at midnight US Pacific, in
real time.  So the budget day is the Pacific date of the wall clock when the call
is made -- deliberately *not* the run's snapshot date (a backfill for last week
still spends today's quota).

Only Trading calls share the 5,000/day pool; the traffic report (REST) and OAuth
token calls are recorded for visibility but do not count against the budget.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Engine

from include.ebay_trends.errors import CallBudgetExhausted
from include.ebay_trends.settings import EBAY_DAY_TZ
from include.ebay_trends.warehouse import api_calls

TRADING_CALLS: frozenset[str] = frozenset({"GetMyeBaySelling", "GetItem", "GetSellerList"})


def utcnow() -> datetime:
    """The real clock (UTC).  A function so the day boundary can be tested."""
    return datetime.now(timezone.utc)


def ebay_day(at: datetime | None = None) -> date:
    """The call-limit day (US Pacific date) of ``at`` (default: now)."""
    at = at or utcnow()
    if at.tzinfo is None:
        raise ValueError("ebay_day needs a timezone-aware datetime")
    return at.astimezone(EBAY_DAY_TZ).date()


def next_reset(at: datetime | None = None) -> datetime:
    """The next midnight US Pacific after ``at``, in UTC (DST-aware)."""
    at = at or utcnow()
    day = ebay_day(at)
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=EBAY_DAY_TZ)
    return midnight.astimezone(timezone.utc)


def calls_used(engine: Engine, application: str, *, day: date | None = None) -> int:
    """Trading calls already spent today by ``application`` across all its accounts."""
    day = day or ebay_day()
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(api_calls.c.calls), 0)).where(
                    api_calls.c.application == application,
                    api_calls.c.ebay_day == day,
                    api_calls.c.call_name.in_(sorted(TRADING_CALLS)),
                )
            ).scalar_one()
        )


def remaining(engine: Engine, application: str, daily_budget: int, *, at: datetime | None = None) -> int:
    return daily_budget - calls_used(engine, application, day=ebay_day(at))


def check_budget(engine: Engine, application: str, *, estimate: int, daily_budget: int,
                 account: str | None = None, page: int | None = None,
                 at: datetime | None = None) -> int:
    """Raise ``CallBudgetExhausted`` unless ``estimate`` Trading calls still fit today.

    Returns the remaining budget (before spending ``estimate``).  Pages running in
    parallel check independently, so the pool can be overshot by at most one page
    estimate per concurrent page; keep ``daily_budget`` below eBay's hard limit.
    """
    at = at or utcnow()
    left = remaining(engine, application, daily_budget, at=at)
    if left < estimate:
        raise CallBudgetExhausted(
            f"daily call budget exhausted: {left} of {daily_budget} Trading calls left, "
            f"this step needs up to {estimate}",
            resets_at=next_reset(at),
            account=account,
            page=page,
        )
    return left


def record_calls(engine: Engine, application: str, account_id: str, calls: Mapping[str, int], *,
                 at: datetime | None = None) -> None:
    """Add ``calls`` (name -> count) to today's counters: one UPSERT, one transaction.

    Increments, never overwrites, so pages of one application and several accounts
    can record concurrently; zero counts are skipped.
    """
    rows = [
        {"application": application, "account_id": account_id, "call_name": name,
         "ebay_day": ebay_day(at), "calls": int(n)}
        for name, n in sorted(calls.items()) if n
    ]
    if not rows:
        return
    stmt = pg.insert(api_calls)
    stmt = stmt.on_conflict_do_update(
        index_elements=[api_calls.c.application, api_calls.c.account_id, api_calls.c.call_name,
                        api_calls.c.ebay_day],
        set_={"calls": api_calls.c.calls + stmt.excluded.calls, "updated_at": sa.func.now()},
    )
    with engine.begin() as conn:
        conn.execute(stmt, rows)

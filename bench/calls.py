"""Call-budget arithmetic from measured per-page costs.

eBay allows 5,000 Trading calls (GetMyeBaySelling, GetItem, GetSellerList) per application per day;
the traffic report (Sell Analytics, REST) and OAuth token calls have other limits and
do not count.  For one account of ``N`` listings, one day costs

    trading(N) = A + ceil(N / 200) * p + g * N

A  Trading calls per account and run outside the pages (plan_pages' GetMyeBaySelling,
   and the reconcile pass: page 1 re-read, more only when pages drifted),
p  Trading calls per page besides GetItem (GetMyeBaySelling: 1; + GetSellerList: 1 on a
   bulk-details day such as the first),
g  GetItem calls per listing: 1 on the first day (every listing is new); in steady
   state only new listings (pages) and listings that may have ended (reconcile):
   about 2 × the daily churn.

The largest account is the largest ``N`` with ``trading(N) <= 5000``, and never more
than eBay's ActiveList cap of 25,000 entries (the sync cannot see further).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from include.ebay_trends.settings import MAX_ACTIVE_LIST_ENTRIES, MAX_ENTRIES_PER_PAGE

DAILY_LIMIT = 5000
TRADING = ("GetMyeBaySelling", "GetItem", "GetSellerList")


def trading_calls(n: int, *, per_account: float, per_page: float, getitem_per_listing: float,
                  page_size: int = MAX_ENTRIES_PER_PAGE) -> float:
    return per_account + math.ceil(n / page_size) * per_page + getitem_per_listing * n


def largest_account(*, per_account: float, per_page: float, getitem_per_listing: float,
                    limit: int = DAILY_LIMIT, page_size: int = MAX_ENTRIES_PER_PAGE,
                    cap: int | None = MAX_ACTIVE_LIST_ENTRIES) -> dict[str, Any]:
    """Largest listing count whose daily Trading calls fit in ``limit`` (binary search;
    ``trading_calls`` is non-decreasing in ``n``).  ``capped_by`` says which bound won."""
    kw = {"per_account": per_account, "per_page": per_page, "getitem_per_listing": getitem_per_listing,
          "page_size": page_size}
    hi_bound = 10 ** 9
    if trading_calls(0, **kw) > limit:
        return {"listings": 0, "capped_by": "fixed per-account calls exceed the limit"}
    lo, hi = 0, hi_bound
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if trading_calls(mid, **kw) <= limit:
            lo = mid
        else:
            hi = mid - 1
    if cap is not None and lo > cap:
        return {"listings": cap, "by_budget": lo if lo < hi_bound else None,
                "capped_by": f"eBay ActiveList cap ({cap:,} listings)",
                "calls_at_cap": round(trading_calls(cap, **kw), 1)}
    return {"listings": lo, "capped_by": f"{limit:,} Trading calls/day", "calls_at_max": round(trading_calls(lo, **kw), 1)}


def _trading(calls: Mapping[str, int]) -> int:
    return sum(int(v) for k, v in calls.items() if k in TRADING)


def per_listing(calls: Mapping[str, int], listings: int) -> dict[str, float]:
    total = sum(int(v) for v in calls.values())
    return {"all": round(total / listings, 4), "trading": round(_trading(calls) / listings, 4),
            "total_calls": total, "trading_calls": _trading(calls)}


def budget_model(run: Mapping[str, Any], *, accounts: int, listings: int, churn: float = 0.0) -> dict[str, Any]:
    """Per-page and per-account Trading costs measured in one DAG run, and the largest
    account they allow.  ``run`` is ``airflow_runs.timed_run``'s summary."""
    pages = int(run["pages"])
    page_calls, rec_calls = run["page_calls"], run["reconcile_calls"]
    getitem_pages = int(page_calls.get("GetItem", 0))
    per_page = (_trading(page_calls) - getitem_pages) / pages
    # plan_pages makes one GetMyeBaySelling per account (not in sync_pages rows).
    per_account = 1 + _trading(rec_calls) / accounts - rec_calls.get("GetItem", 0) / accounts
    g_measured = (getitem_pages + rec_calls.get("GetItem", 0)) / listings
    out = {"per_page": round(per_page, 3), "per_account": round(per_account, 3),
           "getitem_per_listing": round(g_measured, 4)}
    out["largest_account"] = largest_account(per_account=per_account, per_page=per_page,
                                             getitem_per_listing=g_measured)
    if churn:
        g = g_measured + 2 * churn
        out["with_churn"] = {"daily_churn": churn, "getitem_per_listing": round(g, 4),
                             "largest_account": largest_account(per_account=per_account, per_page=per_page,
                                                                getitem_per_listing=g)}
    return out

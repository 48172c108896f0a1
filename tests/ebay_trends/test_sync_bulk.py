"""Bulk details: GetSellerList (200 full items a call) instead of one GetItem per listing.

A first sync of an account (and a full resync) plans every page with one GetSellerList
page beside its GetMyeBaySelling page; details are staged in ``ebay.listing_details``
and merged into ``ebay.listings`` by reconcile/finalise.  Real HTTP to the emulator,
real PostgreSQL; expected values from the emulator's catalogue.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from include.ebay_trends.sync import (
    DETAILS_SELLER_LIST,
    SyncOptions,
    finalise_account,
    plan_pages,
    reconcile_account,
    sync_page,
)
from test_sync_helpers import (
    assert_matches_truth,
    client_for,
    column,
    day_of,
    register,
    rows,
    run_account,
    scalar,
)


def _calls(summaries, name: str) -> int:
    return sum(s["calls"].get(name, 0) for s in summaries)


def _assert_details_equal_truth(srv, engine, seller: str, day_index: int, *, end_time: bool = True) -> None:
    """Category (and end time: GTC listings renew it every 30 days, so only on the day the
    details were fetched) of every active listing equals the catalogue's."""
    lst = rows(engine, "listings", "WHERE account_id = :a AND ended_date IS NULL", {"a": seller})
    assert lst
    for (_, item_id), r in lst.items():
        t = srv.catalog.item_state(seller, item_id, day_index)
        assert (r["category_id"], r["category_name"]) == (t["category_id"], t["category_name"]), item_id
        if end_time:
            assert r["end_time"] == t["end_time"], item_id
    assert scalar(engine, "SELECT count(*) FROM ebay.listings WHERE account_id = :a AND ended_date IS NULL "
                          "AND details_fetched_at IS NULL", a=seller) == 0


def test_first_day_plans_seller_list_and_spends_pages_not_listings(emulator_factory, engine):
    srv = emulator_factory(listings=(450, 130))
    register(engine, srv)
    day = day_of(srv)
    for seller, n, pages in (("seller_a", 450, 3), ("seller_b", 130, 1)):
        out = run_account(srv, engine, seller, "r1")
        plan = out["pages"]
        assert [p["details"] for p in plan] == [DETAILS_SELLER_LIST] * pages
        lo, hi = (datetime.fromisoformat(x) for x in plan[0]["seller_list_window"])
        assert timedelta(days=30) < hi - lo <= timedelta(days=120)
        assert len({tuple(p["seller_list_window"]) for p in plan}) == 1     # one window for the run
        # One GetSellerList per page and no GetItem at all, whatever the account's size.
        assert _calls(out["summaries"], "GetSellerList") == pages
        assert _calls(out["summaries"], "GetItem") == 0
        assert out["reconcile"]["calls"].get("GetItem", 0) == 0
        assert out["finalise"]["finalised"] and out["finalise"]["without_details"] == 0
        ids = srv.catalog.active_item_ids(seller, 0)
        assert column(engine, "SELECT item_id FROM ebay.listings WHERE account_id = :a "
                              "ORDER BY item_id::numeric", a=seller) == ids
        assert len(ids) == n
        assert_matches_truth(srv, engine, seller, 0, ids)
        _assert_details_equal_truth(srv, engine, seller, 0)
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_snapshots WHERE snapshot_date = :d", d=day) == 580


def test_pages_in_any_order_and_a_rerun_change_nothing(emulator_factory, engine):
    srv = emulator_factory(listings=(650, 1))
    register(engine, srv)
    day = day_of(srv)
    with client_for(srv) as c:
        plan = plan_pages("seller_a", c, engine=engine)
        for p in reversed(plan):                    # details of later pages staged first, and vice versa
            s = sync_page("seller_a", p, day, SyncOptions(), client=c, engine=engine, run_id="r1")
            assert s["calls"].get("GetItem", 0) == 0 and s["calls"]["GetSellerList"] == 1
        reconcile_account("seller_a", day, client=c, engine=engine, run_id="r1", planned_pages=len(plan))
        finalise_account("seller_a", day, engine=engine, run_id="r1")
        before = (rows(engine, "listings"), rows(engine, "listing_snapshots"))
        # A human clears page 3 after the run: same rows, details kept.
        s = sync_page("seller_a", plan[2], day, SyncOptions(), client=c, engine=engine, run_id="r1", attempt=2)
        assert s["items_written"] == 200 and s["calls"].get("GetItem", 0) == 0
        finalise_account("seller_a", day, engine=engine, run_id="r1")
    assert (rows(engine, "listings"), rows(engine, "listing_snapshots")) == before
    _assert_details_equal_truth(srv, engine, "seller_a", 0)


def test_steady_day_uses_getitem_for_the_few_new_listings(emulator_factory, engine):
    srv = emulator_factory(listings=(900, 1), daily_churn=0.003)
    register(engine, srv)
    run_account(srv, engine, "seller_a", "r1")
    srv.state.advance_day(1)
    started = srv.catalog.started_item_ids("seller_a", 1)
    assert 0 < len(started) < 5                        # fewer new listings than pages
    out = run_account(srv, engine, "seller_a", "r2")
    assert all("details" not in p for p in out["pages"])
    assert _calls(out["summaries"], "GetSellerList") == 0
    assert _calls(out["summaries"], "GetItem") == len(started)
    _assert_details_equal_truth(srv, engine, "seller_a", 1, end_time=False)


def test_bulk_can_be_switched_off(emulator_factory, engine):
    srv = emulator_factory(listings=(250, 1))
    register(engine, srv)
    out = run_account(srv, engine, "seller_a", "r1", SyncOptions(bulk_details=False))
    assert all("details" not in p for p in out["pages"])
    assert _calls(out["summaries"], "GetSellerList") == 0
    assert _calls(out["summaries"], "GetItem") == 250
    _assert_details_equal_truth(srv, engine, "seller_a", 0)


def test_full_resync_refreshes_details_with_seller_list(emulator_factory, engine):
    srv = emulator_factory(listings=(420, 1))
    register(engine, srv)
    run_account(srv, engine, "seller_a", "r1", SyncOptions(bulk_details=False))
    first = dict(zip(column(engine, "SELECT item_id FROM ebay.listings ORDER BY item_id"),
                     column(engine, "SELECT details_fetched_at FROM ebay.listings ORDER BY item_id")))
    out = run_account(srv, engine, "seller_a", "r2", SyncOptions(full_resync=True))
    assert [p.get("details") for p in out["pages"]] == [DETAILS_SELLER_LIST] * 3
    assert _calls(out["summaries"], "GetItem") == 0 and _calls(out["summaries"], "GetSellerList") == 3
    again = dict(zip(column(engine, "SELECT item_id FROM ebay.listings ORDER BY item_id"),
                     column(engine, "SELECT details_fetched_at FROM ebay.listings ORDER BY item_id")))
    assert all(again[i] > first[i] for i in first)      # every listing's details re-fetched
    _assert_details_equal_truth(srv, engine, "seller_a", 0)


def test_a_listing_nothing_staged_is_fetched_next_day(emulator_factory, engine):
    """Details missing after the merge (e.g. a listing that started after the seller list
    was read) are left NULL, reported, and fetched by GetItem on the next run."""
    srv = emulator_factory(listings=(450, 1), daily_churn=0.0)
    register(engine, srv)
    day = day_of(srv)
    victim = srv.catalog.active_item_ids("seller_a", 0)[-1]          # on the last page
    with client_for(srv) as c:
        plan = plan_pages("seller_a", c, engine=engine)
        for p in plan:
            sync_page("seller_a", p, day, SyncOptions(), client=c, engine=engine, run_id="r1")
        # As if the listing started after the seller list was read: written without details,
        # nothing staged for it.
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM ebay.listing_details WHERE item_id = %s", (victim,))
            conn.exec_driver_sql("UPDATE ebay.listings SET category_id = NULL, category_name = NULL, "
                                 "end_time = NULL, details_fetched_at = NULL WHERE item_id = %s", (victim,))
        reconcile_account("seller_a", day, client=c, engine=engine, run_id="r1", planned_pages=len(plan))
        fin = finalise_account("seller_a", day, engine=engine, run_id="r1")
    assert fin["finalised"] and fin["without_details"] == 1
    assert scalar(engine, "SELECT category_id FROM ebay.listings WHERE item_id = :i", i=victim) is None
    srv.state.advance_day(1)
    out = run_account(srv, engine, "seller_a", "r2")
    assert _calls(out["summaries"], "GetItem") == 1 and _calls(out["summaries"], "GetSellerList") == 0
    _assert_details_equal_truth(srv, engine, "seller_a", 1, end_time=False)
    t = srv.catalog.item_state("seller_a", victim, 1)
    assert scalar(engine, "SELECT end_time FROM ebay.listings WHERE item_id = :i", i=victim) == t["end_time"]
    # Staging rows of earlier days are dropped by the merge.
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_details WHERE fetched_date < :d",
                  d=day_of(srv)) == 0


def test_the_last_page_fetches_seller_list_pages_beyond_the_plan(emulator_factory, engine):
    """If the seller list has more pages than the selling list (eBay caps ActiveList at
    25,000 entries), the last page task fetches the rest: no listing's details are lost."""
    srv = emulator_factory(listings=(450, 1))
    register(engine, srv)
    day = day_of(srv)
    with client_for(srv) as c:
        plan = plan_pages("seller_a", c, engine=engine)
        one = {**plan[0], "pages": 1}                   # pretend the selling list had one page
        s = sync_page("seller_a", one, day, SyncOptions(), client=c, engine=engine, run_id="r1")
    assert s["calls"]["GetSellerList"] == 3 and s["details_staged"] == 450
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_details") == 450


def test_budget_estimate_of_a_bulk_page_is_two_calls(emulator_factory, engine):
    from include.ebay_trends import budget
    from include.ebay_trends.errors import CallBudgetExhausted

    srv = emulator_factory(listings=(450, 1))
    register(engine, srv)
    day = day_of(srv)
    with client_for(srv) as c:
        plan = plan_pages("seller_a", c, engine=engine)
        # 3 calls left: a bulk page (2) fits, a GetItem page (1 + 200) would not.
        budget.record_calls(engine, c.application, "seller_a", {"GetItem": 4997 - 1})
        s = sync_page("seller_a", plan[0], day, SyncOptions(daily_call_budget=5000), client=c, engine=engine,
                      run_id="r1")
        assert s["items_written"] == 200
        with pytest.raises(CallBudgetExhausted):
            sync_page("seller_a", plan[1], day, SyncOptions(daily_call_budget=5000), client=c, engine=engine,
                      run_id="r1")


def test_transient_seller_list_failures_are_retried_and_counted(emulator_factory, engine):
    srv = emulator_factory(listings=(650, 1), faults={"error_rate": 0.5, "error_kinds": ["http500"],
                                                      "error_calls": ["GetSellerList"], "error_seed": 1})
    register(engine, srv)
    out = run_account(srv, engine, "seller_a", "r1")
    assert out["finalise"]["finalised"] and out["finalise"]["without_details"] == 0
    theirs = srv.state.calls_report()["by_call"]
    assert theirs["GetSellerList"] > 4                                  # retries happened
    assert scalar(engine, "SELECT sum(calls) FROM ebay.api_calls WHERE call_name = 'GetSellerList'") \
        == theirs["GetSellerList"]
    assert _calls(out["summaries"], "GetItem") == 0
    _assert_details_equal_truth(srv, engine, "seller_a", 0)

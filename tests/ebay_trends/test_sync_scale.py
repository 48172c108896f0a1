"""The demo catalogue of the system we replace: 2 sellers, 4,311 listings, page by page.

Day one costs one GetSellerList per page for the details (nothing is known yet:
200 full items a call instead of one GetItem per listing); a steady day costs one
GetMyeBaySelling and one traffic report per page, plus GetItem only for new or ended
listings.  Numbers come from ``ebay.sync_pages`` / ``ebay.api_calls``.
"""
from __future__ import annotations

import sqlalchemy as sa

from include.ebay_trends import budget
from test_sync_helpers import (
    column,
    day_of,
    register,
    rows,
    run_account,
    scalar,
)

SELLERS = ("seller_a", "seller_b")


def _page_calls(engine, run_id: str) -> dict[tuple[str, int], dict]:
    with engine.connect() as conn:
        res = conn.execute(sa.text("SELECT account_id, page, api_calls, items_seen FROM ebay.sync_pages "
                                   "WHERE run_id=:r"), {"r": run_id}).all()
    return {(r.account_id, r.page): {**r.api_calls, "_items": r.items_seen} for r in res}


def _without_token(calls: dict) -> dict:
    return {k: v for k, v in calls.items() if k not in ("OAuthToken", "_items")}


def test_4311_listings_two_days(emulator, engine):
    srv = emulator
    cat = srv.catalog
    register(engine, srv)
    d0 = day_of(srv)

    # ---- day one
    for s in SELLERS:
        res = run_account(srv, engine, s, "day0")
        assert res["finalise"]["finalised"] is True
    assert scalar(engine, "SELECT count(*) FROM ebay.listings") == 4311
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_snapshots WHERE snapshot_date=:d", d=d0) == 4311
    for s in SELLERS:
        assert column(engine, "SELECT item_id FROM ebay.listings WHERE account_id=:a ORDER BY item_id::numeric",
                      a=s) == cat.active_item_ids(s, 0)
    day0 = _page_calls(engine, "day0")
    assert len([k for k in day0 if k[1] > 0]) == 12 + 10                 # 2,400 / 200 + ceil(1,911 / 200)
    for (acct, page), calls in day0.items():
        if page > 0:
            # nothing known yet: the details come 200 at a time, no earlier day to fetch traffic for
            assert _without_token(calls) == {"GetMyeBaySelling": 1, "GetSellerList": 1}, (acct, page)
        else:
            assert _without_token(calls) == {"GetMyeBaySelling": 1}     # reconcile: page 1 again, no drift
    trading_day0 = budget.calls_used(engine, "emulator-client-id")
    assert trading_day0 == 22 + 22 + 2 * 2                  # GetSellerList + pages + (plan + page 0) x 2
    assert scalar(engine, "SELECT count(*) FROM ebay.listings WHERE category_id IS NULL "
                          "OR details_fetched_at IS NULL") == 0
    for s in SELLERS:
        for i in cat.active_item_ids(s, 0)[::97]:
            t = cat.item_state(s, i, 0)
            assert scalar(engine, "SELECT category_id FROM ebay.listings WHERE item_id=:i", i=i) == t["category_id"]
    assert trading_day0 == sum(srv.state.calls_report()["trading_quota"]["emulator-client-id"].values())

    # ---- the same day again: nothing changes, no GetItem, no GetSellerList
    before_l, before_s = rows(engine, "listings"), rows(engine, "listing_snapshots")
    for s in SELLERS:
        run_account(srv, engine, s, "day0")
    assert rows(engine, "listings") == before_l
    assert rows(engine, "listing_snapshots") == before_s
    assert all(c.get("GetItem", 0) == 0 and c.get("GetSellerList", 0) == 0
               for c in _page_calls(engine, "day0").values())

    # ---- day two
    spent_before = budget.calls_used(engine, "emulator-client-id")
    assert spent_before == trading_day0 + 22 + 2 * 2                      # the rerun: selling-list calls only
    srv.state.advance_day(1)
    d1 = day_of(srv)
    for s in SELLERS:
        assert run_account(srv, engine, s, "day1")["finalise"]["finalised"] is True
    new_total = ended_total = 0
    for s in SELLERS:
        active, started, ended = (cat.active_item_ids(s, 1), cat.started_item_ids(s, 1),
                                  cat.ended_item_ids(s, 1))
        new_total += len(started)
        ended_total += len(ended)
        assert column(engine, "SELECT item_id FROM ebay.listing_snapshots WHERE account_id=:a AND snapshot_date=:d "
                              "ORDER BY item_id::numeric", a=s, d=d1) == active
        assert sorted(column(engine, "SELECT item_id FROM ebay.listings WHERE account_id=:a AND ended_date=:d",
                             a=s, d=d1)) == sorted(ended)
        assert sorted(column(engine, "SELECT item_id FROM ebay.listings WHERE account_id=:a AND first_seen_date=:d",
                             a=s, d=d1)) == sorted(started)
    assert new_total and ended_total
    # day-0 snapshots got their views (complete day); day-1 ones wait for tomorrow
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_snapshots WHERE snapshot_date=:d "
                          "AND traffic_date=:d AND views IS NOT NULL", d=d0) == 4311
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_snapshots WHERE snapshot_date=:d "
                          "AND traffic_date IS NULL", d=d1) == scalar(
        engine, "SELECT count(*) FROM ebay.listing_snapshots WHERE snapshot_date=:d", d=d1)

    day1 = _page_calls(engine, "day1")
    steady = [c for (a, p), c in day1.items() if p > 0]
    # every page: one selling-list call and one traffic report; GetItem only for new listings
    assert all(c["GetMyeBaySelling"] == 1 and c["TrafficReport"] == 1 for c in steady)
    assert sum(c.get("GetItem", 0) for c in steady) == new_total
    plain = [c for c in steady if not c.get("GetItem")]
    assert len(plain) >= 18 and all(_without_token(c) == {"GetMyeBaySelling": 1, "TrafficReport": 1} for c in plain)
    # page 0: one selling-list call, one GetItem per ended listing (status, end time), their last views
    assert sum(c.get("GetItem", 0) for (a, p), c in day1.items() if p == 0) == ended_total
    trading_day1 = budget.calls_used(engine, "emulator-client-id") - spent_before
    assert trading_day1 == 22 + 2 * 2 + new_total + ended_total           # about 1 % of day one

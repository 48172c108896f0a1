"""Page drift: listings that end or start while the pages of one run are being read.

The emulator's ``drift`` fault ends ``end_per_call`` listings among the first 200 and
starts ``start_per_call`` new ones (largest ItemIDs) after every GetMyeBaySelling
call, so items shift between pages exactly like on eBay.  The truth is the list the
emulator serves afterwards (``/admin/catalog?ids=1``) and its catalogue values.
"""
from __future__ import annotations

import pytest

from include.ebay_trends.sync import SyncOptions, finalise_account, plan_pages, reconcile_account, sync_page
from test_sync_helpers import (
    admin,
    assert_matches_truth,
    client_for,
    column,
    day_of,
    register,
    run_account,
    scalar,
    served_ids,
)

SELLER = "seller_a"


def _ids(engine, sql: str, **params) -> set[str]:
    return set(column(engine, sql, **params))


def _pages(srv, engine, run_id: str, *, reverse: bool = False) -> tuple[list[dict], list[dict]]:
    day = day_of(srv)
    with client_for(srv, SELLER) as c:
        pages = plan_pages(SELLER, c, engine=engine)
        order = list(reversed(pages)) if reverse else pages
        summaries = [sync_page(SELLER, p, day, SyncOptions(), client=c, engine=engine, run_id=run_id)
                     for p in order]
    return pages, summaries


def _reconcile_and_finalise(srv, engine, run_id: str, planned: int) -> tuple[dict, dict]:
    day = day_of(srv)
    with client_for(srv, SELLER) as c:
        rec = reconcile_account(SELLER, day, SyncOptions(), client=c, engine=engine, run_id=run_id,
                                planned_pages=planned)
    return rec, finalise_account(SELLER, day, engine=engine, run_id=run_id)


@pytest.mark.parametrize("reverse", [False, True], ids=["pages-in-order", "pages-reversed"])
def test_drift_between_pages_known_listings(emulator_factory, engine, reverse):
    srv = emulator_factory(listings=(1000, 1), daily_churn=0.0)
    register(engine, srv)
    run_account(srv, engine, SELLER, "day0")                       # day 0: every listing known
    assert scalar(engine, "SELECT count(*) FROM ebay.listings") == 1000

    srv.state.advance_day(1)
    d1 = day_of(srv)
    admin(srv, "state", {"faults": {"drift": [{"seller": SELLER, "end_per_call": 3, "start_per_call": 2}]}})
    pages, summaries = _pages(srv, engine, "day1", reverse=reverse)
    admin(srv, "state", {"faults": {}})                            # the list is stable again

    served = set(served_ids(srv, SELLER))
    cat = admin(srv, f"catalog?seller={SELLER}", method="GET")
    ended, started = set(cat["ended"]), set(cat["started"])
    assert len(ended) == 3 * 6 and len(started) == 2 * 6         # plan + 5 pages, 1 drift step each
    seen = _ids(engine, "SELECT item_id FROM ebay.listing_snapshots WHERE snapshot_date=:d", d=d1)
    missed = served - seen
    assert missed, "the drift must have hidden listings from the pages (else this test proves nothing)"
    if reverse:
        # reading high pages first, ends shift listings already read into lower pages: double sightings
        assert sum(s["items_written"] for s in summaries) > len(seen)

    rec, fin = _reconcile_and_finalise(srv, engine, "day1", len(pages))
    assert fin["finalised"] is True
    snaps = _ids(engine, "SELECT item_id FROM ebay.listing_snapshots WHERE snapshot_date=:d", d=d1)
    # nothing missed, nothing invented: every served listing has today's snapshot; the only
    # extra rows are listings seen earlier today that ended later today
    assert served <= snaps <= served | ended
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_snapshots WHERE snapshot_date=:d", d=d1) == len(snaps)
    # the warehouse's active set is exactly eBay's, and every drift end is marked for today
    assert _ids(engine, "SELECT item_id FROM ebay.listings WHERE ended_date IS NULL") == served
    assert _ids(engine, "SELECT item_id FROM ebay.listings WHERE ended_date IS NOT NULL") == ended
    assert _ids(engine, "SELECT item_id FROM ebay.listings WHERE ended_date=:d", d=d1) == ended
    assert _ids(engine, "SELECT item_id FROM ebay.listings WHERE first_seen_date=:d", d=d1) == started
    assert scalar(engine, "SELECT count(*) FROM ebay.listings") == 1000 + len(started)
    # missed listings were found again by re-reading page 1 or confirmed active with GetItem,
    # and stored with the true values
    page1_now = set(served_ids(srv, SELLER)[:200])
    assert rec["confirmed_active"] == len((missed - started) - page1_now)
    if not reverse:
        assert rec["confirmed_active"] > 0          # reading in order, known listings slip between pages
    else:
        assert missed <= started                    # reading backwards, only the newest were missed
    assert_matches_truth(srv, engine, SELLER, 1, sorted(served))
    statuses = set(column(engine, "SELECT listing_status FROM ebay.listings WHERE ended_date IS NOT NULL"))
    assert statuses <= {"Ended", "Completed"}


def test_drift_on_day_one_new_listings_beyond_the_plan(emulator_factory, engine):
    """Nothing known yet, the list grows past the planned pages and shrinks at the front."""
    srv = emulator_factory(listings=(390, 1), daily_churn=0.0)
    register(engine, srv)
    d0 = day_of(srv)
    admin(srv, "state", {"faults": {"drift": [{"seller": SELLER, "end_per_call": 2, "start_per_call": 60}]}})
    pages, _ = _pages(srv, engine, "day0")
    assert len(pages) == 2                                          # planned from 390 entries
    admin(srv, "state", {"faults": {}})
    rec, fin = _reconcile_and_finalise(srv, engine, "day0", len(pages))

    served = set(served_ids(srv, SELLER))
    assert len(served) == 390 - 2 * 3 + 60 * 3                      # plan + 2 pages drifted
    assert rec["pages_beyond"], "listings started during the run spilled onto a page that was not planned"
    assert fin["finalised"] is True
    snaps = _ids(engine, "SELECT item_id FROM ebay.listing_snapshots WHERE snapshot_date=:d", d=d0)
    ended = set(admin(srv, f"catalog?seller={SELLER}", method="GET")["ended"])
    assert served <= snaps <= served | ended
    assert _ids(engine, "SELECT item_id FROM ebay.listings WHERE ended_date IS NULL") == served
    assert _ids(engine, "SELECT item_id FROM ebay.listings WHERE ended_date IS NOT NULL") <= ended
    assert_matches_truth(srv, engine, SELLER, 0, sorted(served))


def test_drift_that_never_stops(emulator_factory, engine):
    """Drift also during reconciliation: everything that existed at the last read is there."""
    srv = emulator_factory(listings=(800, 1), daily_churn=0.0)
    register(engine, srv)
    run_account(srv, engine, SELLER, "day0")
    srv.state.advance_day(1)
    d1 = day_of(srv)
    admin(srv, "state", {"faults": {"drift": [{"seller": SELLER, "end_per_call": 2, "start_per_call": 1}]}})
    pages, _ = _pages(srv, engine, "day1")
    rec, fin = _reconcile_and_finalise(srv, engine, "day1", len(pages))
    assert fin["finalised"] is True

    served_now = set(served_ids(srv, SELLER))
    # the last GetMyeBaySelling call (reconcile's) drifted once more after it answered
    last_started = {srv.catalog.item_id(SELLER, s) for s in srv.state.drift_started[SELLER][-1:]}
    snaps = _ids(engine, "SELECT item_id FROM ebay.listing_snapshots WHERE snapshot_date=:d", d=d1)
    assert served_now - last_started <= snaps
    assert scalar(engine, "SELECT count(*) FROM ebay.listings") == \
        800 + len(srv.state.drift_started[SELLER]) - len(last_started)
    # no listing eBay still lists is marked ended
    assert not (served_now & _ids(engine, "SELECT item_id FROM ebay.listings WHERE ended_date IS NOT NULL"))

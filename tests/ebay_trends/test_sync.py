"""sync_page / finalise_account against the emulator over HTTP and a real PostgreSQL.

Expected values come from the emulator's catalogue (``srv.catalog``), not from the sync.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from include.ebay_trends import budget
from include.ebay_trends.errors import CallBudgetExhausted, TransientError
from include.ebay_trends.settings import RAW_EXCERPT_MAX_BYTES
from include.ebay_trends.sync import (
    AccountRef,
    SyncOptions,
    finalise_account,
    plan_pages,
    reconcile_account,
    sync_page,
)
from test_sync_helpers import (
    SECRETS,
    assert_matches_truth,
    client_for,
    column,
    day_of,
    register,
    rows,
    run_account,
    scalar,
)

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- planning
def test_plan_pages_one_call_and_empty_account(emulator_factory, engine):
    srv = emulator_factory(listings=(450, 0))
    with client_for(srv, "seller_a") as c:
        pages = plan_pages(AccountRef("seller_a"), c)
        assert dict(c.calls)["GetMyeBaySelling"] == 1
    assert pages == [
        {"account": "seller_a", "page": n, "pages": 3, "entries": 450, "entries_per_page": 200} for n in (1, 2, 3)
    ]
    with client_for(srv, "seller_b") as c:
        assert plan_pages("seller_b", c) == []
        assert plan_pages("seller_b", c, entries_per_page=50) == []
    with client_for(srv, "seller_a") as c:
        assert len(plan_pages("seller_a", c, entries_per_page=7)) == 65        # ceil(450 / 7)


# --------------------------------------------------------------------------- values
def test_page_rows_equal_the_catalogue(emulator_factory, engine):
    """Decimal money, UTC times, non-ASCII titles, GBP seller, category from GetItem."""
    srv = emulator_factory(listings=(260, 120))
    register(engine, srv)
    day = day_of(srv)
    for seller in ("seller_a", "seller_b"):
        with client_for(srv, seller) as c:
            for p in plan_pages(seller, c):
                s = sync_page(seller, p, day, SyncOptions(), client=c, engine=engine, run_id="r1")
                assert set(s) >= {"account", "page", "pages", "items_seen", "items_written", "items_failed",
                                  "calls", "duration_s", "peak_rss_mb"}
                assert len(json.dumps(s)) < 1000             # a tiny summary, never item data
        ids = srv.catalog.active_item_ids(seller, 0)
        assert column(engine, "SELECT item_id FROM ebay.listings WHERE account_id=:a ORDER BY item_id::numeric",
                      a=seller) == ids
        assert_matches_truth(srv, engine, seller, 0, ids)

    lst = rows(engine, "listings")
    for (seller, item_id), r in lst.items():
        t = srv.catalog.item_state(seller, item_id, 0)
        assert (r["category_id"], r["category_name"]) == (t["category_id"], t["category_name"])
        assert r["first_seen_date"] == r["last_seen_date"] == day and r["ended_date"] is None
        assert r["listing_status"] == "Active"
        assert r["start_time"].utcoffset() == timedelta(0)
    assert {r["currency"] for (s, _), r in lst.items() if s == "seller_b"} == {"GBP"}
    titles = [r["title"] for r in lst.values()]
    assert any(not t.isascii() for t in titles)                     # Japanese / accented titles survive
    snaps = rows(engine, "listing_snapshots")
    assert len(snaps) == 380
    with engine.connect() as conn:
        price = conn.execute(sa.text("SELECT price FROM ebay.listing_snapshots LIMIT 1")).scalar()
    assert type(price).__name__ == "Decimal"


# --------------------------------------------------------------------------- transactions
def _count_write_transactions(engine) -> list[list[int]]:
    """Per committed transaction: the row counts of its listing/snapshot INSERTs."""
    committed: list[list[int]] = []

    @event.listens_for(engine, "before_execute")
    def before(conn, clause, multiparams, params, _opts):
        table = getattr(clause, "table", None)
        if isinstance(clause, sa.sql.dml.Insert) and getattr(table, "name", None) in ("listings", "listing_snapshots"):
            conn.info.setdefault("writes", []).append(len(multiparams) if multiparams else 1)

    @event.listens_for(engine, "commit")
    def commit(conn):
        writes = conn.info.pop("writes", None)
        if writes:
            committed.append(writes)

    @event.listens_for(engine, "rollback")
    def rollback(conn):
        conn.info.pop("writes", None)

    return committed


@pytest.mark.parametrize("batch, expected", [(100, [[100, 100], [100, 100]]),
                                              (64, [[64, 64], [64, 64], [64, 64], [8, 8]])])
def test_transaction_boundaries(emulator_factory, engine, batch, expected):
    srv = emulator_factory(listings=(200, 1))
    register(engine, srv)
    committed = _count_write_transactions(engine)
    commits = Counter()
    event.listen(engine, "commit", lambda conn: commits.update(["all"]))
    with client_for(srv) as c:
        s = sync_page("seller_a", 1, day_of(srv), SyncOptions(batch_size=batch), client=c, engine=engine,
                      run_id="r")
    assert s["items_written"] == 200
    # each transaction holds <= batch items' listing rows and their snapshot rows
    assert committed == expected
    # plus: sync_pages start, api_calls, sync_pages finish (no traffic on day one, no errors)
    assert commits["all"] == len(expected) + 3


# --------------------------------------------------------------------------- idempotency
def test_rerun_gives_identical_rows(emulator_factory, engine):
    srv = emulator_factory(listings=(430, 1))
    register(engine, srv)
    run_account(srv, engine, "seller_a", "run-1")
    first_l, first_s = rows(engine, "listings"), rows(engine, "listing_snapshots")
    fetched = column(engine, "SELECT details_fetched_at FROM ebay.listings ORDER BY item_id")
    assert len(first_l) == len(first_s) == 430

    res = run_account(srv, engine, "seller_a", "run-1")            # the same run again (task retries)
    assert rows(engine, "listings") == first_l
    assert rows(engine, "listing_snapshots") == first_s
    assert column(engine, "SELECT details_fetched_at FROM ebay.listings ORDER BY item_id") == fetched
    # known listings are not enriched again: 1 GetMyeBaySelling per page, nothing else on day one
    assert [s["calls"].get("GetItem", 0) for s in res["summaries"]] == [0, 0, 0]

    run_account(srv, engine, "seller_a", "run-2")                  # a new run for the same date
    drop = {"run_id"}
    assert {k: {c: v for c, v in r.items() if c not in drop} for k, r in rows(engine, "listing_snapshots").items()} \
        == {k: {c: v for c, v in r.items() if c not in drop} for k, r in first_s.items()}
    assert rows(engine, "listings") == first_l


CRASH_SCRIPT = textwrap.dedent("""
    import os, sys
    from datetime import date
    from sqlalchemy import event
    from include.ebay_trends import warehouse, sync
    from include.ebay_trends.client import AccountConfig, EbayClient

    emu_url, db_url, day = sys.argv[1], sys.argv[2], date.fromisoformat(sys.argv[3])
    engine = warehouse.make_engine(db_url)
    done = {"listing_commits": 0}

    @event.listens_for(engine, "before_execute")
    def before(conn, clause, multiparams, params, opts):
        if getattr(getattr(clause, "table", None), "name", None) == "listings" and clause.is_insert:
            if done["listing_commits"] >= 1:
                os._exit(137)          # killed mid-page, like the OOM killer: batch 2 never reaches PG
            conn.info["writes_listings"] = True

    @event.listens_for(engine, "commit")
    def commit(conn):
        if conn.info.pop("writes_listings", False):
            done["listing_commits"] += 1

    client = EbayClient(AccountConfig("seller_a", "EBAY_US", "emulator-client-id", "emulator-client-secret",
                                      "emu-refresh-seller_a", emu_url))
    sync.sync_page("seller_a", {"account": "seller_a", "page": 1, "pages": 1, "entries": 200,
                                "entries_per_page": 200}, day, sync.SyncOptions(batch_size=100),
                   client=client, engine=engine, run_id="crash-run", attempt=1)
    sys.exit(0)
""")


def test_crash_mid_page_then_rerun(emulator_factory, engine, fresh_pg_url):
    srv = emulator_factory(listings=(200, 1))
    register(engine, srv)
    day = day_of(srv)
    proc = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, srv.url, fresh_pg_url, day.isoformat()],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 137, proc.stderr[-2000:]
    # the first 100-item transaction survived the crash, the second never happened
    assert scalar(engine, "SELECT count(*) FROM ebay.listings") == 100
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_snapshots") == 100
    assert scalar(engine, "SELECT status FROM ebay.sync_pages WHERE run_id='crash-run'") == "running"

    with client_for(srv) as c:       # the task retry
        s = sync_page("seller_a", {"account": "seller_a", "page": 1, "pages": 1, "entries": 200,
                                   "entries_per_page": 200}, day, SyncOptions(), client=c, engine=engine,
                      run_id="crash-run", attempt=2)
    ids = srv.catalog.active_item_ids("seller_a", 0)
    assert column(engine, "SELECT item_id FROM ebay.listings ORDER BY item_id::numeric") == ids
    assert column(engine, "SELECT item_id FROM ebay.listing_snapshots ORDER BY item_id::numeric") == ids
    assert_matches_truth(srv, engine, "seller_a", 0, ids)
    assert scalar(engine, "SELECT count(*) FROM ebay.listings WHERE category_id IS NULL") == 0
    # only the 100 listings the crashed attempt had not stored needed GetItem again
    assert s["calls"]["GetItem"] == 100
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT status, attempt, items_written FROM ebay.sync_pages")).one()
    assert tuple(row) == ("success", 2, 200)


# --------------------------------------------------------------------------- quarantine
def test_malformed_and_missing_items_are_quarantined(emulator_factory, engine):
    srv = emulator_factory(listings=(600, 1), faults={"corrupt_items": [
        {"seller": "seller_a", "page": 1, "kind": "bad_price"},
        {"seller": "seller_a", "page": 2, "kind": "huge_title"},
        {"seller": "seller_a", "page": 3, "kind": "unknown_currency"},
    ]})
    ids = srv.catalog.active_item_ids("seller_a", 0)
    gone = ids[450]
    srv.state.set_faults({**srv.state.faults.spec.to_dict(), "not_found_items": [gone]})
    register(engine, srv)
    # GetItem's answers are what is tested here (GetSellerList's bad items: test_sync_bulk.py).
    opts = SyncOptions(bulk_details=False)
    res = run_account(srv, engine, "seller_a", "r1", opts)
    victims = {ids[100], ids[300], ids[500]}            # the middle item of each page is corrupted
    assert [s["items_failed"] for s in res["summaries"]] == [1, 1, 2]
    assert [s["items_written"] for s in res["summaries"]] == [199, 199, 198]
    stored = set(column(engine, "SELECT item_id FROM ebay.listings"))
    assert stored == set(ids) - victims - {gone}
    with engine.connect() as conn:
        errs = conn.execute(sa.text(
            "SELECT page, item_id, error_class, message, raw_excerpt FROM ebay.item_errors ORDER BY page, item_id"
        )).all()
    assert {(e.page, e.item_id) for e in errs} == {(1, ids[100]), (2, ids[300]), (3, ids[500]), (3, gone)}
    assert {e.error_class for e in errs if e.item_id == gone} == {"ItemNotFound"}
    for e in errs:
        assert len((e.raw_excerpt or "").encode()) <= RAW_EXCERPT_MAX_BYTES
        assert not any(s in (e.message + (e.raw_excerpt or "")) for s in SECRETS)
    # a rerun of the same run does not duplicate the errors
    run_account(srv, engine, "seller_a", "r1", opts)
    assert scalar(engine, "SELECT count(*) FROM ebay.item_errors") == 4
    # the not-found listing was never stored, so it is not "ended" either
    assert scalar(engine, "SELECT count(*) FROM ebay.listings WHERE ended_date IS NOT NULL") == 0


# --------------------------------------------------------------------------- days, ended, traffic
def test_two_days_ended_listings_and_traffic(emulator_factory, engine):
    srv = emulator_factory(listings=(700, 1), daily_churn=0.02)
    register(engine, srv)
    cat = srv.catalog
    d0, d1 = cat.date_of(0), cat.date_of(1)
    run_account(srv, engine, "seller_a", "day0")
    # a listing wrongly marked ended comes back as active when it is seen again
    revived = cat.active_item_ids("seller_a", 1)[5]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE ebay.listings SET ended_date=:d, listing_status='Ended' WHERE item_id=:i"),
                     {"d": d0, "i": revived})

    srv.state.advance_day(1)
    res = run_account(srv, engine, "seller_a", "day1")
    assert res["finalise"]["finalised"] is True

    active1 = cat.active_item_ids("seller_a", 1)
    ended1 = cat.ended_item_ids("seller_a", 1)
    started1 = cat.started_item_ids("seller_a", 1)
    assert ended1 and started1
    assert column(engine, "SELECT item_id FROM ebay.listing_snapshots WHERE snapshot_date=:d "
                          "ORDER BY item_id::numeric", d=d1) == active1
    assert_matches_truth(srv, engine, "seller_a", 1, active1)
    assert sorted(column(engine, "SELECT item_id FROM ebay.listings WHERE ended_date=:d", d=d1)) == sorted(ended1)
    assert scalar(engine, "SELECT count(*) FROM ebay.listings WHERE ended_date IS NULL") == len(active1)
    assert scalar(engine, "SELECT ended_date FROM ebay.listings WHERE item_id=:i", i=revived) is None
    assert sorted(column(engine, "SELECT item_id FROM ebay.listings WHERE first_seen_date=:d", d=d1)) == sorted(started1)
    # GetItem told the real end status and time
    lst = rows(engine, "listings")
    for i in ended1:
        t = cat.item_state("seller_a", i, 1)
        assert lst[("seller_a", i)]["listing_status"] == ("Completed" if t["quantity_sold"] else "Ended")
        assert lst[("seller_a", i)]["end_time"] == t["end_time"]

    # yesterday's snapshots got yesterday's complete traffic numbers; today's wait for tomorrow
    snaps = rows(engine, "listing_snapshots")
    for (s, i, d), r in snaps.items():
        if d == d0:
            tr = cat.traffic("seller_a", i, 0)
            assert (r["traffic_date"], r["views"], r["impressions"], r["transactions"]) == \
                (d0, tr["views"], tr["impressions"], tr["transactions"]), i
        else:
            assert r["traffic_date"] is None and r["views"] is None
    # day 1: GetItem only for the new listings on the pages, and for the ended ones in page 0
    calls = {p: json.loads(c) if isinstance(c, str) else c for p, c in
             (tuple(r) for r in sa_rows(engine, "SELECT page, api_calls FROM ebay.sync_pages WHERE run_id='day1'"))}
    assert sum(c.get("GetItem", 0) for p, c in calls.items() if p > 0) == len(started1)
    assert calls[0]["GetItem"] == len(ended1)


def sa_rows(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def test_partial_traffic_day_is_never_stored(emulator_factory, engine):
    srv = emulator_factory(listings=(150, 1), daily_churn=0.0)
    register(engine, srv)
    cat = srv.catalog
    run_account(srv, engine, "seller_a", "day0")
    srv.state.advance_day(1)
    srv.state.update({"traffic_lag_days": 2})            # day 0 is not complete yet on day 1
    run_account(srv, engine, "seller_a", "day1")
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_snapshots WHERE traffic_date IS NOT NULL") == 0
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_snapshots WHERE views IS NOT NULL") == 0

    srv.state.advance_day(1)
    srv.state.update({"traffic_lag_days": 1})
    run_account(srv, engine, "seller_a", "day2")
    # day 1 (yesterday) and the hole left on day 0 are both filled, with the final numbers
    for d in (0, 1):
        got = dict(sa_rows(engine, "SELECT item_id, views FROM ebay.listing_snapshots WHERE snapshot_date=:d "
                                   "AND traffic_date=:d", d=cat.date_of(d)))
        assert got == {i: cat.traffic("seller_a", i, d)["views"] for i in cat.active_item_ids("seller_a", d)}
    assert scalar(engine, "SELECT count(*) FROM ebay.listing_snapshots WHERE snapshot_date=:d AND "
                          "traffic_date IS NULL", d=cat.date_of(2)) == 150


# --------------------------------------------------------------------------- failures
def test_failed_page_blocks_finalise_and_rerun_recovers(emulator_factory, engine):
    srv = emulator_factory(listings=(450, 1), daily_churn=0.05)
    register(engine, srv)
    run_account(srv, engine, "seller_a", "day0")
    srv.state.advance_day(1)
    srv.state.set_faults({"fail_pages": [{"seller": "seller_a", "page": 2, "kind": "http503"}]})
    day = day_of(srv)
    with client_for(srv) as c:
        pages = plan_pages("seller_a", c)
        sync_page("seller_a", pages[0], day, SyncOptions(), client=c, engine=engine, run_id="day1")
        with pytest.raises(TransientError) as ei:
            sync_page("seller_a", pages[1], day, SyncOptions(), client=c, engine=engine, run_id="day1")
        assert ei.value.page == 2
        sync_page("seller_a", pages[2], day, SyncOptions(), client=c, engine=engine, run_id="day1")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT status, error_summary, api_calls FROM ebay.sync_pages "
                                   "WHERE run_id='day1' AND page=2")).one()
    assert row.status == "failed" and "TransientError" in row.error_summary
    assert not any(s in row.error_summary for s in SECRETS)
    assert row.api_calls["GetMyeBaySelling"] == 4          # 1 + 3 retries, all recorded
    fin = finalise_account("seller_a", day, engine=engine, run_id="day1")
    assert fin == {"account": "seller_a", "finalised": False, "failed_pages": [2],
                   "reason": "pages missing or not successful"}
    assert scalar(engine, "SELECT count(*) FROM ebay.listings WHERE ended_date IS NOT NULL") == 0

    srv.state.set_faults({})
    with client_for(srv) as c:
        s = sync_page("seller_a", pages[1], day, SyncOptions(), client=c, engine=engine, run_id="day1", attempt=2)
    assert s["items_written"] == 200
    fin = finalise_account("seller_a", day, engine=engine, run_id="day1")
    assert fin["finalised"] is True
    assert sorted(column(engine, "SELECT item_id FROM ebay.listings WHERE ended_date=:d", d=day)) == \
        sorted(srv.catalog.ended_item_ids("seller_a", 1))


def test_unregistered_account_is_refused(emulator_factory, engine):
    srv = emulator_factory(listings=(10, 1))
    with client_for(srv) as c:
        with pytest.raises(LookupError, match="accounts add"):
            sync_page("seller_a", 1, day_of(srv), SyncOptions(), client=c, engine=engine, run_id="r")
        assert sum(c.calls.values()) == 0
    assert scalar(engine, "SELECT count(*) FROM ebay.sync_pages") == 0


# --------------------------------------------------------------------------- budget
def test_budget_exhausted_before_any_call(emulator_factory, engine):
    srv = emulator_factory(listings=(300, 1))
    register(engine, srv)
    opts = SyncOptions(daily_call_budget=5000)
    # 4,900 Trading calls already spent today by this application (another account)
    budget.record_calls(engine, "emulator-client-id", "seller_b", {"GetItem": 4900})
    with client_for(srv) as c:
        with pytest.raises(CallBudgetExhausted) as ei:
            sync_page("seller_a", {"account": "seller_a", "page": 1, "pages": 2, "entries": 300,
                                   "entries_per_page": 200}, day_of(srv), opts, client=c, engine=engine, run_id="r")
        assert sum(c.calls.values()) == 0                     # not even a token request
    assert ei.value.resets_at == budget.next_reset()
    assert ei.value.resets_at.isoformat() in str(ei.value)
    assert scalar(engine, "SELECT status FROM ebay.sync_pages") == "failed"
    assert scalar(engine, "SELECT count(*) FROM ebay.listings") == 0
    assert srv.state.calls_report()["total"] == 0

    # page 2 (100 entries -> estimate 101) still fits in the 100 left? no: 101 > 100
    with client_for(srv) as c, pytest.raises(CallBudgetExhausted):
        sync_page("seller_a", {"account": "seller_a", "page": 2, "pages": 2, "entries": 300,
                               "entries_per_page": 200}, day_of(srv), opts, client=c, engine=engine, run_id="r")
    # without enrichment a page costs one call and goes ahead
    with client_for(srv) as c:
        s = sync_page("seller_a", {"account": "seller_a", "page": 2, "pages": 2, "entries": 300,
                                   "entries_per_page": 200}, day_of(srv), SyncOptions(item_details="none"),
                      client=c, engine=engine, run_id="r")
    assert s["calls"] == {"GetMyeBaySelling": 1, "OAuthToken": 1} and s["items_written"] == 100


def test_api_calls_match_what_the_emulator_counted(emulator_factory, engine):
    srv = emulator_factory(listings=(420, 1), faults={"error_rate": 0.05, "error_kinds": ["http500"],
                                                      "error_calls": ["GetItem"], "error_seed": 3})
    register(engine, srv)
    run_account(srv, engine, "seller_a", "r1", SyncOptions(bulk_details=False))
    ours = dict(sa_rows(engine, "SELECT call_name, sum(calls) FROM ebay.api_calls GROUP BY 1"))
    theirs = srv.state.calls_report()["by_call"]
    # every HTTP attempt, retries and failures included, is in ebay.api_calls
    assert {k: int(v) for k, v in ours.items()} == theirs
    pages_total = Counter()
    for c in column(engine, "SELECT api_calls FROM ebay.sync_pages"):
        pages_total.update(c)
    assert pages_total["GetItem"] == theirs["GetItem"] and pages_total["GetItem"] > 420   # retries happened


def test_dry_run_writes_no_listings(emulator_factory, engine):
    srv = emulator_factory(listings=(250, 1), faults={"corrupt_items": [
        {"seller": "seller_a", "page": 1, "kind": "missing_fields"}]})
    register(engine, srv)
    res = run_account(srv, engine, "seller_a", "dry", SyncOptions(dry_run=True))
    assert [s["items_seen"] for s in res["summaries"]] == [200, 50]
    assert res["summaries"][0]["items_failed"] == 1
    assert res["finalise"]["finalised"] is False
    for t in ("listings", "listing_snapshots", "item_errors"):
        assert scalar(engine, f"SELECT count(*) FROM ebay.{t}") == 0
    assert column(engine, "SELECT DISTINCT status FROM ebay.sync_pages") == ["dry_run"]
    assert scalar(engine, "SELECT sum(calls) FROM ebay.api_calls WHERE call_name='GetMyeBaySelling'") == 4


def test_details_beyond_the_budget_are_deferred_not_lost(emulator_factory, engine):
    srv = emulator_factory(listings=(200, 1))
    register(engine, srv)
    day = day_of(srv)
    run_account(srv, engine, "seller_a", "r0", SyncOptions(bulk_details=False))
    with engine.begin() as conn:             # 50 listings lack details (e.g. enrichment failed before)
        conn.execute(sa.text("UPDATE ebay.listings SET details_fetched_at=NULL, category_id=NULL "
                             "WHERE item_id IN (SELECT item_id FROM ebay.listings ORDER BY item_id LIMIT 50)"))
    spent = budget.calls_used(engine, "emulator-client-id")
    opts = SyncOptions(daily_call_budget=spent + 20)           # 20 Trading calls left today
    # planned when the list was smaller: the up-front estimate (1 call) is too low, the
    # real need (50 GetItem) is only known once the page is read
    page = {"account": "seller_a", "page": 1, "pages": 1, "entries": 150, "entries_per_page": 200}
    with client_for(srv) as c:
        s = sync_page("seller_a", page, day, opts, client=c, engine=engine, run_id="r1")
    assert s["calls"]["GetItem"] == 19 and s["details_deferred"] == 31      # 1 + 19 = the 20 left
    assert s["items_written"] == 200
    assert scalar(engine, "SELECT count(*) FROM ebay.listings WHERE details_fetched_at IS NULL") == 31
    assert scalar(engine, "SELECT details_deferred FROM ebay.sync_pages WHERE run_id='r1'") == 31
    assert budget.calls_used(engine, "emulator-client-id") == spent + 20
    with client_for(srv) as c:               # the next run (new budget) enriches the rest
        s = sync_page("seller_a", page, day, SyncOptions(), client=c, engine=engine, run_id="r2")
    assert s["calls"]["GetItem"] == 31 and s["details_deferred"] == 0
    assert scalar(engine, "SELECT count(*) FROM ebay.listings WHERE category_id IS NULL") == 0


def test_reconcile_that_cannot_decide_blocks_finalise(emulator_factory, engine):
    srv = emulator_factory(listings=(300, 1), daily_churn=0.05)
    register(engine, srv)
    run_account(srv, engine, "seller_a", "day0")
    srv.state.advance_day(1)
    day = day_of(srv)
    ended = srv.catalog.ended_item_ids("seller_a", 1)
    assert ended
    with client_for(srv) as c:
        pages = plan_pages("seller_a", c)
        for p in pages:
            sync_page("seller_a", p, day, SyncOptions(), client=c, engine=engine, run_id="day1")
    srv.state.set_faults({"error_rate": 1.0, "error_kinds": ["http500"], "error_calls": ["GetItem"]})
    with client_for(srv) as c, pytest.raises(TransientError, match="could not be checked"):
        reconcile_account("seller_a", day, SyncOptions(), client=c, engine=engine, run_id="day1",
                          planned_pages=len(pages))
    fin = finalise_account("seller_a", day, engine=engine, run_id="day1")
    assert fin["finalised"] is False and fin["failed_pages"] == [0]
    assert scalar(engine, "SELECT count(*) FROM ebay.listings WHERE ended_date IS NOT NULL") == 0

    srv.state.set_faults({})
    with client_for(srv) as c:
        rec = reconcile_account("seller_a", day, SyncOptions(), client=c, engine=engine, run_id="day1",
                                planned_pages=len(pages), attempt=2)
    assert rec["confirmed_ended"] == len(ended)
    fin = finalise_account("seller_a", day, engine=engine, run_id="day1")
    assert fin["finalised"] is True and fin["ended"] == len(ended)
    assert sorted(column(engine, "SELECT item_id FROM ebay.listings WHERE ended_date=:d", d=day)) == sorted(ended)

"""The DAG's task functions (include/ebay_trends/pipeline.py) against the emulator and
PostgreSQL, called with plain context dicts — the parts that ``dag.test()`` runs don't
reach cheaply: date resolution, bad params, an emptied account, a revoked account."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest
import requests
import sqlalchemy as sa

from include.ebay_trends import pipeline, warehouse


def test_snapshot_date_comes_from_the_run_never_the_clock():
    logical = datetime(2026, 11, 5, 23, 30, tzinfo=timezone.utc)
    assert pipeline.snapshot_date({"params": {}, "logical_date": logical}) == date(2026, 11, 5)
    # a logical date in another zone is converted to UTC first
    from zoneinfo import ZoneInfo

    tokyo = datetime(2026, 11, 6, 1, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert pipeline.snapshot_date({"params": {}, "logical_date": tokyo}) == date(2026, 11, 5)
    # manual runs without a logical date fall back to run_after
    run = SimpleNamespace(run_after=datetime(2026, 11, 7, 8, tzinfo=timezone.utc))
    assert pipeline.snapshot_date({"params": {}, "logical_date": None, "dag_run": run}) == date(2026, 11, 7)
    # the param override wins
    assert pipeline.snapshot_date({"params": {"snapshot_date": "2026-10-31"},
                                   "logical_date": logical}) == date(2026, 10, 31)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        pipeline.snapshot_date({"params": {"snapshot_date": "31/10/2026"}, "logical_date": logical})
    with pytest.raises(ValueError, match="neither a logical date"):
        pipeline.snapshot_date({"params": {}, "logical_date": None, "dag_run": None})


def test_sync_options_from_params_reject_bad_values():
    opts = pipeline.sync_options({"item_details": "all", "page_size": 50, "dry_run": True})
    assert (opts.item_details, opts.entries_per_page, opts.dry_run) == ("all", 50, True)
    with pytest.raises(ValueError, match="item_details"):
        pipeline.sync_options({"item_details": "some"})
    with pytest.raises(ValueError, match="page_size"):
        pipeline.sync_options({"page_size": 201})


def test_page_label():
    assert pipeline.page_label({"account": "seller_a", "page": 5, "pages": 22}) == "seller_a · page 5/22"
    assert pipeline.page_label({"account": "seller_a", "page": 1, "pages": None}) == "seller_a · page 1/?"


@pytest.fixture
def wired(fresh_pg_url, emulator_factory, monkeypatch):
    emu = emulator_factory(sellers=("seller_a", "seller_b", "seller_c"), listings=(250, 0, 120))
    monkeypatch.setenv("EBAY_WAREHOUSE_URL", fresh_pg_url)
    engine = warehouse.make_engine(fresh_pg_url)
    warehouse.migrate(engine)
    markets = {"seller_a": "EBAY_US", "seller_b": "EBAY_GB", "seller_c": "EBAY_DE"}
    for seller, mp in markets.items():
        warehouse.upsert_account(engine, seller, conn_id=f"ebay_{seller}", marketplace_id=mp)
        monkeypatch.setenv(f"AIRFLOW_CONN_EBAY_{seller.upper()}", json.dumps({
            "conn_type": "ebay", "login": "emulator-client-id", "password": "emulator-client-secret",
            "extra": {"refresh_token": f"emu-refresh-{seller}", "marketplace_id": mp,
                      "api_base_url": emu.url}}))
    yield SimpleNamespace(emu=emu, engine=engine)
    engine.dispose()
    pipeline._engine_for.cache_clear()


def test_accounts_selection_and_unknown_account(wired):
    got = pipeline.select_accounts({"accounts": []})
    assert [a["account"] for a in got] == ["seller_a", "seller_b", "seller_c"]
    assert pipeline.select_accounts({"accounts": ["seller_c"]})[0]["marketplace_id"] == "EBAY_DE"
    warehouse.set_account_active(wired.engine, "seller_c", False)
    assert [a["account"] for a in pipeline.select_accounts({})] == ["seller_a", "seller_b"]
    with pytest.raises(ValueError, match="seller_c, seller_x"):
        pipeline.select_accounts({"accounts": ["seller_c", "seller_x"]})


def test_planning_empty_and_revoked_accounts(wired):
    requests.post(wired.emu.url + "/admin/revoke", json={"seller": "seller_c"}, timeout=10).raise_for_status()
    accounts = pipeline.select_accounts({})
    planned = pipeline.plan_pages(accounts, {"params": {}})
    by_account: dict[str, list[dict]] = {}
    for p in planned:
        by_account.setdefault(p["account"], []).append(p)
    assert [p["page"] for p in by_account["seller_a"]] == [1, 2]
    # an emptied account still gets one page, so it is finalised and its listings end
    assert by_account["seller_b"] == [{**by_account["seller_b"][0], "page": 1, "pages": 1, "entries": 0}]
    # a revoked account gets page 1 carrying the error; its mapped instance fails fast
    assert by_account["seller_c"][0]["plan_error"] == "AuthRevoked"
    assert json.dumps(planned).find("emu-refresh") == -1      # nothing secret goes to XCom


def test_check_pages_names_what_failed(wired):
    day = date(2026, 11, 1)
    planned = [{"account": "seller_a", "page": 1, "pages": 2}, {"account": "seller_a", "page": 2, "pages": 2}]
    with wired.engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO ebay.sync_pages (run_id, account_id, page, snapshot_date, status) "
            "VALUES ('r1', 'seller_a', 1, :d, 'success'), ('r1', 'seller_a', 2, :d, 'failed')"), {"d": day})
    ctx = {"run_id": "r1", "params": {}}
    with pytest.raises(RuntimeError, match=r"seller_a: pages \[2\] failed"):
        pipeline.check_pages(planned, {"finalised": [], "not_finalised": {}}, {"computed": True}, ctx)
    with pytest.raises(RuntimeError, match="compute_trends failed"):
        pipeline.check_pages(planned[:1], {"finalised": ["seller_a"], "not_finalised": {}}, None, ctx)
    assert pipeline.check_pages(planned[:1], {"finalised": ["seller_a"], "not_finalised": {}},
                                {"computed": True}, ctx) == {"ok": True, "pages": 1}


def test_an_account_with_a_failed_page_still_gets_its_staged_details(wired):
    """finalise_accounts refuses to finalise (nothing ended) but merges what the good
    pages' GetSellerList calls staged, so their listings have categories today."""
    from include.ebay_trends import sync

    requests.post(wired.emu.url + "/admin/state", json={"faults": {"fail_pages": [
        {"seller": "seller_a", "page": 2, "kind": "http500"}]}}, timeout=10).raise_for_status()
    context = {"params": {"accounts": ["seller_a"]}, "logical_date": datetime(2026, 11, 1, tzinfo=timezone.utc),
               "run_id": "r-failed-page"}
    planned = pipeline.plan_pages(pipeline.select_accounts({"accounts": ["seller_a"]}), context)
    assert [p["details"] for p in planned] == [sync.DETAILS_SELLER_LIST] * 2
    ti = SimpleNamespace(try_number=1)
    pipeline.sync_page_task(planned[0], {**context, "ti": ti})
    with pytest.raises(Exception):
        pipeline.sync_page_task(planned[1], {**context, "ti": ti})
    with wired.engine.connect() as c:
        staged = set(c.execute(sa.text("SELECT item_id FROM ebay.listing_details")).scalars())
        stored = set(c.execute(sa.text("SELECT item_id FROM ebay.listings")).scalars())
        waiting = set(c.execute(sa.text("SELECT item_id FROM ebay.listings WHERE details_fetched_at IS NULL"))
                      .scalars())
    assert len(stored) == 200 and staged                   # page 1 stored; GetSellerList pages staged
    # Some of page 1's listings have their details on the failed task's GetSellerList page,
    # which got through: only the merge can give them their details.
    assert waiting & staged
    out = pipeline.finalise_accounts(planned, context)
    assert out["finalised"] == [] and "pages not successful: [2]" in out["not_finalised"]["seller_a"]
    with wired.engine.connect() as c:
        with_details = set(c.execute(sa.text(
            "SELECT item_id FROM ebay.listings WHERE details_fetched_at IS NOT NULL "
            "AND category_id IS NOT NULL")).scalars())
        ended = c.execute(sa.text("SELECT count(*) FROM ebay.listings WHERE ended_date IS NOT NULL")).scalar()
    assert with_details == stored & staged and with_details
    assert ended == 0

"""End-to-end: the real DAG under ``dag.test()`` (SQLite metadata), the emulator over
HTTP and a real PostgreSQL warehouse.  Each test checks the exact warehouse contents
against the emulator's own truth functions."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from include.ebay_emulator.catalog import get_catalog

ROOT = Path(__file__).resolve().parents[2]
START = date(2026, 11, 1)          # the emulator's day 0


def logical(day: int) -> datetime:
    d = START + timedelta(days=day)
    return datetime(d.year, d.month, d.day, 6, tzinfo=timezone.utc)

pytestmark = pytest.mark.airflow

SELLERS = ("seller_a", "seller_b")


def run(env, day: int, conf: dict | None = None):
    requests.post(env.emulator.url + "/admin/state", json={"day": day}, timeout=10).raise_for_status()
    return env.dag.test(logical_date=logical(day), run_conf=conf or {})


def task_states(run_id: str) -> dict[tuple[str, int], tuple[str, str | None]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as s:
        rows = s.query(TaskInstance).filter(TaskInstance.run_id == run_id).all()
        return {(t.task_id, t.map_index): (str(t.state), t.rendered_map_index) for t in rows}


def truth(env, day: int) -> dict[str, set[str]]:
    cat = get_catalog(env.emulator.state.config)
    return {s: set(cat.active_item_ids(s, day)) for s in SELLERS}


def stored(env, day) -> dict[str, set[str]]:
    with env.engine.connect() as c:
        rows = c.execute(sa.text("SELECT account_id, item_id FROM ebay.listing_snapshots "
                                 "WHERE snapshot_date = :d"), {"d": START + timedelta(days=day)}).all()
    out: dict[str, set[str]] = {s: set() for s in SELLERS}
    for a, i in rows:
        out[a].add(i)
    return out


def scalar(env, sql: str, **params):
    with env.engine.connect() as c:
        return c.execute(sa.text(sql), params).scalar()


def test_two_sellers_one_mapped_instance_per_page_exact_rows(dag_env, capfd):
    env = dag_env
    dr = run(env, 0)
    assert str(dr.state) == "success"
    states = task_states(dr.run_id)
    pages = {k: v for k, v in states.items() if k[0] == "sync_page"}
    assert len(pages) == 12 + 10                      # ceil(2400/200) + ceil(1911/200)
    assert all(state == "success" for state, _ in pages.values())
    labels = sorted(label for _, label in pages.values())
    assert "seller_a · page 1/12" in labels and "seller_b · page 10/10" in labels

    expected = truth(env, 0)
    assert stored(env, 0) == expected
    assert scalar(env, "SELECT count(*) FROM ebay.listings") == 4311
    assert scalar(env, "SELECT count(*) FROM ebay.listing_snapshots") == 4311
    assert scalar(env, "SELECT count(*) FROM ebay.listings WHERE ended_date IS NOT NULL") == 0
    # values: a sample against the emulator's truth, Decimal prices, currencies
    cat = get_catalog(env.emulator.state.config)
    with env.engine.connect() as c:
        for seller in SELLERS:
            for item_id in sorted(expected[seller])[::97]:
                row = c.execute(sa.text(
                    "SELECT s.price, s.currency, s.quantity_sold, s.watch_count, l.title "
                    "FROM ebay.listing_snapshots s JOIN ebay.listings l USING (account_id, item_id) "
                    "WHERE s.account_id=:a AND s.item_id=:i"), {"a": seller, "i": item_id}).one()
                st = cat.item_state(seller, item_id, 0)
                assert row.price == st["price"] and row.currency == st["currency"]
                assert row.quantity_sold == st["quantity_sold"]
                assert row.watch_count == st["watch_count"]
    # the account's day is recorded as complete
    assert scalar(env, "SELECT count(*) FROM ebay.accounts WHERE last_sync_date = :d", d=START) == 2

    # secrets: not in anything the run printed, nor in XCom
    out, err = capfd.readouterr()
    _assert_no_secrets(env, out + err)


def _assert_no_secrets(env, text: str) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    secrets = ["emulator-client-secret", "emu-refresh-seller_a", "emu-refresh-seller_b"]
    secrets += list(env.emulator.state.tokens)          # every access token the emulator issued
    assert len(secrets) > 3
    with create_session() as s:
        xcoms = " ".join(str(x.value) for x in s.query(XComModel).all())
    log_dir = os.path.join(os.environ["AIRFLOW_HOME"], "logs")
    logs = ""
    for dirpath, _, files in os.walk(log_dir):
        for f in files:
            with open(os.path.join(dirpath, f), errors="replace") as fh:
                logs += fh.read()
    with env.engine.connect() as c:
        tables = " ".join(
            str(r) for t in ("sync_pages", "item_errors", "api_calls", "accounts")
            for r in c.execute(sa.text(f"SELECT * FROM ebay.{t}")).all()
        )
    for secret in secrets:
        for where, blob in (("output", text), ("xcom", xcoms), ("task logs", logs), ("warehouse", tables)):
            assert secret not in blob, f"a secret leaked into {where}"


def test_failed_page_costs_only_that_page_then_rerun_completes(small_dag_env):
    env = small_dag_env
    requests.post(env.emulator.url + "/admin/state", json={"faults": {
        "fail_pages": [{"seller": "seller_a", "page": 3, "kind": "http500"}]}}, timeout=10).raise_for_status()
    dr = run(env, 0)
    assert str(dr.state) == "failed"
    states = task_states(dr.run_id)
    failed = {k for k, (state, _) in states.items() if state == "failed"}
    failed_pages = {k for k in failed if k[0] == "sync_page"}
    assert len(failed_pages) == 1
    (_, map_index), = failed_pages
    assert states[("sync_page", map_index)][1] == "seller_a · page 3/5"
    assert states[("check_pages", -1)][0] == "failed"                 # the run is red ...
    assert states[("finalise_accounts", -1)][0] == "success"          # ... but the rest ran
    # every other page stored; nothing marked ended; seller_a not finalised
    expected = truth(env, 0)
    got = stored(env, 0)
    assert got["seller_b"] == expected["seller_b"]
    assert len(expected["seller_a"] - got["seller_a"]) == 200
    assert scalar(env, "SELECT count(*) FROM ebay.listings WHERE ended_date IS NOT NULL") == 0
    assert scalar(env, "SELECT last_sync_date FROM ebay.accounts WHERE account_id='seller_a'") is None

    # lift the fault, rerun only that page through Airflow, then the downstream steps
    requests.post(env.emulator.url + "/admin/state", json={"faults": {}}, timeout=10).raise_for_status()
    calls_before = scalar(env, "SELECT coalesce(sum(calls), 0) FROM ebay.api_calls")
    for task_id, extra in (("sync_page", ["--map-index", str(map_index)]), ("finalise_accounts", []),
                           ("compute_trends", []), ("check_pages", [])):
        out = subprocess.run([sys.executable, "-m", "airflow", "tasks", "test", "ebay_listings_sync",
                              task_id, dr.run_id, *extra], env=os.environ.copy(), cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert stored(env, 0) == expected
    assert scalar(env, "SELECT last_sync_date FROM ebay.accounts WHERE account_id='seller_a'") == START
    # the rerun cost about one page, not the account (page + its GetSellerList page, or GetItem for
    # its 200 new items without bulk details, + the reconciliation's page-1 check)
    spent = scalar(env, "SELECT coalesce(sum(calls), 0) FROM ebay.api_calls") - calls_before
    assert spent <= 200 + 10


def test_transient_faults_are_retried_to_exact_data(small_dag_env):
    env = small_dag_env
    requests.post(env.emulator.url + "/admin/state", json={"faults": {
        # ~40 calls on a bulk-details first day (GetSellerList, not one GetItem per listing):
        # 15 % of them fail, each retried by the client or the task.
        "error_rate": 0.15, "error_kinds": ["http500", "http503", "reset", "10007", "truncated"],
        "error_seed": 11}}, timeout=10).raise_for_status()
    dr = run(env, 0)
    assert str(dr.state) == "success"
    assert stored(env, 0) == truth(env, 0)
    outcomes = requests.get(env.emulator.url + "/admin/calls", timeout=10).json()["outcomes"]
    injected = sum(v for k, v in outcomes.items() if not k.endswith(":ok"))
    assert injected > 0, "the fault injector should have fired"


def test_second_day_adds_snapshots_and_marks_ended(small_dag_env):
    env = small_dag_env
    assert str(run(env, 0).state) == "success"
    assert str(run(env, 1).state) == "success"
    cat = get_catalog(env.emulator.state.config)
    expected = truth(env, 1)
    assert stored(env, 1) == expected
    day1 = START + timedelta(days=1)
    for seller in SELLERS:
        ended = set(cat.ended_item_ids(seller, 1))
        assert ended, "the emulator's churn should end some listings on day 1"
        with env.engine.connect() as c:
            marked = set(c.execute(sa.text(
                "SELECT item_id FROM ebay.listings WHERE account_id=:a AND ended_date=:d"),
                {"a": seller, "d": day1}).scalars())
        assert marked == ended
    # one snapshot per active listing per day, nothing duplicated
    day0 = sum(len(v) for v in truth(env, 0).values())
    assert scalar(env, "SELECT count(*) FROM ebay.listing_snapshots") == day0 + sum(len(v) for v in expected.values())
    # trends were computed for the day
    assert scalar(env, "SELECT count(*) FROM ebay.listing_trends WHERE trend_date=:d", d=day1) > 0

"""Secrets stay secret through a rough run, and the trends page on the real stack.

One run exercises the paths that build messages from eBay's answers: 3 % faults with
bodies (malformed, truncated, HTML, 500, 10007) on every call including OAuth, every
access token expired mid-run, and seller_b's refresh token revoked after planning.
Then nothing that can hold a secret may contain one: any file under the stack's
AIRFLOW_HOME (task logs of *every* run of this package, service logs, config), the
whole metadata database (XCom, rendered fields, run conf, ...), XCom through the REST
API, the warehouse, and the trends page's HTML, JSON and CSV.

Trends page authentication and SQL injection are covered in depth by
tests/webapp/test_trends_page.py (its own api-server, hand-made data).  Here, against
the api-server of the stack that ran the DAG: every route refuses anonymous callers,
and injection attempts in the parameters that file does not try (``date`` of the
overview/categories/KPI/CSV routes, ``limit`` of the CSV export, ``days`` of the
listing page and its CSV, the account on real DAG output) are harmless.
"""
from __future__ import annotations

import base64
import sqlite3
from datetime import timedelta

import pytest
import requests

from .helpers import CLIENT_ID, CLIENT_SECRET, DAG_ID, EMULATOR_CALLS, MAIN_SELLERS, START, FaultStack

pytestmark = [pytest.mark.faults, pytest.mark.airflow]

PREFIX = "/ebay-trends"
INJECTIONS = [
    "' OR '1'='1",
    "seller_a'; DROP TABLE ebay.listings; --",
    "2026-11-01' UNION SELECT refresh_token FROM x --",
    "1; SELECT pg_sleep(5)",
    "9999999999999999999999",
]


@pytest.fixture(scope="module")
def rough_run(fault_stack: FaultStack):
    """One run with faults, expiry and a revocation; yields (stack, run_id, day)."""
    fx = fault_stack
    fx.reset()
    day = fx.next_day
    fx.next_day += 1
    fx.set_latency(GetItem=0.03)
    fx.emu("POST", "state", {"faults": {
        "error_rate": 0.03, "error_kinds": ["http500", "10007", "malformed", "truncated", "html"],
        "error_calls": list(EMULATOR_CALLS), "error_seed": 3}})
    run_id = fx.trigger(day, {"bulk_details": False})         # GetItem pages: long enough to strike in
    done: set[str] = set()

    def strike() -> None:
        if "revoke" not in done and fx.ti(run_id, "plan_pages")["state"] == "success":
            fx.emu("POST", "revoke", {"seller": "seller_b"})
            done.add("revoke")
        if "expire" not in done and fx.calls()["by_call"].get("GetItem", 0) >= 100:
            fx.emu("POST", "expire_tokens")
            done.add("expire")

    state = fx.wait(run_id, poll=0.3, during=strike)
    assert done == {"revoke", "expire"}
    assert state == "failed"                       # seller_b's pages
    fx.emu("POST", "state", {"faults": {}})
    yield fx, run_id, day
    fx.fail_open_runs()


def _secrets(fx: FaultStack) -> list[str]:
    tokens = list(fx.emulator.state.tokens)        # every access token issued in this package
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    values = [CLIENT_SECRET, basic, *(f"emu-refresh-{s}" for s in fx.sellers), *tokens]
    assert len(tokens) >= 5
    return values


def _assert_clean(where: str, text: str, secrets: list[str]) -> None:
    for s in secrets:
        assert s not in text, f"a secret ({s[:12]}...) leaked into {where}"


def test_no_secret_in_logs_metadata_xcom_warehouse_or_the_trends_page(rough_run):
    fx, run_id, day = rough_run
    secrets = _secrets(fx)
    # The run did produce the messages we are checking.
    assert fx.scalar("SELECT count(*) FROM ebay.sync_pages WHERE run_id = :r AND error_summary LIKE "
                     "'%re-authorise account seller_b%'", r=run_id) >= 1
    outcomes = fx.calls()["outcomes"]
    assert any(":fault:" in k for k in outcomes) and any(k.endswith(":error:21917053") for k in outcomes)

    # 1. every file under AIRFLOW_HOME: task logs of all runs, service logs, config
    scanned = 0
    for path in fx.stack.home.rglob("*"):
        if path.is_file() and path.name != "airflow.db" and not path.name.startswith("airflow.db-"):
            _assert_clean(str(path.relative_to(fx.stack.home)), path.read_text(errors="replace"), secrets)
            scanned += 1
    assert scanned >= len(fx.log_files(run_id)) + 3 >= 11 + 3     # task logs + service logs
    # 2. the whole metadata database (XCom, run conf, rendered fields, task instances, ...)
    db = sqlite3.connect(f"file:{fx.stack.home / 'airflow.db'}?mode=ro", uri=True)
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert "return_value" in dump
    _assert_clean("the metadata database", dump, secrets)
    # 3. XCom through the REST API, value by value, for this run
    entries = fx.stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/~/xcomEntries",
                           params={"limit": 1000})["xcom_entries"]
    assert len(entries) >= 5
    for e in entries:
        value = fx.stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{e['task_id']}/xcomEntries/"
                             f"{e['key']}", params={"map_index": e["map_index"]})
        _assert_clean(f"XCom {e['task_id']}[{e['map_index']}]", str(value), secrets)
    # 4. every warehouse table (error summaries, item errors, api_calls, ...)
    tables = [t for (t,) in fx.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'ebay'")]
    for t in tables:
        _assert_clean(f"ebay.{t}", " ".join(str(r) for r in fx.sql(f'SELECT * FROM ebay."{t}"')), secrets)
    # 5. the trends page: HTML, JSON and CSV of both accounts
    item = fx.scalar("SELECT item_id FROM ebay.listing_trends WHERE account_id = 'seller_a' LIMIT 1")
    assert item, "trends were computed for the finalised account"
    auth = {"Authorization": f"Bearer {fx.stack.token()}"}
    for account in MAIN_SELLERS:
        for path in _routes(account, item):
            r = requests.get(fx.stack.base_url + PREFIX + path, headers=auth, timeout=60)
            assert r.status_code in (200, 404), (path, r.status_code)
            _assert_clean(f"the trends page {path}", r.text, secrets)
    d = (START + timedelta(days=day)).isoformat()
    overview = requests.get(f"{fx.stack.base_url}{PREFIX}/?account=seller_a&date={d}", headers=auth, timeout=60)
    assert overview.status_code == 200 and item in overview.text


def _routes(account: str, item: str) -> list[str]:
    q = f"?account={account}"
    return ["/" + q, "/categories" + q, f"/listing/{item}" + q, "/export/top-movers.csv" + q,
            f"/export/listing/{item}.csv" + q, "/api/accounts", "/api/kpis" + q, "/api/top-movers" + q,
            f"/api/listing/{item}/history" + q, "/api/categories" + q]


def test_trends_page_on_the_stack_refuses_anonymous_callers(rough_run):
    fx, _, _ = rough_run
    item = fx.scalar("SELECT item_id FROM ebay.listing_trends WHERE account_id = 'seller_a' LIMIT 1")
    for path in _routes("seller_a", item):
        anonymous = requests.get(fx.stack.base_url + PREFIX + path, timeout=60)
        assert anonymous.status_code == 401, path
        assert item not in anonymous.text and "seller_a" not in anonymous.text
        forged = requests.get(fx.stack.base_url + PREFIX + path, headers={"Authorization": "Bearer x.y.z"},
                              timeout=60)
        assert forged.status_code in (401, 403), path


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_in_the_remaining_parameters_is_harmless(rough_run, payload):
    fx, _, _ = rough_run
    item = fx.scalar("SELECT item_id FROM ebay.listing_trends WHERE account_id = 'seller_a' LIMIT 1")
    counts = {t: fx.scalar(f"SELECT count(*) FROM ebay.{t}")
              for t in ("accounts", "listings", "listing_snapshots", "listing_trends", "sync_pages", "item_errors")}
    q = requests.utils.quote(payload, safe="")
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {fx.stack.token()}"
    typed = [f"/?account=seller_a&date={q}", f"/categories?account=seller_a&date={q}",
             f"/api/kpis?account=seller_a&date={q}", f"/api/categories?account=seller_a&date={q}",
             f"/export/top-movers.csv?account=seller_a&date={q}", f"/export/top-movers.csv?account=seller_a&limit={q}",
             f"/listing/{item}?account=seller_a&days={q}", f"/export/listing/{item}.csv?account=seller_a&days={q}"]
    for path in typed:
        r = s.get(fx.stack.base_url + PREFIX + path, timeout=60)
        assert r.status_code == 422, (path, r.status_code)          # refused by type, never reaches SQL
    for path in _routes(q, item):
        if path == "/api/accounts":
            continue
        r = s.get(fx.stack.base_url + PREFIX + path, timeout=60)
        assert r.status_code in (404, 422), (path, r.status_code)   # an unknown account, nothing leaked
        assert item not in r.text
    assert {t: fx.scalar(f"SELECT count(*) FROM ebay.{t}") for t in counts} == counts

"""eBay misbehaves while the DAG runs under the scheduler: transient faults, token expiry,
a revoked account, the daily call limit (518) and our own call budget.

Client-level behaviour (one call, one fault) is proven in
tests/ebay_trends/test_client_faults.py; these tests prove what the *run* does with it:
which pages retry, which fail fast, what is kept, and what the operator reads.
"""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from include.ebay_trends import budget

from .helpers import (
    CLIENT_ID, EMULATOR_CALLS, MAX_CLIENT_ATTEMPTS, MAX_PARALLEL_PAGES, START, emulator_outcomes,
    label_page, max_overlap, page_chunks, ti_intervals,
)

pytestmark = [pytest.mark.faults, pytest.mark.airflow]

PACIFIC = ZoneInfo("America/Los_Angeles")
RETRY_LINE = re.compile(r"; retry (\d+)/(\d+) in [0-9.]+ s$")
REFRESH_LINE = re.compile(r"^OAuthToken of (\S+): new access token")
REJECTED_LINE = re.compile(r" of (\S+): access token rejected")


def next_pacific_midnight(after: datetime) -> datetime:
    local = after.astimezone(PACIFIC)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=PACIFIC).astimezone(timezone.utc)


def stored_pages_expected(truth: dict[str, list[str]], ok_pages: dict[str, set[int]], per_page: int = 200):
    """The listings of the pages that succeeded, per seller."""
    return {s: {i for n, chunk in enumerate(page_chunks(ids, per_page), 1) if n in ok_pages.get(s, set())
                for i in chunk} for s, ids in truth.items()}


def page_states(fx, run_id) -> dict[tuple[str, int], dict]:
    return {label_page(t["rendered_map_index"]): t for t in fx.tis(run_id) if t["task_id"] == "sync_page"}


# --------------------------------------------------------------------------- transient faults
def test_five_percent_transient_faults_end_in_exact_rows_with_bounded_logged_retries(fx):
    fx.emu("POST", "state", {"faults": {
        "error_rate": 0.05, "error_kinds": ["http500", "http503", "timeout", "reset", "10007"],
        "error_calls": list(EMULATOR_CALLS), "error_seed": 8, "hang_s": 0.3}})
    # GetItem per listing: ~1,000 calls, so 5 % of them is a real volume of retries.
    run_id, state = fx.run(fx.day, {"bulk_details": False})
    assert state == "success"
    fx.assert_exact(fx.day, fx.truth(fx.day))

    calls = fx.calls()
    faults = emulator_outcomes(calls, kind="fault")
    ok = emulator_outcomes(calls, kind="ok")
    assert sum(faults.values()) >= 20, "about 5 % of ~1,000 calls should have failed"
    assert not emulator_outcomes(calls, kind="error")
    # Every attempt is either a success or an injected fault: no attempt without a cause ...
    for call, n in calls["by_call"].items():
        assert n == ok[call] + faults[call], call
    # ... the client counted each one (into ebay.api_calls) exactly as eBay did ...
    recorded = {name: int(n) for name, n in fx.sql("SELECT call_name, sum(calls) FROM ebay.api_calls GROUP BY 1")}
    assert recorded == calls["by_call"]
    # ... and each fault cost one retry, logged at WARNING with its number (never past 3).
    # (A call hit by 4 faults in a row -- rare at 5 % -- gives up instead of a 4th retry;
    # it then shows as "gave up after 4 attempts" in item_errors or in a failed try.)
    retries, gave_up = [], 0
    for path in fx.log_files(run_id):
        for rec in fx.records(path):
            m = RETRY_LINE.search(str(rec.get("event", "")))
            if m:
                assert rec["level"] == "warning"
                retries.append((int(m.group(1)), int(m.group(2))))
        err = fx.task_error(path)
        gave_up += bool(err and f"gave up after {MAX_CLIENT_ATTEMPTS} attempts" in err[1])
    gave_up += fx.scalar("SELECT count(*) FROM ebay.item_errors WHERE message LIKE :m",
                         m=f"%gave up after {MAX_CLIENT_ATTEMPTS} attempts%")
    assert len(retries) + gave_up == sum(faults.values())
    assert all(1 <= n <= total == MAX_CLIENT_ATTEMPTS - 1 for n, total in retries)
    assert max_overlap(ti_intervals(fx.tis(run_id))) <= MAX_PARALLEL_PAGES


# --------------------------------------------------------------------------- tokens
def test_access_tokens_expiring_mid_run_are_refreshed_once_per_expiry(fx):
    fx.set_latency(GetItem=0.06)               # a page of 200 GetItem calls takes ~1.5 s
    run_id = fx.trigger(fx.day, {"bulk_details": False})       # GetItem pages: long enough to expire in
    expired: list[int] = []

    def expire_mid_page() -> None:
        if not expired and fx.calls()["by_call"].get("GetItem", 0) >= 150:
            expired.append(fx.emu("POST", "expire_tokens")["expired"])

    assert fx.wait(run_id, poll=0.3, during=expire_mid_page) == "success"
    assert expired and expired[0] >= 1
    calls = fx.calls()
    rejected_by_ebay = sum(v for k, v in calls["outcomes"].items() if k.endswith(":error:21917053"))
    assert rejected_by_ebay >= 1, "the expiry should have hit a page in flight"
    assert all(t["try_number"] == 1 and t["state"] == "success" for t in fx.tis(run_id))

    refreshes_total = 0
    hit = 0
    for path in fx.log_files(run_id):
        events = [str(r.get("event", "")) for r in fx.records(path)]
        assert not any("re-authorise" in e for e in events), path
        # A task makes one client (one token) per account it works on: per (task, account),
        # one refresh for the first token plus exactly one when the expiry hit that client.
        refreshed = Counter(m.group(1) for e in events if (m := REFRESH_LINE.search(e)))
        rejected = {m.group(1) for e in events if (m := REJECTED_LINE.search(e))}
        for account in set(refreshed) | rejected:
            assert refreshed[account] == 1 + (account in rejected), (path, account)
        refreshes_total += sum(refreshed.values())
        hit += len(rejected)
    assert hit >= 1
    assert refreshes_total == calls["outcomes"]["OAuthToken:ok"]
    fx.assert_exact(fx.day, fx.truth(fx.day))


def test_revoked_account_fails_fast_and_the_other_account_completes(fx):
    fx.set_latency(GetItem=0.02)
    run_id = fx.trigger(fx.day)
    revoked: list[bool] = []

    def revoke_after_planning() -> None:
        if not revoked and fx.ti(run_id, "plan_pages")["state"] == "success":
            fx.emu("POST", "revoke", {"seller": "seller_b"})
            revoked.append(True)

    assert fx.wait(run_id, poll=0.2, during=revoke_after_planning) == "failed"
    assert revoked
    pages = page_states(fx, run_id)
    ok: dict[str, set[int]] = {"seller_a": set(), "seller_b": set()}
    failed_b = []
    for (seller, page), t in pages.items():
        if t["state"] == "success":
            ok[seller].add(page)
            continue
        assert seller == "seller_b" and t["state"] == "failed"
        assert t["try_number"] == 1, "an auth failure must not be retried"
        log = fx.page_log(run_id, t["map_index"], 1)
        exc_type, message = fx.task_error(log)
        assert exc_type == "AuthRevoked" and "re-authorise account seller_b" in message
        assert fx.retry_decision(log) == "fail"
        assert not fx.page_log(run_id, t["map_index"], 2).exists()
        failed_b.append(page)
    assert ok["seller_a"] == {1, 2, 3} and failed_b, pages.keys()
    # the refresh token was tried once per failed page, never retried
    invalid_grant = fx.calls()["outcomes"].get("OAuthToken:error:invalid_grant", 0)
    assert 1 <= invalid_grant <= len(failed_b)
    summaries = fx.sql("SELECT page, error_summary FROM ebay.sync_pages WHERE run_id = :r "
                       "AND account_id = 'seller_b' AND status = 'failed'", r=run_id)
    assert sorted(p for p, _ in summaries) == sorted(failed_b)
    assert all("re-authorise account seller_b" in e for _, e in summaries)
    # seller_a finalised, seller_b not; the run is red because of seller_b only
    day = START + timedelta(days=fx.day)
    assert dict(fx.sql("SELECT account_id, last_sync_date FROM ebay.accounts WHERE account_id LIKE 'seller_%'")) == {
        "seller_a": day, "seller_b": None}
    assert fx.ti(run_id, "finalise_accounts")["state"] == "success"
    exc_type, message = fx.task_error(fx.log_files(run_id, "check_pages")[0])
    assert exc_type == "RuntimeError" and "seller_b: pages" in message and "seller_a" not in message
    fx.assert_exact(fx.day, stored_pages_expected(fx.truth(fx.day), ok))


# --------------------------------------------------------------------------- quota
def test_call_limit_518_fails_the_remaining_pages_fast_and_keeps_the_rest(fx):
    # 2 planning calls + 3 pages fit; pages cost exactly one Trading call without GetItem.
    fx.emu("POST", "state", {"call_limit": 5})
    run_id, state = fx.run(fx.day, {"item_details": "none"})
    assert state == "failed"
    simulated_noon = datetime.combine(START + timedelta(days=fx.day), time(12), tzinfo=timezone.utc)
    resets = next_pacific_midnight(simulated_noon).isoformat()
    pages = page_states(fx, run_id)
    ok: dict[str, set[int]] = {}
    failed = 0
    for (seller, page), t in pages.items():
        if t["state"] == "success":
            ok.setdefault(seller, set()).add(page)
            continue
        assert (t["state"], t["try_number"]) == ("failed", 1)
        log = fx.page_log(run_id, t["map_index"], 1)
        exc_type, message = fx.task_error(log)
        assert exc_type == "CallLimitReached" and f"quota resets at {resets}" in message
        assert fx.retry_decision(log) == "fail"
        failed += 1
    assert (sum(map(len, ok.values())), failed) == (3, 2)
    # An account whose pages all got through is reconciled, and that read gets the 518 too:
    # it is reported, and the account is not finalised.
    complete = [s for s, n in (("seller_a", 3), ("seller_b", 2)) if len(ok.get(s, ())) == n]
    finalise_log = [str(r.get("event")) for r in fx.records(fx.log_files(run_id, "finalise_accounts")[0])]
    for seller in complete:
        assert any(e.startswith(f"{seller}: reconciliation failed") and f"quota resets at {resets}" in e
                   for e in finalise_log), finalise_log
    calls = fx.calls()
    # one 518 per failed page and per reconciliation: never retried, by the client or by Airflow
    assert calls["outcomes"]["GetMyeBaySelling:error:518"] == 2 + len(complete)
    assert calls["by_call"]["GetMyeBaySelling"] == 2 + 5 + len(complete)
    failed_rows = ("SELECT count(*) FROM ebay.sync_pages WHERE run_id = :r AND status = 'failed' "
                   "AND error_summary LIKE :m AND ")
    assert fx.scalar(failed_rows + "page > 0", r=run_id, m=f"%quota resets at {resets}%") == 2
    # page 0 = the reconciliation pass of each account whose pages all got through
    assert fx.scalar(failed_rows + "page = 0", r=run_id, m=f"%quota resets at {resets}%") == len(complete)
    assert fx.scalar("SELECT count(*) FROM ebay.accounts WHERE last_sync_date IS NOT NULL") == 0
    fx.assert_exact(fx.day, stored_pages_expected(fx.truth(fx.day), ok))


def test_own_call_budget_guard_fails_pages_before_any_call(fx):
    # Today's (real, US Pacific) budget is used up but for seller_a's planning call.
    day = budget.ebay_day()
    with fx.engine.begin() as c:
        c.exec_driver_sql(
            "INSERT INTO ebay.api_calls (application, account_id, call_name, ebay_day, calls) "
            "VALUES (%(app)s, 'seller_b', 'GetItem', %(d)s, %(n)s)", {"app": CLIENT_ID, "d": day, "n": 4999})
    run_id, state = fx.run(fx.day, {"accounts": ["seller_a"]})
    assert state == "failed"
    resets = next_pacific_midnight(datetime.now(timezone.utc)).isoformat()
    pages = page_states(fx, run_id)
    assert sorted(pages) == [("seller_a", 1), ("seller_a", 2), ("seller_a", 3)]
    for t in pages.values():
        assert (t["state"], t["try_number"]) == ("failed", 1)
        log = fx.page_log(run_id, t["map_index"], 1)
        exc_type, message = fx.task_error(log)
        assert exc_type == "CallBudgetExhausted"
        assert "0 of 5000 Trading calls left" in message and f"budget resets at {resets}" in message
        assert fx.retry_decision(log) == "fail"
    # Only planning reached eBay: the pages stopped before their first request.
    assert fx.calls()["by_call"] == {"OAuthToken": 1, "GetMyeBaySelling": 1}
    assert [dict(r._mapping) for r in fx.sql("SELECT DISTINCT status, api_calls::text AS calls FROM ebay.sync_pages "
                                              "WHERE run_id = :r", r=run_id)] == [{"status": "failed", "calls": "{}"}]
    fx.assert_exact(fx.day, {})
    assert fx.scalar("SELECT count(*) FROM ebay.listings") == 0

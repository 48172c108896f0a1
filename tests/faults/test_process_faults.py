"""A page task dies mid-page: its worker is SIGKILLed, or its database connections are cut.

Catching a page *between its two 100-row transactions* cannot be done with timing: a
page fetches every GetItem answer first and then writes its two batches back to back
(milliseconds apart).  So the test makes PostgreSQL hold the second batch: before the
run it inserts, in its own open transaction, a ``listings`` row whose key belongs to
the second batch of page 1.  The page commits batch 1, then its batch-2 upsert waits
on that key -- a stable window in which the test strikes.  The blocking row is rolled
back, so it never becomes data.  The task process is identified three ways that must
agree: the ``pid`` the REST API reports for the running ``sync_page`` instance, the
process descending from the scheduler, and the owner of the TCP connection of the
PostgreSQL backend that waits on the lock.
"""
from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psutil
import pytest
import sqlalchemy as sa

from .helpers import START, FaultStack, page_chunks

pytestmark = [pytest.mark.faults, pytest.mark.airflow]

PAGE = 200
BATCH = 100


@contextmanager
def hold_second_batch(fx: FaultStack, seller: str, item_id: str) -> Iterator[Callable[[], None]]:
    """Hold ``(seller, item_id)``'s listings key in an open transaction; yields ``release()``."""
    conn = fx.engine.connect()
    tx = conn.begin()
    conn.execute(sa.text(
        "INSERT INTO ebay.listings (account_id, item_id, title, currency, current_price, "
        "first_seen_date, last_seen_date) VALUES (:a, :i, 'test lock holder', 'USD', 1, :d, :d)"),
        {"a": seller, "i": item_id, "d": START})
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            tx.rollback()
            conn.close()

    try:
        yield release
    finally:
        release()


def wait_for_window(fx: FaultStack, run_id: str, seller: str, first_batch: list[str],
                    timeout: float = 120) -> tuple[dict, int, int]:
    """Until batch 1 of the page is committed and its batch 2 waits on the lock.

    Returns (the running sync_page instance, its task pid, the waiting backend's pid).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = fx.run_state(run_id)
        assert state not in ("success", "failed"), f"run ended ({state}) before the window"
        committed = fx.scalar("SELECT count(*) FROM ebay.listing_snapshots WHERE account_id = :a "
                              "AND item_id = ANY(:ids)", a=seller, ids=first_batch)
        waiting = fx.sql("SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database() "
                         "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
        if committed == BATCH and len(waiting) == 1:
            (backend_pid, client_port), = waiting
            ti = fx.page_ti(run_id, seller, 1)
            assert ti["state"] == "running" and ti["try_number"] == 1 and ti["pid"]
            pid = int(ti["pid"])
            proc = psutil.Process(pid)
            # the REST pid is the process holding the waiting connection ...
            ports = {c.laddr.port for c in proc.net_connections("tcp") if c.raddr}
            assert client_port in ports, "the waiting backend does not belong to the task process"
            # ... and a descendant of the scheduler (LocalExecutor worker -> supervisor -> task)
            assert fx.stack.procs["scheduler"].pid in {p.pid for p in proc.parents()}
            return ti, pid, backend_pid
        time.sleep(0.2)
    raise TimeoutError("page 1 never reached the window between its two transactions")


def _assert_page_retried_once(fx: FaultStack, run_id: str, seller: str, *, bulk: bool = False) -> dict:
    ti = fx.page_tis(run_id)[f"{seller} · page 1/3"]
    assert (ti["state"], ti["try_number"]) == ("success", 2)
    tries = fx.tries(run_id, "sync_page", ti["map_index"])
    assert [t["state"] for t in sorted(tries, key=lambda t: t["try_number"])] == ["failed", "success"]
    assert fx.page_log(run_id, ti["map_index"], 1).exists() and fx.page_log(run_id, ti["map_index"], 2).exists()
    row = fx.sql("SELECT status, attempt, items_written, api_calls FROM ebay.sync_pages "
                 "WHERE run_id = :r AND account_id = :a AND page = 1", r=run_id, a=seller)[0]
    assert (row.status, row.attempt, row.items_written) == ("success", 2, PAGE)
    if bulk:
        # Details from this page's GetSellerList page, fetched again by the retry; no GetItem.
        assert row.api_calls.get("GetSellerList") == 1 and "GetItem" not in row.api_calls
    else:
        # Only the second batch had no GetItem details: the retry fetched exactly those.
        assert row.api_calls.get("GetItem") == BATCH
    return ti


def test_worker_sigkilled_between_two_transactions_is_retried_to_exact_rows(fx):
    truth = fx.truth(fx.day)
    page1 = page_chunks(truth["seller_a"], PAGE)[0]
    first_batch, second_batch = page1[:BATCH], page1[BATCH:]
    with hold_second_batch(fx, "seller_a", second_batch[0]) as release:
        # GetItem per listing (not GetSellerList): the retry's GetItem count proves what it redid.
        run_id = fx.trigger(fx.day, {"bulk_details": False})
        _, pid, _ = wait_for_window(fx, run_id, "seller_a", first_batch)
        os.kill(pid, signal.SIGKILL)
        try:
            psutil.Process(pid).wait(timeout=30)
        except psutil.NoSuchProcess:
            pass
        # The dead attempt left exactly its first transaction behind.
        assert fx.scalar("SELECT count(*) FROM ebay.listings WHERE account_id = 'seller_a' "
                         "AND item_id = ANY(:ids)", ids=page1) == BATCH
        release()
    assert fx.wait(run_id) == "success"
    ti = _assert_page_retried_once(fx, run_id, "seller_a")
    killed = [r for r in fx.records(fx.page_log(run_id, ti["map_index"], 1)) if r.get("signal_name")]
    assert [r["signal_name"] for r in killed] == ["SIGKILL"]
    # The killed attempt's sync_pages row was taken over by the retry, not duplicated.
    assert fx.scalar("SELECT count(*) FROM ebay.sync_pages WHERE run_id = :r AND account_id = 'seller_a' "
                     "AND page = 1", r=run_id) == 1
    fx.assert_exact(fx.day, truth)
    assert fx.scalar("SELECT count(*) FROM ebay.listings") == sum(map(len, truth.values()))
    assert fx.scalar("SELECT count(*) FROM ebay.listings WHERE details_fetched_at IS NULL") == 0
    assert fx.scalar("SELECT count(*) FROM ebay.listings WHERE title = 'test lock holder'") == 0
    assert fx.scalar("SELECT count(*) FROM ebay.accounts WHERE last_sync_date = :d",
                     d=START + timedelta(days=fx.day)) == 2


def test_warehouse_connections_terminated_mid_page_are_retried_to_exact_rows(fx):
    truth = fx.truth(fx.day, ["seller_a"])
    page1 = page_chunks(truth["seller_a"], PAGE)[0]
    pg_port = fx.engine.url.port or 5432
    with hold_second_batch(fx, "seller_a", page1[BATCH]) as release:
        run_id = fx.trigger(fx.day, {"accounts": ["seller_a"]})
        _, pid, waiting_backend = wait_for_window(fx, run_id, "seller_a", page1[:BATCH])
        # Every warehouse connection of the task process (its pool), not the server:
        # restarting PostgreSQL would kill the databases of tests running alongside.
        ports = [c.laddr.port for c in psutil.Process(pid).net_connections("tcp")
                 if c.raddr and c.raddr.port == pg_port]
        backends = [r.pid for r in fx.sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND client_port = ANY(:p)",
            p=ports)]
        assert waiting_backend in backends
        for b in backends:
            assert fx.scalar("SELECT pg_terminate_backend(:b)", b=b) is True
        release()
    assert fx.wait(run_id) == "success"
    ti = _assert_page_retried_once(fx, run_id, "seller_a", bulk=True)      # a first day: bulk details
    first_try = fx.page_log(run_id, ti["map_index"], 1)
    exc_type, message = fx.task_error(first_try)
    assert exc_type == "OperationalError" and "server closed the connection" in message
    assert fx.retry_decision(first_try) == "retry"
    fx.assert_exact(fx.day, truth)
    assert fx.scalar("SELECT count(*) FROM ebay.listings WHERE details_fetched_at IS NULL") == 0

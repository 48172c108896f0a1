"""Load: many sellers' pages through the real scheduler within the pool's limits.

The issue's size is 20 sellers x 5,000 listings (100,000 listings, 500 pages); that takes
minutes on a 2-core machine, so CI runs 5 x 800 (~24 pages) and the full size runs with
``EBAY_LOAD_FULL=1 make faults`` (or ``EBAY_LOAD_SELLERS`` / ``EBAY_LOAD_LISTINGS``).
Figures go to ``test-artifacts/load-<sellers>x<listings>.json`` and the test's output;
the full run's are recorded in docs/BENCHMARKS.md ("Load: 20 sellers x 5,000 listings").

The run uses ``item_details=none`` (1 Trading call per page): a first day with GetItem
for 100,000 listings would need 20 times eBay's daily call limit, and the budget guard
would (rightly) stop those pages; what is measured here is the page pipeline itself --
scheduling, pool, transactions, reconciliation and finalise for every account.

The pool ``ebay_trading`` is set below ``EBAY_MAX_PARALLEL_PAGES`` (default 3 < 4) for
the run, so the pool is the binding limit: running ``sync_page`` instances are polled
through the REST API (and the pool's running slots) during the run and must never
exceed it; the instances' start/end times must not overlap more either.
"""
from __future__ import annotations

import json
import math
import os
import time
from datetime import timedelta
from pathlib import Path

import psutil
import pytest

from .helpers import (
    DAG_ID, MAX_PARALLEL_PAGES, POOL_SLOTS, START, load_sellers, load_size, max_overlap, ti_intervals,
)

pytestmark = [pytest.mark.faults, pytest.mark.airflow]

ROOT = Path(__file__).resolve().parents[2]
POOL = "ebay_trading"


def _stack_rss_mb(fx) -> float:
    """Summed RSS of every process of the stack (services, executor workers, tasks)."""
    total = 0
    for pid in fx.stack.pids().values():
        try:
            root = psutil.Process(pid)
            for p in [root, *root.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
    return total / 2**20


def _set_pool(fx, slots: int) -> None:
    fx.stack.api("PATCH", f"/pools/{POOL}", params={"update_mask": "slots"},
                 json={"name": POOL, "slots": slots, "include_deferred": False})


def test_load_completes_within_the_pool_with_exact_rows(fx):
    n_sellers, per_seller = load_size()
    sellers = load_sellers()
    pool_slots = int(os.environ.get("EBAY_LOAD_POOL_SLOTS", "3"))
    limit = min(pool_slots, MAX_PARALLEL_PAGES)
    truth = fx.truth(fx.day, sellers)
    pages = sum(math.ceil(len(ids) / 200) for ids in truth.values())
    full = n_sellers * per_seller >= 50_000

    _set_pool(fx, pool_slots)
    seen = {"running": 0, "pool_running": 0, "rss_mb": 0.0, "polls": 0}

    def observe() -> None:
        running = fx.stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
                               params={"task_id": "sync_page", "state": "running", "limit": 100})
        pool = fx.stack.api("GET", f"/pools/{POOL}")
        seen["running"] = max(seen["running"], running["total_entries"])
        seen["pool_running"] = max(seen["pool_running"], pool["running_slots"])
        seen["rss_mb"] = max(seen["rss_mb"], _stack_rss_mb(fx))
        seen["polls"] += 1

    try:
        t0 = time.monotonic()
        run_id = fx.trigger(fx.day, {"accounts": sellers, "item_details": "none"})
        state = fx.wait(run_id, timeout=3600 if full else 600, poll=0.5, during=observe)
        wall = time.monotonic() - t0
    finally:
        _set_pool(fx, POOL_SLOTS)

    tis = fx.tis(run_id)
    page_tis = [t for t in tis if t["task_id"] == "sync_page"]
    intervals = ti_intervals(tis)
    overlap = max_overlap(intervals)
    rss_page = fx.scalar("SELECT max(peak_rss_mb) FROM ebay.sync_pages WHERE run_id = :r AND page > 0", r=run_id)
    durations = sorted((e - s).total_seconds() for s, e in intervals)
    figures = {
        "sellers": n_sellers, "listings_per_seller": per_seller, "listings": sum(map(len, truth.values())),
        "pages": pages, "run_state": state, "wall_s": round(wall, 1),
        "sync_page_phase_s": round((max(e for _, e in intervals) - min(s for s, _ in intervals)).total_seconds(), 1)
        if intervals else None,
        "page_task_s_median": round(durations[len(durations) // 2], 2) if durations else None,
        "pool_slots": pool_slots, "max_active_tis_per_dagrun": MAX_PARALLEL_PAGES,
        "max_running_polled": seen["running"], "max_pool_running_slots": seen["pool_running"],
        "max_overlap_from_ti_times": overlap, "polls": seen["polls"],
        "peak_page_rss_mb": float(rss_page) if rss_page is not None else None,
        "peak_stack_rss_mb": round(seen["rss_mb"]), "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),
    }
    out = ROOT / "test-artifacts" / f"load-{n_sellers}x{per_seller}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print("load figures:", json.dumps(figures))

    assert state == "success"
    assert len(page_tis) == pages
    assert all(t["state"] == "success" and t["try_number"] == 1 for t in page_tis)
    assert seen["polls"] >= 5
    # never above the pool (the binding limit here), by polling and by the recorded times
    assert 1 <= seen["running"] <= limit and seen["pool_running"] <= pool_slots and overlap <= limit
    if pages >= 3 * limit:
        assert overlap >= 2, "pages should run in parallel"
    fx.assert_exact(fx.day, truth)
    assert fx.scalar("SELECT count(*) FROM ebay.listings") == sum(map(len, truth.values()))
    day = START + timedelta(days=fx.day)
    assert fx.scalar("SELECT count(*) FROM ebay.accounts WHERE last_sync_date = :d", d=day) == n_sellers

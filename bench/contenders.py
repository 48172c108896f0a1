"""One contender's whole sync of some accounts, in its own process, with its memory curve.

    python -m bench.contenders --variant original|plan_fix|ours --url PG_URL \
        --api-base-url http://127.0.0.1:PORT --accounts seller_a:EBAY_US,seller_b:EBAY_GB \
        --snapshot-date 2026-11-01 --out result.json

Every variant imports the same modules and builds its engine, schema and clients
before ``start_rss_mb`` is read, so the memory *growth* (peak − start) compares the
sync loops themselves, not their imports.  ``ours`` is ``include.ebay_trends.sync``'s
``sync_account`` (plan, every page in turn, reconcile, finalise) — the code the DAG's
page tasks run, here in one process without Airflow.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from bench import old_loop
from include.ebay_emulator.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, refresh_token_for
from include.ebay_trends import sync, warehouse
from include.ebay_trends.client import AccountConfig, EbayClient

VARIANTS = (*old_loop.VARIANTS, "ours")
UNLIMITED_BUDGET = 1_000_000_000     # the budget guard is not what is measured here


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / (1024 * 1024)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def parse_accounts(text: str) -> list[tuple[str, str]]:
    out = []
    for part in text.split(","):
        seller, _, marketplace = part.strip().partition(":")
        out.append((seller, marketplace or "EBAY_US"))
    return out


def make_client(seller: str, marketplace: str, api_base_url: str) -> EbayClient:
    return EbayClient(AccountConfig(
        account_id=seller, marketplace_id=marketplace, client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET, refresh_token=refresh_token_for(seller), api_base_url=api_base_url))


def run(variant: str, *, url: str, api_base_url: str, accounts: list[tuple[str, str]], day: date,
        schema: str | None = None, entries_per_page: int = 200, run_id: str = "bench") -> dict[str, Any]:
    """Sync ``accounts`` with ``variant``; returns timings, memory curve and per-account stats."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    # ours: the project's engine (psycopg 3); the old loop: the original's driver (psycopg2)
    engine = warehouse.make_engine(url) if variant == "ours" else old_loop.make_engine(url)
    clients = {s: make_client(s, m, api_base_url) for s, m in accounts}
    if variant == "ours":
        warehouse.migrate(engine)
        for s, m in accounts:
            warehouse.upsert_account(engine, s, conn_id=f"ebay_{s}", marketplace_id=m)
    else:
        old_loop.create_schema(engine, schema or f"old_{variant}")

    curve: list[dict[str, float]] = []
    done = {"items": 0}
    t0 = time.monotonic()
    start_rss = _rss_mb()

    def point(items: int) -> None:
        curve.append({"t": round(time.monotonic() - t0, 2), "items": items, "rss_mb": round(_rss_mb(), 1)})

    point(0)
    per_account: list[dict[str, Any]] = []
    for seller, _m in accounts:
        client = clients[seller]
        base = done["items"]
        if variant == "ours":
            def on_page(summary: dict, base: int = base) -> None:
                done["items"] += int(summary.get("items_seen", 0))
                point(done["items"])

            res = sync.sync_account(seller, day, sync.SyncOptions(daily_call_budget=UNLIMITED_BUDGET),
                                    client=client, engine=engine, run_id=run_id, on_page=on_page)
            per_account.append({"account": seller, "pages": res["pages"],
                                "finalised": bool(res["finalise"].get("finalised"))})
        else:
            def progress(kind: str, stats: old_loop.LoopStats, base: int = base) -> None:
                done["items"] = base + stats.items_synced + stats.items_failed
                point(done["items"])

            stats = old_loop.run_variant(variant, client, engine, schema or f"old_{variant}", seller, day,
                                         entries_per_page=entries_per_page, progress=progress)
            done["items"] = base + stats.items_synced + stats.items_failed
            per_account.append({"account": seller, "pages": stats.pages, "items_listed": stats.items_listed,
                                "items_synced": stats.items_synced, "items_failed": stats.items_failed,
                                "commits": stats.commits, "max_session_objects": stats.max_session_objects,
                                "errors": stats.errors[:5]})
        per_account[-1]["calls"] = dict(client.calls)
        point(done["items"])
    wall = time.monotonic() - t0
    calls: Counter[str] = Counter()
    for c in clients.values():
        calls.update(c.calls)
        c.close()
    engine.dispose()
    peak = round(max(_maxrss_mb(), max(p["rss_mb"] for p in curve)), 1)
    start_rss = round(start_rss, 1)
    return {
        "variant": variant, "wall_s": round(wall, 2), "items": done["items"],
        "start_rss_mb": start_rss, "end_rss_mb": round(_rss_mb(), 1), "peak_rss_mb": peak,
        "rss_growth_mb": round(peak - start_rss, 1), "calls": dict(calls), "accounts": per_account,
        "curve": curve,
    }


def count_rows(url: str, variant: str, schema: str | None = None) -> dict[str, int]:
    """Rows the variant stored (listings, daily rows) — a check that the run really wrote."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as c:
            if variant == "ours":
                q = ("SELECT (SELECT count(*) FROM ebay.listings), (SELECT count(*) FROM ebay.listing_snapshots)")
            else:
                s = schema or f"old_{variant}"
                q = f'SELECT (SELECT count(*) FROM "{s}".listings), (SELECT count(*) FROM "{s}".daily_metrics)'
            listings, daily = c.execute(sa.text(q)).one()
    finally:
        eng.dispose()
    return {"listings": int(listings), "daily_rows": int(daily)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=VARIANTS, required=True)
    ap.add_argument("--url", required=True, help="SQLAlchemy URL of the bench database")
    ap.add_argument("--api-base-url", required=True, help="the emulator")
    ap.add_argument("--accounts", default="seller_a:EBAY_US,seller_b:EBAY_GB")
    ap.add_argument("--snapshot-date", type=date.fromisoformat, required=True)
    ap.add_argument("--schema", default=None, help="schema of the old loop's tables (default old_<variant>)")
    ap.add_argument("--entries-per-page", type=int, default=200)
    ap.add_argument("--run-id", default="bench")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    result = run(a.variant, url=a.url, api_base_url=a.api_base_url, accounts=parse_accounts(a.accounts),
                 day=a.snapshot_date, schema=a.schema, entries_per_page=a.entries_per_page, run_id=a.run_id)
    result["rows"] = count_rows(a.url, a.variant, a.schema)
    Path(a.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

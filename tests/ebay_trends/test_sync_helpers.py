"""Shared helpers for the sync tests (no tests here).

Everything goes over real HTTP to the in-process emulator and real SQL to a fresh
PostgreSQL database; expected values come from the emulator's catalogue functions
(``srv.catalog``), never from the code under test.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import requests
import sqlalchemy as sa

from include.ebay_trends import warehouse
from include.ebay_trends.client import AccountConfig, EbayClient
from include.ebay_trends.sync import SyncOptions, finalise_account, plan_pages, reconcile_account, sync_page

# Columns whose value depends on the wall clock, excluded from row equality.
WALL_CLOCK = {"synced_at", "updated_at", "details_fetched_at"}
SECRETS = ("emulator-client-secret", "emu-refresh-", "v^1.1#")


def register(engine, srv, *sellers: str) -> None:
    for s in sellers or srv.config.sellers:
        warehouse.upsert_account(engine, s, conn_id=f"ebay_{s}", marketplace_id=srv.catalog.sellers[s].marketplace)


def client_for(srv, seller: str = "seller_a") -> EbayClient:
    cfg = AccountConfig(
        account_id=seller, marketplace_id=srv.catalog.sellers[seller].marketplace,
        client_id="emulator-client-id", client_secret="emulator-client-secret",
        refresh_token=f"emu-refresh-{seller}", api_base_url=srv.url,
    )
    return EbayClient(cfg, sleep=lambda _s: None)     # retries without waiting


def day_of(srv, day: int | None = None) -> date:
    return srv.catalog.date_of(srv.state.day if day is None else day)


def admin(srv, path: str, body: dict | None = None, method: str = "POST") -> dict:
    r = requests.request(method, f"{srv.url}/admin/{path}", json=body, timeout=10)
    r.raise_for_status()
    return r.json()


def served_ids(srv, seller: str, day: int | None = None) -> list[str]:
    """The active list as the emulator serves it now (drift included), from the admin API."""
    q = f"catalog?seller={seller}&ids=1" + ("" if day is None else f"&day={day}")
    return admin(srv, q, method="GET")["active_ids"]


def rows(engine, table: str, where: str = "", params: dict | None = None, *, drop=WALL_CLOCK) -> dict:
    """Rows keyed by primary key (tuple) minus wall-clock columns."""
    pk = {"listings": ("account_id", "item_id"),
          "listing_snapshots": ("account_id", "item_id", "snapshot_date")}[table]
    with engine.connect() as conn:
        res = conn.execute(sa.text(f"SELECT * FROM ebay.{table} {where}"), params or {}).mappings().all()
    return {tuple(r[k] for k in pk): {k: v for k, v in r.items() if k not in drop} for r in res}


def scalar(engine, sql: str, **params: Any):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def column(engine, sql: str, **params: Any) -> list:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params).scalars())


def run_account(srv, engine, seller: str, run_id: str, options: SyncOptions | None = None, *,
                client: EbayClient | None = None, reconcile: bool = True) -> dict:
    """What the DAG does for one account: plan, every page, reconcile, finalise."""
    options = options or SyncOptions()
    own = client is None
    client = client or client_for(srv, seller)
    try:
        day = day_of(srv)
        pages = plan_pages(seller, client, entries_per_page=options.entries_per_page, engine=engine,
                           options=options)
        summaries = [sync_page(seller, p, day, options, client=client, engine=engine, run_id=run_id) for p in pages]
        rec = None
        if reconcile:
            rec = reconcile_account(seller, day, options, client=client, engine=engine, run_id=run_id,
                                    planned_pages=len(pages))
        fin = finalise_account(seller, day, engine=engine, run_id=run_id)
        return {"pages": pages, "summaries": summaries, "reconcile": rec, "finalise": fin}
    finally:
        if own:
            client.close()


def assert_matches_truth(srv, engine, seller: str, day_index: int, item_ids: list[str]) -> None:
    """Every listing's snapshot of that day equals the emulator's own numbers."""
    d = srv.catalog.date_of(day_index)
    snaps = rows(engine, "listing_snapshots", "WHERE account_id = :a AND snapshot_date = :d", {"a": seller, "d": d})
    lst = rows(engine, "listings", "WHERE account_id = :a", {"a": seller})
    for i in item_ids:
        t = srv.catalog.item_state(seller, i, day_index)
        s = snaps[(seller, i, d)]
        assert (s["price"], s["currency"], s["quantity_sold"], s["watch_count"], s["bid_count"]) == \
            (t["price"], t["currency"], t["quantity_sold"], t["watch_count"], t["bid_count"]), i
        assert s["quantity_available"] == t["quantity_available"], i
        row = lst[(seller, i)]
        assert row["title"] == t["title"] and row["sku"] == t["sku"], i
        assert row["start_time"] == t["start_time"], i
        assert row["current_price"] == t["price"] and row["currency"] == t["currency"], i

"""Write path: the sync's own upserts on synthetic rows, by transaction size, and COPY.

Rows come from ``sync._rows_from_selling`` (the function the page task uses) and are
written by ``sync._write_rows`` (the page task's writer: one transaction per
``batch_size`` items, each holding the listing upsert and the snapshot upsert).  Two
paths are timed per variant:

* **new**: listings and snapshots all inserted (a first day);
* **steady**: the next days — every listing hits ``ON CONFLICT DO UPDATE`` (its CASE /
  COALESCE / GREATEST rules), every snapshot is a new row; the median of several days.

Like a page task (a fresh process), every timed write starts on fresh connections, and
the tables already hold rows (a seed account, ANALYZEd).  ``plan_cache_effect`` measures
what happens otherwise: one long-lived connection that started on an empty warehouse
keeps the plan PostgreSQL cached for the snapshot→listing foreign-key check while the
table was empty (a sequential scan), so each insert costs O(rows in the table).

``COPY`` streams each table into a temporary staging table and then runs the sync's
exact ``ON CONFLICT … DO UPDATE`` clause as one ``INSERT … SELECT`` per table, all in
one transaction — the fastest way to get the same rows in, at the price of one huge
transaction (a failure loses the page) and of a second code path.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Engine

from include.ebay_trends import sync, warehouse
from include.ebay_trends.records import ItemDetails, SellingItem

START = date(2026, 11, 1)


def synthetic_pairs(acct: str, n: int, day: date, run_id: str, *, seed: int = 0) -> list[tuple[dict, dict]]:
    """``n`` listing + snapshot row pairs shaped exactly like a page task's (with GetItem details)."""
    fetched = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    day_no = (day - START).days
    pairs = []
    for i in range(n):
        item_id = str(900_000_000_000 + seed * 10_000_000 + i)
        price = Decimal(10 + (i * 37 + day_no * 3) % 990) + Decimal("0.99")
        it = SellingItem(
            item_id=item_id, title=f"Synthetic listing {i} – Vintage Seiko Watch <{seed}>", sku=f"SKU-{i}",
            listing_type="FixedPriceItem", quantity=10, quantity_available=10 - (i + day_no) % 5,
            price=price, currency="USD", bid_count=0, quantity_sold=(i + day_no) % 5, watch_count=(i * 7) % 40,
            start_time=fetched - timedelta(days=30), view_item_url=f"https://www.ebay.com/itm/{item_id}",
            gallery_url=f"https://i.ebayimg.com/images/g/{i:08d}/s-l140.jpg", time_left="P10DT2H")
        det = ItemDetails(
            item_id=item_id, title=it.title, sku=it.sku, category_id="31387", category_name="Wristwatches",
            listing_type=it.listing_type, listing_status="Active", price=price, currency="USD", quantity=10,
            quantity_sold=it.quantity_sold, bid_count=0, watch_count=it.watch_count, hit_count=100 + i,
            start_time=it.start_time, end_time=fetched + timedelta(days=30), view_item_url=it.view_item_url,
            gallery_url=it.gallery_url)
        pairs.append(sync._rows_from_selling(acct, it, det, day, run_id, fetched))
    return pairs


def _from_staging(upsert: Any, table: sa.Table, staging: sa.Table) -> Any:
    """``INSERT INTO table SELECT * FROM staging`` with the sync upsert's own ON CONFLICT clause."""
    cols = [c.name for c in staging.columns]
    stmt = pg.insert(table).from_select(cols, sa.select(*[staging.c[c] for c in cols]))
    # Reuse the exact conflict clause the page task uses (same SET rules), not a copy of it.
    stmt._post_values_clause = upsert._post_values_clause
    return stmt


def write_copy(engine: Engine, pairs: Sequence[tuple[dict, dict]]) -> int:
    """COPY into temp staging tables, then one INSERT … SELECT … ON CONFLICT per table."""
    with engine.begin() as conn:
        for table, rows, upsert in ((warehouse.listings, [p[0] for p in pairs], sync._listing_upsert()),
                                    (warehouse.listing_snapshots, [p[1] for p in pairs], sync._snapshot_upsert())):
            cols = list(rows[0])
            name = f"stage_{table.name}"
            conn.execute(sa.text(f"CREATE TEMP TABLE {name} (LIKE {table.fullname} INCLUDING DEFAULTS) ON COMMIT DROP"))
            cur = conn.connection.dbapi_connection.cursor()
            try:
                with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(tuple(r[c] for c in cols))
            finally:
                cur.close()
            staging = sa.Table(name, sa.MetaData(), *[sa.Column(c, table.c[c].type) for c in cols])
            conn.execute(_from_staging(upsert, table, staging))
    return len(pairs)


def _write(engine: Engine, pairs: Sequence[tuple[dict, dict]], variant: str | int, *,
           fresh: bool = True) -> float:
    if fresh:
        engine.dispose()          # new connections, like a new page task: no plans cached before
    t0 = time.perf_counter()
    if variant == "copy":
        write_copy(engine, pairs)
    else:
        sync._write_rows(engine, pairs, int(variant))
    return time.perf_counter() - t0


def bench_variant(engine: Engine, variant: str | int, *, items: int, steady_days: int = 3,
                  seed: int = 0) -> dict[str, Any]:
    """Time one transaction size (or ``"copy"``) on the new and the steady path."""
    acct = f"wp_{variant}_{seed}"
    warehouse.upsert_account(engine, acct, conn_id=f"ebay_{acct}")
    t_new = _write(engine, synthetic_pairs(acct, items, START, "wp", seed=seed), variant)
    steady = [_write(engine, synthetic_pairs(acct, items, START + timedelta(days=d), "wp", seed=seed), variant)
              for d in range(1, steady_days + 1)]
    t_steady = statistics.median(steady)
    rows = 2 * items           # one listing row + one snapshot row per item
    with engine.connect() as c:
        stored = c.execute(sa.text("SELECT count(*) FROM ebay.listing_snapshots WHERE account_id = :a"),
                           {"a": acct}).scalar_one()
    if stored != items * (steady_days + 1):
        raise AssertionError(f"{variant}: {stored} snapshot rows stored, expected {items * (steady_days + 1)}")
    tx = 1 if variant == "copy" else -(-items // int(variant))
    return {
        "variant": str(variant), "items": items, "transactions_per_day": tx,
        "new_s": round(t_new, 3), "steady_s": round(t_steady, 3),
        "new_rows_per_s": round(rows / t_new), "steady_rows_per_s": round(rows / t_steady),
        "steady_items_per_s": round(items / t_steady),
        "steady_ms_per_200_page": round(1000 * t_steady * 200 / items, 1),
    }


SEED_ITEMS = 20_000


def _analyze(conn: sa.Connection) -> None:
    conn.execute(sa.text("ANALYZE ebay.listings"))
    conn.execute(sa.text("ANALYZE ebay.listing_snapshots"))


def _one_connection_from_empty(url: str, items: int, *, drop_fk: bool) -> float:
    engine = warehouse.make_engine(url, pool_size=1, max_overflow=0)
    try:
        warehouse.migrate(engine)
        if drop_fk:
            with engine.begin() as c:
                name = c.execute(sa.text(
                    "SELECT conname FROM pg_constraint WHERE conrelid = 'ebay.listing_snapshots'::regclass "
                    "AND contype = 'f'")).scalar_one()
                c.execute(sa.text(f'ALTER TABLE ebay.listing_snapshots DROP CONSTRAINT "{name}"'))
        warehouse.upsert_account(engine, "pc", conn_id="ebay_pc")
        engine.dispose()
        return _write(engine, synthetic_pairs("pc", items, START, "pc", seed=90), 100)
    finally:
        engine.dispose()


def plan_cache_effect(url: str, url_no_fk: str, *, items: int = 4000) -> dict[str, Any]:
    """``items`` new listings written on ONE connection that starts with empty tables,
    (a) as migrated, (b) without the snapshot→listing foreign key — and (c) the same rows
    on a fresh connection once the tables hold rows and are ANALYZEd.  Both URLs must be
    empty databases (b's is altered)."""
    t_empty = _one_connection_from_empty(url, items, drop_fk=False)
    t_no_fk = _one_connection_from_empty(url_no_fk, items, drop_fk=True)
    engine = warehouse.make_engine(url, pool_size=1, max_overflow=0)
    try:
        warehouse.upsert_account(engine, "pc_fresh", conn_id="ebay_pc_fresh")
        with engine.begin() as c:
            _analyze(c)
        t_fresh = _write(engine, synthetic_pairs("pc_fresh", items, START, "pc", seed=91), 100)
    finally:
        engine.dispose()
    return {"items": items, "one_connection_from_empty_s": round(t_empty, 3),
            "one_connection_from_empty_without_fk_s": round(t_no_fk, 3),
            "fresh_connection_analyzed_s": round(t_fresh, 3),
            "slowdown": round(t_empty / t_fresh, 1)}


def run(url: str, *, items: int = 5000, variants: Sequence[str | int] = (1, 25, 100, 500, "copy"),
        per_item_items: int = 1000) -> dict[str, Any]:
    """All variants on one database.  Batch size 1 (a commit per item, the old pattern) on
    fewer items, since it is the slow one; the rates are per row, so they compare."""
    engine = warehouse.make_engine(url)
    try:
        warehouse.migrate(engine)
        warehouse.upsert_account(engine, "wp_seed", conn_id="ebay_wp_seed")
        write_copy(engine, synthetic_pairs("wp_seed", SEED_ITEMS, START, "seed", seed=99))
        with engine.begin() as c:
            _analyze(c)
        results = []
        for i, v in enumerate(variants):
            n = per_item_items if v == 1 else items
            results.append(bench_variant(engine, v, items=n, seed=i + 1))
    finally:
        engine.dispose()
    base = next(r for r in results if r["variant"] == "100")
    for r in results:
        r["steady_vs_100"] = round(r["steady_rows_per_s"] / base["steady_rows_per_s"], 2)
    return {"items": items, "variants": results,
            "method": "sync._rows_from_selling rows written by sync._write_rows(batch) or COPY+INSERT…SELECT "
                      "with the same ON CONFLICT clause; rows = listing + snapshot rows; steady = median of "
                      "3 later days (listing update + snapshot insert)"}

"""Read-only queries behind the trends page.  Every value is a bound parameter.

Functions take an open SQLAlchemy ``Connection`` and return plain dicts / lists; the
routes turn them into HTML, JSON or CSV.  Money stays ``Decimal`` with its currency.
"""
from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def _rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def _money_map(text: str | None) -> dict[str, Decimal]:
    """jsonb revenue map read as text, so numbers stay exact Decimals."""
    if not text:
        return {}
    raw = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    return {str(k): Decimal(v).quantize(Decimal("0.01")) for k, v in sorted(raw.items())}


# --------------------------------------------------------------------------- accounts
def accounts(conn: Connection) -> list[dict[str, Any]]:
    return _rows(conn, """
        SELECT a.account_id, a.marketplace_id, a.active, a.last_sync_at, a.last_sync_date,
               a.last_sync_run_id,
               (SELECT max(d.day) FROM ebay.account_daily d WHERE d.account_id = a.account_id) AS latest_day
        FROM ebay.accounts a
        ORDER BY a.account_id
    """)


def account_exists(conn: Connection, account_id: str) -> bool:
    return conn.execute(
        sa.text("SELECT EXISTS (SELECT 1 FROM ebay.accounts WHERE account_id = :a)"), {"a": account_id}
    ).scalar_one()


def trend_days(conn: Connection, account_id: str, limit: int = 90) -> list[date]:
    return [r["day"] for r in _rows(conn, """
        SELECT day FROM ebay.account_daily WHERE account_id = :a ORDER BY day DESC LIMIT :n
    """, a=account_id, n=limit)]


def resolve_day(conn: Connection, account_id: str, day: date | None) -> date | None:
    """The requested day, or the account's latest computed day."""
    if day is not None:
        return day
    return conn.execute(
        sa.text("SELECT max(day) FROM ebay.account_daily WHERE account_id = :a"), {"a": account_id}
    ).scalar_one()


# --------------------------------------------------------------------------- sync status
def sync_status(conn: Connection, account_id: str) -> dict[str, Any]:
    """Last finalised sync (ebay.accounts) and the status of the newest run (ebay.sync_pages)."""
    acct = conn.execute(sa.text("""
        SELECT last_sync_at, last_sync_date, last_sync_run_id FROM ebay.accounts WHERE account_id = :a
    """), {"a": account_id}).mappings().first()
    latest = conn.execute(sa.text("""
        SELECT run_id FROM ebay.sync_pages WHERE account_id = :a
        GROUP BY run_id ORDER BY max(started_at) DESC, run_id DESC LIMIT 1
    """), {"a": account_id}).scalar()
    out: dict[str, Any] = dict(acct) if acct else {}

    def run_summary(run_id: str | None) -> dict[str, Any] | None:
        if not run_id:
            return None
        r = conn.execute(sa.text("""
            SELECT count(*) FILTER (WHERE page > 0) AS pages,
                   count(*) FILTER (WHERE page > 0 AND status = 'success') AS pages_ok,
                   count(*) FILTER (WHERE status = 'failed') AS failed,
                   count(*) FILTER (WHERE status = 'running') AS running,
                   count(*) FILTER (WHERE status = 'dry_run') AS dry_run,
                   max(pages) AS planned, min(snapshot_date) AS snapshot_date,
                   COALESCE(sum(items_written), 0) AS items_written,
                   COALESCE(sum(items_failed), 0) AS items_failed,
                   max(finished_at) AS finished_at
            FROM ebay.sync_pages WHERE run_id = :r AND account_id = :a
        """), {"r": run_id, "a": account_id}).mappings().one()
        if r["failed"]:
            status = "failed"
        elif r["running"]:
            status = "running"
        elif r["dry_run"]:
            status = "dry_run"
        elif r["pages"] == 0:
            status = "unknown"
        elif r["planned"] is not None and r["pages_ok"] < r["planned"]:
            status = "incomplete"
        else:
            status = "success"
        return {"run_id": run_id, "status": status, **dict(r)}

    out["last_run"] = run_summary(out.get("last_sync_run_id"))
    out["latest_run"] = run_summary(latest) if latest and latest != out.get("last_sync_run_id") else None
    return out


# --------------------------------------------------------------------------- KPIs
def kpis(conn: Connection, account_id: str, day: date) -> dict[str, Any] | None:
    days = _rows(conn, """
        SELECT day, active_listings, new_listings, ended_listings, units_sold, revenue::text AS revenue,
               views, traffic_pending, watchers, watchers_change, trending
        FROM ebay.account_daily WHERE account_id = :a AND day <= :d
        ORDER BY day DESC LIMIT 2
    """, a=account_id, d=day)
    if not days or days[0]["day"] != day:
        return None
    cur = days[0]
    prev = days[1] if len(days) > 1 else None
    for row in days:
        row["revenue"] = _money_map(row["revenue"])
    # Views lag (traffic report): show the latest reported day, labelled with its date.
    views = _rows(conn, """
        SELECT day, views FROM ebay.account_daily
        WHERE account_id = :a AND day <= :d AND views IS NOT NULL
        ORDER BY day DESC LIMIT 2
    """, a=account_id, d=day)

    def metric(name: str) -> dict[str, Any]:
        value = cur[name]
        before = prev[name] if prev else None
        change = value - before if value is not None and before is not None else None
        return {"value": value, "previous": before, "change": change}

    currencies = sorted(set(cur["revenue"]) | set(prev["revenue"] if prev else {}))
    revenue = []
    for c in currencies:
        v = cur["revenue"].get(c, Decimal("0.00"))
        p = prev["revenue"].get(c) if prev else None
        revenue.append({"currency": c, "value": v, "previous": p, "change": v - p if p is not None else None})
    return {
        "day": day,
        "previous_day": prev["day"] if prev else None,
        "active_listings": metric("active_listings"),
        "units_sold": metric("units_sold"),
        "watchers": metric("watchers"),
        "trending": metric("trending"),
        "new_listings": cur["new_listings"],
        "ended_listings": cur["ended_listings"],
        "revenue": revenue,
        "views": {
            "day": views[0]["day"] if views else None,
            "value": views[0]["views"] if views else None,
            "previous_day": views[1]["day"] if len(views) > 1 else None,
            "previous": views[1]["views"] if len(views) > 1 else None,
            "change": views[0]["views"] - views[1]["views"] if len(views) > 1 else None,
            "pending_listings": cur["traffic_pending"],
        },
    }


def account_history(conn: Connection, account_id: str, end: date, days: int) -> list[dict[str, Any]]:
    """``account_daily`` rows of the ``days`` days up to ``end`` (for the overview charts)."""
    return _rows(conn, """
        SELECT day, active_listings, units_sold, views, watchers, traffic_pending
        FROM ebay.account_daily
        WHERE account_id = :a AND day > :start AND day <= :end
        ORDER BY day
    """, a=account_id, start=end - timedelta(days=days), end=end)


# --------------------------------------------------------------------------- top movers
TOP_MOVER_COLUMNS = (
    "rank", "item_id", "title", "category_name", "currency", "price", "score", "trending",
    "units_sold", "revenue", "watchers", "watchers_change", "views", "traffic_pending",
    "view_growth_date", "view_growth_pct", "watch_growth_pct", "price_change_7d_pct",
    "units_7d", "views_7d", "sell_through_pct", "is_new", "sold_reset", "gap_days",
    "gallery_url", "view_item_url",
)


def top_movers(conn: Connection, account_id: str, day: date, limit: int) -> list[dict[str, Any]]:
    return _rows(conn, """
        SELECT t.rank, t.item_id, l.title, l.category_name, t.currency, t.price, t.score, t.trending,
               t.units_sold, t.revenue, t.watchers, t.watchers_change, t.views, t.traffic_pending,
               t.view_growth_date, t.view_growth_pct, t.watch_growth_pct, t.price_change_7d_pct,
               t.units_7d, t.views_7d, t.sell_through_pct, t.is_new, t.sold_reset, t.gap_days,
               l.gallery_url, l.view_item_url
        FROM ebay.listing_trends t
        JOIN ebay.listings l ON l.account_id = t.account_id AND l.item_id = t.item_id
        WHERE t.account_id = :a AND t.trend_date = :d
        ORDER BY t.rank
        LIMIT :n
    """, a=account_id, d=day, n=limit)


# --------------------------------------------------------------------------- listing
def listing(conn: Connection, account_id: str, item_id: str) -> dict[str, Any] | None:
    row = conn.execute(sa.text("""
        SELECT account_id, item_id, title, sku, category_id, category_name, listing_type, listing_status,
               currency, current_price, quantity_available, quantity_sold, watch_count,
               gallery_url, view_item_url, first_seen_date, last_seen_date, ended_date
        FROM ebay.listings WHERE account_id = :a AND item_id = :i
    """), {"a": account_id, "i": item_id}).mappings().first()
    return dict(row) if row else None


HISTORY_COLUMNS = (
    "trend_date", "currency", "price", "units_sold", "revenue", "watchers", "watchers_change",
    "views", "impressions", "traffic_pending", "score", "rank", "trending", "is_new", "sold_reset",
    "gap_days",
)


def listing_history(conn: Connection, account_id: str, item_id: str, days: int,
                    end: date | None = None) -> list[dict[str, Any]]:
    """Trend rows of the last ``days`` days up to ``end`` (default: the listing's latest)."""
    if end is None:
        end = conn.execute(sa.text("""
            SELECT max(trend_date) FROM ebay.listing_trends WHERE account_id = :a AND item_id = :i
        """), {"a": account_id, "i": item_id}).scalar_one()
        if end is None:
            return []
    return _rows(conn, """
        SELECT trend_date, currency, price, units_sold, revenue, watchers, watchers_change, views,
               impressions, traffic_pending, score, rank, trending, is_new, sold_reset, gap_days
        FROM ebay.listing_trends
        WHERE account_id = :a AND item_id = :i AND trend_date > :start AND trend_date <= :end
        ORDER BY trend_date
    """, a=account_id, i=item_id, start=end - timedelta(days=days), end=end)


# --------------------------------------------------------------------------- categories
def categories(conn: Connection, account_id: str, day: date) -> list[dict[str, Any]]:
    rows = _rows(conn, """
        SELECT c.category_id, c.category_name, c.active_listings, c.new_listings, c.ended_listings,
               c.units_sold, c.revenue::text AS revenue, c.views, c.watchers, c.watchers_change,
               c.trending, c.avg_score, p.units_sold AS prev_units_sold, p.day AS prev_day
        FROM ebay.category_daily c
        LEFT JOIN LATERAL (
            SELECT q.units_sold, q.day FROM ebay.category_daily q
            WHERE q.account_id = c.account_id AND q.category_id = c.category_id AND q.day < c.day
            ORDER BY q.day DESC LIMIT 1
        ) p ON true
        WHERE c.account_id = :a AND c.day = :d
        ORDER BY c.units_sold DESC, c.active_listings DESC, c.category_id
    """, a=account_id, d=day)
    for r in rows:
        r["revenue"] = _money_map(r["revenue"])
        r["units_change"] = (r["units_sold"] - r["prev_units_sold"]
                             if r["prev_units_sold"] is not None else None)
    return rows

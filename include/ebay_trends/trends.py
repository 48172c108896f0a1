"""Trend research: per-listing daily trends and per-account / per-category aggregates.

PostgreSQL does the work; Python only orchestrates.  ``compute_trends`` rebuilds one
snapshot date (for all or some accounts) in one transaction: DELETE that date's rows,
then INSERT them again from ``ebay.listing_snapshots`` — so a rerun replaces, never
duplicates, and a rerun after late traffic-report days arrive fills them in.

Every rule (gaps, new listings, resets, pending traffic, currencies, clamps) is
written down in docs/TRENDS.md; the SQL below follows it line by line.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from include.ebay_trends.settings import TRAFFIC_LOOKBACK_DAYS

log = logging.getLogger(__name__)

# Window lengths (days, inclusive of the trend date).
WINDOW_SHORT_DAYS = 7
WINDOW_LONG_DAYS = 30
# A traffic report for day X may be stored on a snapshot up to this many days later.
TRAFFIC_REPORT_MAX_LAG_DAYS = 7
# The view-growth term may use a traffic day this many days before the trend date
# (the sync asks the report for the same lookback, see settings.TRAFFIC_LOOKBACK_DAYS).
VIEW_GROWTH_MAX_AGE_DAYS = TRAFFIC_LOOKBACK_DAYS
WORK_MEM = "64MB"
# pg_advisory_xact_lock class id: serialises concurrent compute_trends runs for one date.
_LOCK_CLASS = 0x7E4D


@dataclass(frozen=True, slots=True)
class TrendWeights:
    """Weights of the trend score and the clamps applied to its terms.

    Defaults are the replaced system's formula (0.4 views, 0.4 watchers, 0.2 price),
    price change clamped to ±100 %, growth terms clamped to [-100 %, +500 %].
    """

    views: float = 0.4
    watchers: float = 0.4
    price: float = 0.2
    growth_cap: float = 500.0       # upper clamp of view / watch growth (%) in the score
    price_cap: float = 100.0        # |7-day price change| clamp (%) in the score

    def __post_init__(self) -> None:
        for name in ("views", "watchers", "price", "growth_cap", "price_cap"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, Decimal)) or not math.isfinite(float(value)):
                raise ValueError(f"TrendWeights.{name} must be a finite number, got {value!r}")
        if float(self.growth_cap) <= 0 or float(self.price_cap) <= 0:
            raise ValueError("TrendWeights caps must be > 0")

    def as_params(self) -> dict[str, Decimal]:
        # Decimal(str(x)) so 0.4 reaches PostgreSQL as numeric 0.4, not 0.40000000000000002.
        return {
            "w_views": Decimal(str(self.views)),
            "w_watchers": Decimal(str(self.watchers)),
            "w_price": Decimal(str(self.price)),
            "growth_cap": Decimal(str(self.growth_cap)),
            "price_cap": Decimal(str(self.price_cap)),
        }


DEFAULT_WEIGHTS = TrendWeights()

# --- SQL -----------------------------------------------------------------------------
# Parameters: :d (date), :all_accounts (bool), :accounts (text[]), weights, :top_n.
_ACCOUNT_FILTER = "(:all_accounts OR {col} = ANY(CAST(:accounts AS text[])))"

_DELETE = [
    f"DELETE FROM ebay.listing_trends WHERE trend_date = :d AND {_ACCOUNT_FILTER.format(col='account_id')}",
    f"DELETE FROM ebay.account_daily WHERE day = :d AND {_ACCOUNT_FILTER.format(col='account_id')}",
    f"DELETE FROM ebay.category_daily WHERE day = :d AND {_ACCOUNT_FILTER.format(col='account_id')}",
]

# Stage 1: one row per snapshot of each listing active on :d, over the 30-day window, with
# the snapshot before it and the traffic numbers of its day.  A temp table (analysed
# before use) rather than a CTE: with CTE row estimates PostgreSQL picked nested loops
# that re-ran subqueries per row (minutes instead of seconds for 4,311 listings).
_STAGE_DAYS = f"""
CREATE TEMP TABLE trend_days ON COMMIT DROP AS
WITH
-- Listings with a snapshot on :d, i.e. active that day.  A listing has no row on or after
-- the day it was marked ended (the sync sets ended_date to the first day it was missing).
cur AS MATERIALIZED (
    SELECT s.account_id, s.item_id
    FROM ebay.listing_snapshots s
    JOIN ebay.listings l ON l.account_id = s.account_id AND l.item_id = s.item_id
    WHERE s.snapshot_date = :d
      AND {_ACCOUNT_FILTER.format(col='s.account_id')}
      AND (l.ended_date IS NULL OR s.snapshot_date < l.ended_date)
),
hist AS MATERIALIZED (
    SELECT h.account_id, h.item_id, h.snapshot_date AS day, h.currency, h.price,
           h.quantity_available, h.quantity_sold, h.watch_count,
           LAG(h.snapshot_date) OVER w AS prev_date,
           LAG(h.quantity_sold) OVER w AS prev_sold,
           LAG(h.watch_count) OVER w AS prev_watch
    FROM cur c
    JOIN ebay.listing_snapshots h
      ON h.account_id = c.account_id AND h.item_id = c.item_id
     AND h.snapshot_date BETWEEN CAST(:d AS date) - {WINDOW_LONG_DAYS - 1} AND CAST(:d AS date)
    WINDOW w AS (PARTITION BY h.account_id, h.item_id ORDER BY h.snapshot_date)
),
-- The snapshot before each listing's first one in the window, however old: a gap is
-- measured, not hidden.  One index lookup per listing.
first_prev AS MATERIALIZED (
    SELECT h.account_id, h.item_id, h.day, p.snapshot_date, p.quantity_sold, p.watch_count
    FROM hist h
    JOIN LATERAL (
        SELECT p.snapshot_date, p.quantity_sold, p.watch_count
        FROM ebay.listing_snapshots p
        WHERE p.account_id = h.account_id AND p.item_id = h.item_id AND p.snapshot_date < h.day
        ORDER BY p.snapshot_date DESC
        LIMIT 1
    ) p ON true
    WHERE h.prev_date IS NULL
),
-- Daily traffic-report numbers by the day they cover (traffic_date).  The newest
-- snapshot carrying a day's numbers wins (the report is revised while it lags).
traffic AS MATERIALIZED (
    SELECT DISTINCT ON (t.account_id, t.item_id, t.traffic_date)
           t.account_id, t.item_id, t.traffic_date, t.views, t.impressions
    FROM cur c
    JOIN ebay.listing_snapshots t
      ON t.account_id = c.account_id AND t.item_id = c.item_id
     AND t.snapshot_date BETWEEN CAST(:d AS date) - {WINDOW_LONG_DAYS}
                             AND CAST(:d AS date) + {TRAFFIC_REPORT_MAX_LAG_DAYS}
    WHERE t.traffic_date BETWEEN CAST(:d AS date) - {WINDOW_LONG_DAYS} AND CAST(:d AS date)
    ORDER BY t.account_id, t.item_id, t.traffic_date, t.snapshot_date DESC
),
joined AS (
    SELECT h.account_id, h.item_id, h.day, h.currency, h.price, h.quantity_available,
           h.quantity_sold, h.watch_count,
           COALESCE(h.prev_date, f.snapshot_date) AS prev_date,
           CASE WHEN h.prev_date IS NULL THEN f.quantity_sold ELSE h.prev_sold END AS prev_sold,
           CASE WHEN h.prev_date IS NULL THEN f.watch_count ELSE h.prev_watch END AS prev_watch,
           t.traffic_date IS NOT NULL AS has_traffic, t.views, t.impressions
    FROM hist h
    LEFT JOIN first_prev f ON f.account_id = h.account_id AND f.item_id = h.item_id AND f.day = h.day
    LEFT JOIN traffic t
      ON t.account_id = h.account_id AND t.item_id = h.item_id AND t.traffic_date = h.day
)
SELECT j.*,
       j.day - j.prev_date AS gap_days,
       CASE WHEN j.prev_date IS NULL OR j.quantity_sold IS NULL OR j.prev_sold IS NULL THEN NULL
            ELSE GREATEST(j.quantity_sold - j.prev_sold, 0) END AS units,
       COALESCE(j.quantity_sold < j.prev_sold, false) AS sold_reset
FROM joined j
"""

# Stage 2: one row per listing active on :d with every measure and its score.
_STAGE_ITEMS = f"""
CREATE TEMP TABLE trend_items ON COMMIT DROP AS
WITH
win AS MATERIALIZED (
    SELECT account_id, item_id,
           SUM(units)      FILTER (WHERE day > CAST(:d AS date) - {WINDOW_SHORT_DAYS}) AS units_7d,
           SUM(gap_days)   FILTER (WHERE day > CAST(:d AS date) - {WINDOW_SHORT_DAYS}
                                     AND units IS NOT NULL)                         AS units_7d_days,
           SUM(units)                                                              AS units_30d,
           SUM(gap_days)   FILTER (WHERE units IS NOT NULL)                         AS units_30d_days,
           SUM(views)      FILTER (WHERE day > CAST(:d AS date) - {WINDOW_SHORT_DAYS}) AS views_7d,
           AVG(views)      FILTER (WHERE day > CAST(:d AS date) - {WINDOW_SHORT_DAYS}) AS views_7d_avg,
           SUM(views)                                                              AS views_30d,
           AVG(views)                                                              AS views_30d_avg,
           AVG(watch_count) FILTER (WHERE day > CAST(:d AS date) - {WINDOW_SHORT_DAYS}) AS watchers_7d_avg
    FROM trend_days
    GROUP BY account_id, item_id
),
-- Day-over-day view growth of the latest traffic day T in [:d - lookback, :d] for which
-- both T and T - 1 are reported (the report lags, so T is usually :d - 1 when :d is
-- first computed and becomes :d on a later rerun).
view_growth AS MATERIALIZED (
    SELECT DISTINCT ON (account_id, item_id) account_id, item_id, day,
           CASE WHEN prev_views = 0 THEN CASE WHEN views > 0 THEN 100.0 ELSE 0.0 END
                ELSE (views - prev_views)::numeric / prev_views * 100 END AS growth
    FROM (
        SELECT account_id, item_id, day, views, has_traffic,
               LAG(day) OVER w AS prev_day, LAG(views) OVER w AS prev_views,
               LAG(has_traffic) OVER w AS prev_has_traffic
        FROM trend_days
        WINDOW w AS (PARTITION BY account_id, item_id ORDER BY day)
    ) x
    WHERE day >= CAST(:d AS date) - {VIEW_GROWTH_MAX_AGE_DAYS}
      AND prev_day = day - 1 AND has_traffic AND prev_has_traffic
      AND views IS NOT NULL AND prev_views IS NOT NULL
    ORDER BY account_id, item_id, day DESC
),
-- 7-day price reference: the latest snapshot on or before :d - 7; for a younger listing,
-- its first snapshot before :d.
price_ref AS MATERIALIZED (
    SELECT c.account_id, c.item_id, r.snapshot_date, r.price, r.currency
    FROM trend_days c
    JOIN LATERAL (
        SELECT x.snapshot_date, x.price, x.currency FROM (
            (SELECT 1 AS pref, r.snapshot_date, r.price, r.currency
               FROM ebay.listing_snapshots r
              WHERE r.account_id = c.account_id AND r.item_id = c.item_id
                AND r.snapshot_date <= CAST(:d AS date) - {WINDOW_SHORT_DAYS}
              ORDER BY r.snapshot_date DESC LIMIT 1)
            UNION ALL
            (SELECT 2 AS pref, r.snapshot_date, r.price, r.currency
               FROM ebay.listing_snapshots r
              WHERE r.account_id = c.account_id AND r.item_id = c.item_id
                AND r.snapshot_date > CAST(:d AS date) - {WINDOW_SHORT_DAYS}
                AND r.snapshot_date < CAST(:d AS date)
              ORDER BY r.snapshot_date ASC LIMIT 1)
        ) x
        ORDER BY x.pref
        LIMIT 1
    ) r ON true
    WHERE c.day = CAST(:d AS date)
),
measured AS (
    SELECT c.*,
           w.units_7d, w.units_7d_days, w.units_30d, w.units_30d_days, w.views_7d, w.views_7d_avg,
           w.views_30d, w.views_30d_avg, w.watchers_7d_avg,
           pr.snapshot_date AS price_ref_date, pr.price AS price_ref,
           -- never compare prices in two currencies
           CASE WHEN pr.price > 0 AND pr.currency = c.currency
                THEN (c.price - pr.price) / pr.price * 100 END AS price_pct,
           vg.day AS view_growth_date, vg.growth AS view_growth,
           -- watchers vs the previous snapshot; over a gap of g days, divided by g
           CASE WHEN c.prev_date IS NULL OR c.watch_count IS NULL OR c.prev_watch IS NULL THEN NULL
                WHEN c.prev_watch = 0 THEN CASE WHEN c.watch_count > 0 THEN 100.0 ELSE 0.0 END / c.gap_days
                ELSE (c.watch_count - c.prev_watch)::numeric / c.prev_watch * 100 / c.gap_days
           END AS watch_growth
    FROM trend_days c
    JOIN win w ON w.account_id = c.account_id AND w.item_id = c.item_id
    LEFT JOIN view_growth vg ON vg.account_id = c.account_id AND vg.item_id = c.item_id
    LEFT JOIN price_ref pr ON pr.account_id = c.account_id AND pr.item_id = c.item_id
    WHERE c.day = CAST(:d AS date)
)
SELECT m.*,
       ROUND(GREATEST(0,
             CAST(:w_views AS numeric)
               * LEAST(GREATEST(COALESCE(m.view_growth, 0), -100), CAST(:growth_cap AS numeric))
           + CAST(:w_watchers AS numeric)
               * LEAST(GREATEST(COALESCE(m.watch_growth, 0), -100), CAST(:growth_cap AS numeric))
           + CAST(:w_price AS numeric)
               * LEAST(GREATEST(COALESCE(m.price_pct, 0), -CAST(:price_cap AS numeric)),
                       CAST(:price_cap AS numeric))
       ), 2) AS score
FROM measured m
"""

# Stage 3: rank within the account and write the rows.
_INSERT_LISTING_TRENDS = """
INSERT INTO ebay.listing_trends (
    account_id, item_id, trend_date, prev_snapshot_date, gap_days, is_new, currency, price,
    quantity_available, quantity_sold, units_sold, sold_reset, revenue, watchers, watchers_change,
    views, impressions, views_source, traffic_pending,
    units_7d, units_7d_avg, units_30d, units_30d_avg, views_7d, views_7d_avg, views_30d, views_30d_avg,
    watchers_7d_avg, price_ref_date, price_ref, price_change_7d_pct, sell_through_pct,
    view_growth_date, view_growth_pct, watch_growth_pct, score, rank, trending)
SELECT account_id, item_id, CAST(:d AS date), prev_date, gap_days, prev_date IS NULL, currency, price,
       quantity_available, quantity_sold, units, sold_reset, ROUND(units * price, 2),
       watch_count, watch_count - prev_watch,
       views, impressions, CASE WHEN has_traffic THEN 'traffic' END, NOT has_traffic,
       units_7d, ROUND(units_7d::numeric / NULLIF(units_7d_days, 0), 4),
       units_30d, ROUND(units_30d::numeric / NULLIF(units_30d_days, 0), 4),
       views_7d, ROUND(views_7d_avg, 2), views_30d, ROUND(views_30d_avg, 2),
       ROUND(watchers_7d_avg, 2), price_ref_date, price_ref, ROUND(price_pct, 2),
       ROUND(quantity_sold::numeric * 100 / NULLIF(quantity_sold + quantity_available, 0), 2),
       view_growth_date, ROUND(view_growth, 2), ROUND(watch_growth, 2),
       score, rnk, (rnk <= :top_n AND score > 0)
FROM (
    SELECT i.*,
           -- ties broken by item id in numeric order (ids are digit strings)
           ROW_NUMBER() OVER (PARTITION BY i.account_id
                              ORDER BY i.score DESC, length(i.item_id), i.item_id) AS rnk
    FROM trend_items i
) ranked
"""

_INSERT_ACCOUNT_DAILY = f"""
INSERT INTO ebay.account_daily (
    account_id, day, active_listings, new_listings, ended_listings, units_sold, revenue,
    views, impressions, traffic_pending, watchers, watchers_change, trending, resets, gaps)
WITH t AS (
    SELECT * FROM ebay.listing_trends
    WHERE trend_date = :d AND {_ACCOUNT_FILTER.format(col='account_id')}
),
rev AS (   -- one entry per currency; 0 for a currency whose listings sold nothing
    SELECT account_id, jsonb_object_agg(currency, revenue ORDER BY currency) AS revenue
    FROM (SELECT account_id, currency, COALESCE(SUM(revenue), 0) AS revenue
          FROM t GROUP BY account_id, currency) x
    GROUP BY account_id
),
ended AS (
    SELECT account_id, count(*) AS n FROM ebay.listings
    WHERE ended_date = :d GROUP BY account_id
)
SELECT t.account_id, CAST(:d AS date), count(*), count(*) FILTER (WHERE t.is_new),
       COALESCE(e.n, 0), COALESCE(SUM(t.units_sold), 0), COALESCE(rev.revenue, '{{}}'::jsonb),
       SUM(t.views), SUM(t.impressions), count(*) FILTER (WHERE t.traffic_pending),
       SUM(t.watchers), SUM(t.watchers_change), count(*) FILTER (WHERE t.trending),
       count(*) FILTER (WHERE t.sold_reset), count(*) FILTER (WHERE t.gap_days > 1)
FROM t
LEFT JOIN rev ON rev.account_id = t.account_id
LEFT JOIN ended e ON e.account_id = t.account_id
GROUP BY t.account_id, rev.revenue, e.n
"""

_INSERT_CATEGORY_DAILY = f"""
INSERT INTO ebay.category_daily (
    account_id, day, category_id, category_name, active_listings, new_listings, ended_listings,
    units_sold, revenue, views, watchers, watchers_change, trending, avg_score)
WITH t AS (
    SELECT lt.*, COALESCE(l.category_id, '') AS category_id, l.category_name
    FROM ebay.listing_trends lt
    JOIN ebay.listings l ON l.account_id = lt.account_id AND l.item_id = lt.item_id
    WHERE lt.trend_date = :d AND {_ACCOUNT_FILTER.format(col='lt.account_id')}
),
active AS (
    SELECT account_id, category_id, MAX(category_name) AS category_name, count(*) AS n,
           count(*) FILTER (WHERE is_new) AS new_n, COALESCE(SUM(units_sold), 0) AS units,
           SUM(views) AS views, SUM(watchers) AS watchers, SUM(watchers_change) AS watchers_change,
           count(*) FILTER (WHERE trending) AS trending, ROUND(AVG(score), 2) AS avg_score
    FROM t GROUP BY account_id, category_id
),
rev AS (
    SELECT account_id, category_id, jsonb_object_agg(currency, revenue ORDER BY currency) AS revenue
    FROM (SELECT account_id, category_id, currency, COALESCE(SUM(revenue), 0) AS revenue
          FROM t GROUP BY account_id, category_id, currency) x
    GROUP BY account_id, category_id
),
-- listings that ended on :d, in accounts that were synced on :d
ended AS (
    SELECT l.account_id, COALESCE(l.category_id, '') AS category_id,
           MAX(l.category_name) AS category_name, count(*) AS n
    FROM ebay.listings l
    WHERE l.ended_date = :d AND l.account_id IN (SELECT DISTINCT account_id FROM t)
    GROUP BY 1, 2
)
SELECT COALESCE(a.account_id, e.account_id), CAST(:d AS date), COALESCE(a.category_id, e.category_id),
       COALESCE(a.category_name, e.category_name), COALESCE(a.n, 0), COALESCE(a.new_n, 0),
       COALESCE(e.n, 0), COALESCE(a.units, 0), COALESCE(r.revenue, '{{}}'::jsonb),
       a.views, a.watchers, a.watchers_change, COALESCE(a.trending, 0), a.avg_score
FROM active a
FULL JOIN ended e ON e.account_id = a.account_id AND e.category_id = a.category_id
LEFT JOIN rev r ON r.account_id = a.account_id AND r.category_id = a.category_id
"""

_SUMMARY = f"""
SELECT count(*) AS listings,
       count(DISTINCT account_id) AS accounts,
       count(*) FILTER (WHERE trending) AS trending,
       count(*) FILTER (WHERE is_new) AS new_listings,
       count(*) FILTER (WHERE traffic_pending) AS traffic_pending,
       count(*) FILTER (WHERE sold_reset) AS resets,
       count(*) FILTER (WHERE gap_days > 1) AS gaps,
       COALESCE(SUM(units_sold), 0) AS units_sold
FROM ebay.listing_trends
WHERE trend_date = :d AND {_ACCOUNT_FILTER.format(col='account_id')}
"""


def _params(snapshot_date: date, accounts: Sequence[str] | None) -> dict[str, Any]:
    if isinstance(snapshot_date, str) or not isinstance(snapshot_date, date):
        raise TypeError(f"snapshot_date must be a datetime.date, got {type(snapshot_date).__name__}")
    if accounts is not None:
        if isinstance(accounts, str):
            raise TypeError("accounts must be a sequence of account ids, not one string")
        accounts = [str(a) for a in accounts]
    return {"d": snapshot_date, "all_accounts": accounts is None, "accounts": list(accounts or [])}


def compute_trends(
    engine: Engine,
    snapshot_date: date,
    *,
    accounts: Sequence[str] | None = None,
    weights: TrendWeights = DEFAULT_WEIGHTS,
    top_n: int = 10,
) -> dict[str, Any]:
    """Rebuild ``listing_trends``, ``account_daily`` and ``category_daily`` for one date.

    ``accounts=None`` means every account (and removes rows of accounts that no longer
    have snapshots that day).  Returns a small JSON-able summary (counts only).
    """
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 0:
        raise ValueError(f"top_n must be a non-negative int, got {top_n!r}")
    params = _params(snapshot_date, accounts)
    params.update(weights.as_params())
    params["top_n"] = top_n

    with engine.begin() as conn:
        _lock(conn, snapshot_date)
        # The stages sort ~30 rows per listing; let them sort in memory, for this transaction only.
        conn.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        deleted = sum(conn.execute(sa.text(stmt), params).rowcount for stmt in _DELETE)
        conn.execute(sa.text(_STAGE_DAYS), params)
        conn.execute(sa.text("ANALYZE trend_days"))
        conn.execute(sa.text(_STAGE_ITEMS), params)
        conn.execute(sa.text("ANALYZE trend_items"))
        conn.execute(sa.text(_INSERT_LISTING_TRENDS), params)
        account_rows = conn.execute(sa.text(_INSERT_ACCOUNT_DAILY), params).rowcount
        category_rows = conn.execute(sa.text(_INSERT_CATEGORY_DAILY), params).rowcount
        summary = dict(conn.execute(sa.text(_SUMMARY), params).mappings().one())

    result: dict[str, Any] = {
        "snapshot_date": snapshot_date.isoformat(),
        **{k: int(v) for k, v in summary.items()},
        "account_daily": account_rows,
        "category_daily": category_rows,
        "replaced_rows": deleted,
    }
    log.info("trends for %s: %s", snapshot_date, result)
    return result


def refresh_trends(
    engine: Engine,
    snapshot_date: date,
    *,
    lookback_days: int = TRAFFIC_LOOKBACK_DAYS,
    accounts: Sequence[str] | None = None,
    weights: TrendWeights = DEFAULT_WEIGHTS,
    top_n: int = 10,
) -> dict[str, Any]:
    """``compute_trends`` for ``snapshot_date - lookback_days`` .. ``snapshot_date``, oldest first.

    Why: the traffic report lags, so the sync fills in views for the last few days
    only on later runs.  Recomputing those days after each sync replaces their
    pending views with the reported ones (and their views-based scores and sums).
    Each date is its own transaction; rerunning is as safe as for one date.
    """
    if isinstance(lookback_days, bool) or not isinstance(lookback_days, int) or lookback_days < 0:
        raise ValueError(f"lookback_days must be a non-negative int, got {lookback_days!r}")
    days = [snapshot_date - timedelta(days=n) for n in range(lookback_days, -1, -1)]
    results = [compute_trends(engine, d, accounts=accounts, weights=weights, top_n=top_n) for d in days]
    return {"snapshot_date": snapshot_date.isoformat(), "dates": results}


def _lock(conn: Connection, snapshot_date: date) -> None:
    """Serialise runs for the same date, so two reruns cannot interleave DELETE/INSERT."""
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:cls, :key)"),
        {"cls": _LOCK_CLASS, "key": snapshot_date.toordinal()},
    )

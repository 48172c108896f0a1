"""Trend research: per-listing daily trends and per-account / per-category aggregates.

PostgreSQL does the work; Python only orchestrates.  ``compute_trends`` rebuilds one
snapshot date (for all or some accounts) in one transaction: DELETE that date's rows,
then INSERT them again from ``ebay.listing_snapshots`` — so a rerun replaces, never
duplicates, and a rerun after late traffic-report days arrive fills them in.  It also
records a fingerprint of the inputs it read (``ebay.trend_inputs``), so that
``refresh_trends`` recomputes an earlier date only when its inputs changed.

Every rule (gaps, new listings, resets, pending traffic, currencies, clamps) is
written down in docs/TRENDS.md; the SQL below follows it line by line.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
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
# Advisory lock class id: serialises concurrent computations of one date.
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

# Stage 0: the listings active on :d (a snapshot on :d, before their ended_date), as an
# analysed temp table, so the joins below are planned from its real size.
_STAGE_CUR = f"""
CREATE TEMP TABLE trend_cur ON COMMIT DROP AS
-- A listing has no row on or after the day it was marked ended (the sync sets ended_date
-- to the first day it was missing).
SELECT s.account_id, s.item_id
FROM ebay.listing_snapshots s
JOIN ebay.listings l ON l.account_id = s.account_id AND l.item_id = s.item_id
WHERE s.snapshot_date = :d
  AND {_ACCOUNT_FILTER.format(col='s.account_id')}
  AND (l.ended_date IS NULL OR s.snapshot_date < l.ended_date)
"""

# Stage 1: one row per snapshot of each listing active on :d, over the 30-day window, with
# the snapshot before it and the traffic numbers of its day.  Temp tables (analysed
# before use) rather than CTEs: with CTE row estimates PostgreSQL picked nested loops
# that re-ran subqueries per row (minutes instead of seconds for 4,311 listings).  The
# same happens when ebay.listing_snapshots has no statistics for :d (never analysed, or
# :d newer than its last ANALYZE): hence _analyze_inputs() before every computation.
_STAGE_DAYS = f"""
CREATE TEMP TABLE trend_days ON COMMIT DROP AS
WITH
hist AS MATERIALIZED (
    SELECT h.account_id, h.item_id, h.snapshot_date AS day, h.currency, h.price,
           h.quantity_available, h.quantity_sold, h.watch_count,
           LAG(h.snapshot_date) OVER w AS prev_date,
           LAG(h.quantity_sold) OVER w AS prev_sold,
           LAG(h.watch_count) OVER w AS prev_watch
    FROM trend_cur c
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
    FROM trend_cur c
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

# One pass over the day's rows (per account and currency, then rolled up per account):
# no join of the rows with an aggregate of themselves, which PostgreSQL ran as a nested
# loop re-aggregating the day once per row when listing_trends had no statistics for :d.
_INSERT_ACCOUNT_DAILY = f"""
INSERT INTO ebay.account_daily (
    account_id, day, active_listings, new_listings, ended_listings, units_sold, revenue,
    views, impressions, traffic_pending, watchers, watchers_change, trending, resets, gaps)
WITH per_currency AS (
    SELECT account_id, currency, count(*) AS n, count(*) FILTER (WHERE is_new) AS new_n,
           SUM(units_sold) AS units, COALESCE(SUM(revenue), 0) AS revenue,
           SUM(views) AS views, SUM(impressions) AS impressions,
           count(*) FILTER (WHERE traffic_pending) AS pending, SUM(watchers) AS watchers,
           SUM(watchers_change) AS watchers_change, count(*) FILTER (WHERE trending) AS trending,
           count(*) FILTER (WHERE sold_reset) AS resets, count(*) FILTER (WHERE gap_days > 1) AS gaps
    FROM ebay.listing_trends
    WHERE trend_date = :d AND {_ACCOUNT_FILTER.format(col='account_id')}
    GROUP BY account_id, currency
),
ended AS (
    SELECT account_id, count(*) AS n FROM ebay.listings
    WHERE ended_date = :d GROUP BY account_id
)
-- revenue: one entry per currency; 0 for a currency whose listings sold nothing
SELECT c.account_id, CAST(:d AS date), SUM(c.n), SUM(c.new_n),
       COALESCE(e.n, 0), COALESCE(SUM(c.units), 0), jsonb_object_agg(c.currency, c.revenue ORDER BY c.currency),
       SUM(c.views), SUM(c.impressions), SUM(c.pending),
       SUM(c.watchers), SUM(c.watchers_change), SUM(c.trending),
       SUM(c.resets), SUM(c.gaps)
FROM per_currency c
LEFT JOIN ended e ON e.account_id = c.account_id
GROUP BY c.account_id, e.n
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


# --- what a date was computed from ------------------------------------------------------
# A date's rows are a function of exactly these inputs, per account:
#   window: snapshot rows dated :d-30 .. :d (history, traffic, price reference);
#   before: per listing with a row on :d, its latest snapshot dated before :d-30 -- the
#           only older row ever read (the "previous snapshot" of its first row in the
#           window, and the price reference when it has none in :d-30 .. :d-7);
#   late:   traffic for a day <= :d stored on snapshots dated :d+1 .. :d+7;
#   listings: end state (as of :d) and category of listings with a row on :d or ended on :d;
#   params: weights, top_n and the SQL itself.
# The fingerprint covers them by content (not by timestamps): equal fingerprints => equal
# rows.  Its cost is bounded by the window, like the computation's, not by the history.
# Hashes are sums of 64-bit row hashes (numeric: exact, order-independent).
_FINGERPRINT = f"""
WITH
acct AS (
    SELECT account_id FROM ebay.accounts WHERE :all_accounts
    UNION
    SELECT unnest(CAST(:accounts AS text[]))
),
win AS (
    SELECT s.account_id, count(*) AS n, count(s.traffic_date) AS n_traffic,
           sum(hash_record_extended(ROW(s.item_id, s.snapshot_date, s.currency, s.price, s.quantity_available,
                                        s.quantity_sold, s.watch_count, s.views, s.impressions,
                                        s.traffic_date), 0)) AS h
    FROM ebay.listing_snapshots s
    WHERE s.snapshot_date BETWEEN CAST(:d AS date) - {WINDOW_LONG_DAYS} AND CAST(:d AS date)
      AND s.account_id IN (SELECT account_id FROM acct)
    GROUP BY s.account_id
),
present AS (
    SELECT s.account_id, s.item_id FROM ebay.listing_snapshots s
    WHERE s.snapshot_date = CAST(:d AS date) AND s.account_id IN (SELECT account_id FROM acct)
),
before AS (
    SELECT c.account_id, count(*) AS n,
           sum(hash_record_extended(ROW(c.item_id, o.snapshot_date, o.currency, o.price, o.quantity_available,
                                        o.quantity_sold, o.watch_count, o.views, o.impressions,
                                        o.traffic_date), 0)) AS h
    FROM present c
    JOIN LATERAL (
        SELECT o.* FROM ebay.listing_snapshots o
        WHERE o.account_id = c.account_id AND o.item_id = c.item_id
          AND o.snapshot_date < CAST(:d AS date) - {WINDOW_LONG_DAYS}
        ORDER BY o.snapshot_date DESC
        LIMIT 1
    ) o ON true
    GROUP BY c.account_id
),
late AS (
    SELECT s.account_id, count(*) AS n,
           sum(hash_record_extended(ROW(s.item_id, s.snapshot_date, s.views, s.impressions,
                                        s.traffic_date), 0)) AS h
    FROM ebay.listing_snapshots s
    WHERE s.snapshot_date > CAST(:d AS date)
      AND s.snapshot_date <= CAST(:d AS date) + {TRAFFIC_REPORT_MAX_LAG_DAYS}
      AND s.traffic_date BETWEEN CAST(:d AS date) - {WINDOW_LONG_DAYS} AND CAST(:d AS date)
      AND s.account_id IN (SELECT account_id FROM acct)
    GROUP BY s.account_id
),
lkeys AS (
    SELECT account_id, item_id FROM present
    UNION
    SELECT l.account_id, l.item_id FROM ebay.listings l
    WHERE l.ended_date = CAST(:d AS date) AND l.account_id IN (SELECT account_id FROM acct)
),
lst AS (
    SELECT l.account_id, count(*) AS n,
           sum(hash_record_extended(ROW(l.item_id, l.category_id, l.category_name,
               CASE WHEN l.ended_date IS NULL OR l.ended_date > CAST(:d AS date) THEN 'active'
                    WHEN l.ended_date = CAST(:d AS date) THEN 'ended' ELSE 'gone' END), 0)) AS h
    FROM lkeys k
    JOIN ebay.listings l ON l.account_id = k.account_id AND l.item_id = k.item_id
    GROUP BY l.account_id
)
SELECT a.account_id,
       COALESCE(w.n, 0) AS window_rows, COALESCE(w.n_traffic, 0) AS window_traffic,
       COALESCE(w.h, 0) AS window_hash,
       COALESCE(b.n, 0) AS before_rows, COALESCE(b.h, 0) AS before_hash,
       COALESCE(t.n, 0) AS late_traffic_rows, COALESCE(t.h, 0) AS late_traffic_hash,
       COALESCE(l.n, 0) AS listing_rows, COALESCE(l.h, 0) AS listing_hash
FROM acct a
LEFT JOIN win w ON w.account_id = a.account_id
LEFT JOIN before b ON b.account_id = a.account_id
LEFT JOIN late t ON t.account_id = a.account_id
LEFT JOIN lst l ON l.account_id = a.account_id
"""

_FP_COLS = ("window_rows", "window_traffic", "window_hash", "before_rows", "before_hash",
            "late_traffic_rows", "late_traffic_hash", "listing_rows", "listing_hash", "params_hash")

_RECORDED = f"""
SELECT account_id, {", ".join(_FP_COLS)}, computed_at
FROM ebay.trend_inputs
WHERE trend_date = :d AND account_id = ANY(CAST(:accounts AS text[]))
"""

_RECORD = f"""
INSERT INTO ebay.trend_inputs (account_id, trend_date, {", ".join(_FP_COLS)})
VALUES (:account_id, :d, {", ".join(":" + c for c in _FP_COLS)})
ON CONFLICT (account_id, trend_date) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _FP_COLS)}, computed_at = now()
"""

# Any change to the statements that produce the rows changes every date's fingerprint.
_SQL_VERSION = hashlib.sha256("\n".join(
    [*_DELETE, _STAGE_CUR, _STAGE_DAYS, _STAGE_ITEMS, _INSERT_LISTING_TRENDS, _INSERT_ACCOUNT_DAILY,
     _INSERT_CATEGORY_DAILY]).encode()).hexdigest()


def _params_hash(weights: TrendWeights, top_n: int) -> str:
    key = {"sql": _SQL_VERSION, "top_n": top_n, **{k: str(v) for k, v in weights.as_params().items()}}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def _why(old: Mapping[str, Any] | None, new: Mapping[str, Any], d: date) -> str | None:
    """Why ``d`` must be recomputed for one account (None = its inputs did not change)."""
    if old is None:
        return "never computed"
    since = f"{d - timedelta(days=WINDOW_LONG_DAYS)}..{d}"
    why = []
    if old["params_hash"] != new["params_hash"]:
        why.append("weights, top_n or trend SQL changed")
    if old["window_traffic"] != new["window_traffic"]:
        why.append(f"traffic filled in on snapshots dated {since} "
                   f"({old['window_traffic']} -> {new['window_traffic']} rows with traffic)")
    if old["window_rows"] != new["window_rows"]:
        why.append(f"snapshots dated {since} added or removed ({old['window_rows']} -> {new['window_rows']})")
    if (old["window_traffic"], old["window_rows"]) == (new["window_traffic"], new["window_rows"]) \
            and old["window_hash"] != new["window_hash"]:
        why.append(f"snapshot values dated {since} changed")
    if (old["before_rows"], old["before_hash"]) != (new["before_rows"], new["before_hash"]):
        why.append("an older previous snapshot / price reference changed")
    if (old["late_traffic_rows"], old["late_traffic_hash"]) != (new["late_traffic_rows"], new["late_traffic_hash"]):
        why.append(f"traffic for {d} or earlier stored on a later snapshot changed")
    if (old["listing_rows"], old["listing_hash"]) != (new["listing_rows"], new["listing_hash"]):
        why.append("end dates or categories of its listings changed")
    return "; ".join(why) or None


# --- running it ----------------------------------------------------------------------------
def _params(snapshot_date: date, accounts: Sequence[str] | None) -> dict[str, Any]:
    if isinstance(snapshot_date, str) or not isinstance(snapshot_date, date):
        raise TypeError(f"snapshot_date must be a datetime.date, got {type(snapshot_date).__name__}")
    if accounts is not None:
        if isinstance(accounts, str):
            raise TypeError("accounts must be a sequence of account ids, not one string")
        accounts = [str(a) for a in accounts]
    return {"d": snapshot_date, "all_accounts": accounts is None, "accounts": list(accounts or [])}


def _check_top_n(top_n: int) -> None:
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 0:
        raise ValueError(f"top_n must be a non-negative int, got {top_n!r}")


def _analyze_inputs(engine: Engine) -> None:
    """Refresh the planner statistics of the tables the trends read.

    Right after a sync they describe yesterday's table (or none: a fresh warehouse,
    autovacuum off or not yet run): :d is outside the histogram, PostgreSQL estimates
    ~1 row for it and plans nested loops over hundreds of thousands of rows (the
    benchmark's 22.7 s steady day; quadratic in listings x days).  ANALYZE samples at
    most 30,000 rows per table: ~0.15 s for 150,000 snapshots.
    """
    t0 = time.perf_counter()
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE ebay.listing_snapshots, ebay.listings"))
    except sa.exc.DBAPIError as exc:   # statistics are an optimisation: never fail the trends for them
        log.warning("ANALYZE before the trends failed (%s); computing with the current statistics",
                    type(exc).__name__)
        return
    log.info("analysed ebay.listing_snapshots, ebay.listings in %.2f s", time.perf_counter() - t0)


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
    _check_top_n(top_n)
    _params(snapshot_date, accounts)   # validate before any I/O
    _analyze_inputs(engine)
    return _compute(engine, snapshot_date, accounts, weights, top_n, only_if_changed=False)


def _compute(engine: Engine, snapshot_date: date, accounts: Sequence[str] | None, weights: TrendWeights,
             top_n: int, *, only_if_changed: bool) -> dict[str, Any]:
    """One date in one transaction; with ``only_if_changed`` only the accounts whose
    inputs differ from what was recorded at their last computation of that date."""
    params = _params(snapshot_date, accounts)
    params.update(weights.as_params())
    params["top_n"] = top_n
    params_hash = _params_hash(weights, top_n)
    day = snapshot_date.isoformat()

    with engine.connect() as conn:
        try:
            _lock(conn, snapshot_date)
            with conn.begin():
                # One snapshot for every statement below: the recorded fingerprint then
                # describes exactly the rows this computation read (READ COMMITTED would let
                # a sync commit in between).  Nothing else writes these rows: the lock
                # above, taken before the snapshot, serialises computations of the date.
                conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
                # The stages sort ~30 rows per listing; let them sort in memory, for this transaction only.
                conn.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
                inputs = {r["account_id"]: {**r, "params_hash": params_hash}
                          for r in conn.execute(sa.text(_FINGERPRINT), params).mappings()}
                reasons: dict[str, str] = {}
                if only_if_changed:
                    recorded = {r["account_id"]: r for r in conn.execute(
                        sa.text(_RECORDED), {"d": snapshot_date, "accounts": list(inputs)}).mappings()}
                    for acct, fp in inputs.items():
                        why = _why(recorded.get(acct), fp, snapshot_date)
                        if why:
                            reasons[acct] = why
                    if not reasons:
                        since = min((r["computed_at"] for r in recorded.values()), default=None)
                        result = {"snapshot_date": day, "computed": False,
                                  "reason": "no accounts" if since is None else
                                            f"inputs unchanged since computed at {since.isoformat(timespec='seconds')}"}
                        log.info("trends for %s skipped: %s", snapshot_date, result["reason"])
                        return result
                    params.update(all_accounts=False, accounts=sorted(reasons))
                    inputs = {a: inputs[a] for a in reasons}

                deleted = sum(conn.execute(sa.text(stmt), params).rowcount for stmt in _DELETE)
                conn.execute(sa.text(_STAGE_CUR), params)
                conn.execute(sa.text("ANALYZE trend_cur"))
                conn.execute(sa.text(_STAGE_DAYS), params)
                conn.execute(sa.text("ANALYZE trend_days"))
                conn.execute(sa.text(_STAGE_ITEMS), params)
                conn.execute(sa.text("ANALYZE trend_items"))
                conn.execute(sa.text(_INSERT_LISTING_TRENDS), params)
                account_rows = conn.execute(sa.text(_INSERT_ACCOUNT_DAILY), params).rowcount
                category_rows = conn.execute(sa.text(_INSERT_CATEGORY_DAILY), params).rowcount
                summary = dict(conn.execute(sa.text(_SUMMARY), params).mappings().one())
                if inputs:
                    conn.execute(sa.text(_RECORD), [
                        {"account_id": a, "d": snapshot_date, **{c: fp[c] for c in _FP_COLS}}
                        for a, fp in inputs.items()])
        finally:
            if conn.in_transaction():
                conn.rollback()
            _unlock(conn, snapshot_date)

    result: dict[str, Any] = {
        "snapshot_date": day,
        "computed": True,
        **{k: int(v) for k, v in summary.items()},
        "account_daily": account_rows,
        "category_daily": category_rows,
        "replaced_rows": deleted,
    }
    if only_if_changed:
        result["recomputed_accounts"] = sorted(reasons)
        result["reason"] = "; ".join(f"{a}: {why}" for a, why in sorted(reasons.items()))
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
    """Trends for ``snapshot_date`` and, where their inputs changed, the ``lookback_days`` before it.

    Why: the traffic report lags, so the sync fills in views for the last few days
    only on later runs.  ``snapshot_date`` is always computed.  Each earlier date,
    oldest first, is recomputed only for the accounts whose inputs (fingerprint: see
    ``_FINGERPRINT``) differ from those recorded when that date was last computed, or
    that never had it computed; otherwise it is skipped.  Each date is its own
    transaction, under the date's lock; rerunning is as safe as for one date.

    Returns ``computed`` (dates), ``skipped`` ({date: why}) and ``dates`` (one entry per
    date of the window, oldest first, with ``computed``, ``reason`` and the counts).
    """
    if isinstance(lookback_days, bool) or not isinstance(lookback_days, int) or lookback_days < 0:
        raise ValueError(f"lookback_days must be a non-negative int, got {lookback_days!r}")
    _check_top_n(top_n)
    _params(snapshot_date, accounts)
    t0 = time.perf_counter()
    _analyze_inputs(engine)
    days = [snapshot_date - timedelta(days=n) for n in range(lookback_days, -1, -1)]
    results = []
    for d in days:
        if d == snapshot_date:
            r = _compute(engine, d, accounts, weights, top_n, only_if_changed=False)
            r["reason"] = "the run's own date: always computed"
        else:
            r = _compute(engine, d, accounts, weights, top_n, only_if_changed=True)
        results.append(r)
    summary = {
        "snapshot_date": snapshot_date.isoformat(),
        "lookback_days": lookback_days,
        "computed": [r["snapshot_date"] for r in results if r["computed"]],
        "skipped": {r["snapshot_date"]: r["reason"] for r in results if not r["computed"]},
        "seconds": round(time.perf_counter() - t0, 2),
        "dates": results,
    }
    log.info("refresh_trends %s: computed %s; skipped %s (%.2f s)", summary["snapshot_date"],
             summary["computed"], summary["skipped"] or "none", summary["seconds"])
    return summary


def _lock(conn: Connection, snapshot_date: date) -> None:
    """Serialise computations of the same date, so two runs cannot interleave DELETE/INSERT.

    Session-level and taken before the transaction starts, so the REPEATABLE READ snapshot
    of the computation is taken after the previous holder committed.
    """
    conn.execute(
        sa.text("SELECT pg_advisory_lock(:cls, :key)"),
        {"cls": _LOCK_CLASS, "key": snapshot_date.toordinal()},
    )
    conn.commit()


def _unlock(conn: Connection, snapshot_date: date) -> None:
    try:
        conn.execute(
            sa.text("SELECT pg_advisory_unlock(:cls, :key)"),
            {"cls": _LOCK_CLASS, "key": snapshot_date.toordinal()},
        )
        conn.commit()
    except sa.exc.SQLAlchemyError:
        # Never hand a session that may still hold the lock back to the pool: closing it
        # releases the lock on the server (as does a connection that was lost).
        log.warning("could not release the trends lock for %s; closing the connection", snapshot_date)
        conn.invalidate()

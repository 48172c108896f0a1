-- ebay-trends warehouse: trend tables, written only by include.ebay_trends.trends.compute_trends().
-- Every table is keyed by the day it describes, so compute_trends() can DELETE one day
-- (for some accounts) and INSERT it again in one transaction: a rerun replaces, never duplicates.
-- Formulas and edge-case rules: docs/TRENDS.md.

CREATE SCHEMA IF NOT EXISTS ebay;

-- One row per listing per day it had a snapshot (active that day; never on or after ended_date).
CREATE TABLE IF NOT EXISTS ebay.listing_trends (
    account_id          text NOT NULL,
    item_id             text NOT NULL,
    trend_date          date NOT NULL,
    prev_snapshot_date  date,                             -- NULL = new listing (no earlier snapshot)
    gap_days            integer,                          -- trend_date - prev_snapshot_date (1 = no gap)
    is_new              boolean NOT NULL,
    currency            char(3) NOT NULL,
    price               numeric(14,2) NOT NULL,
    quantity_available  integer,
    quantity_sold       integer,                          -- lifetime total on trend_date
    units_sold          integer,                          -- since prev snapshot, >= 0; NULL for a new listing
    sold_reset          boolean NOT NULL DEFAULT false,   -- lifetime total went down: units_sold clamped to 0
    revenue             numeric(16,2),                    -- units_sold x price, in `currency`
    watchers            integer,                          -- level on trend_date
    watchers_change     integer,                          -- vs prev snapshot, may be negative
    views               integer,                          -- views ON trend_date (see views_source)
    impressions         integer,
    views_source        text,                             -- 'traffic' | 'hit_count' | NULL
    traffic_pending     boolean NOT NULL,                 -- no traffic report for trend_date yet
    units_7d            integer,
    units_7d_avg        numeric(12,4),                    -- per covered day
    units_30d           integer,
    units_30d_avg       numeric(12,4),
    views_7d            integer,
    views_7d_avg        numeric(12,2),                    -- per reported day
    views_30d           integer,
    views_30d_avg       numeric(12,2),
    watchers_7d_avg     numeric(12,2),
    price_ref_date      date,
    price_ref           numeric(14,2),
    price_change_7d_pct numeric(12,2),                    -- unclamped; the score clamps it
    sell_through_pct    numeric(7,2),                     -- lifetime sold / (sold + available)
    view_growth_date    date,                             -- traffic day T the view growth is for (T vs T-1)
    view_growth_pct     numeric(12,2),                    -- unclamped day-over-day growth
    watch_growth_pct    numeric(12,2),                    -- unclamped, per day over a gap
    score               numeric(10,2) NOT NULL,
    rank                integer NOT NULL,                 -- 1 = highest score in the account
    trending            boolean NOT NULL,                 -- rank <= top_n and score > 0
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, trend_date, item_id)
);
CREATE INDEX IF NOT EXISTS listing_trends_item_idx ON ebay.listing_trends (account_id, item_id, trend_date);
CREATE INDEX IF NOT EXISTS listing_trends_rank_idx ON ebay.listing_trends (account_id, trend_date, rank);

-- One row per account per day that had snapshots.  Money is per currency (jsonb map of
-- numeric values, e.g. {"USD": 25.00, "GBP": 0}); it is never summed across currencies.
CREATE TABLE IF NOT EXISTS ebay.account_daily (
    account_id          text NOT NULL,
    day                 date NOT NULL,
    active_listings     integer NOT NULL,
    new_listings        integer NOT NULL,
    ended_listings      integer NOT NULL,                 -- listings whose ended_date is this day
    units_sold          integer NOT NULL,
    revenue             jsonb NOT NULL DEFAULT '{}'::jsonb,
    views               integer,                          -- NULL while no listing has traffic for the day
    impressions         integer,
    traffic_pending     integer NOT NULL,                 -- listings whose traffic for the day is not reported
    watchers            integer,
    watchers_change     integer,
    trending            integer NOT NULL,
    resets              integer NOT NULL,
    gaps                integer NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, day)
);

-- Same, per category ('' = listing without a category yet).
CREATE TABLE IF NOT EXISTS ebay.category_daily (
    account_id          text NOT NULL,
    day                 date NOT NULL,
    category_id         text NOT NULL,
    category_name       text,
    active_listings     integer NOT NULL,
    new_listings        integer NOT NULL,
    ended_listings      integer NOT NULL,
    units_sold          integer NOT NULL,
    revenue             jsonb NOT NULL DEFAULT '{}'::jsonb,
    views               integer,
    watchers            integer,
    watchers_change     integer,
    trending            integer NOT NULL,
    avg_score           numeric(10,2),
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, day, category_id)
);

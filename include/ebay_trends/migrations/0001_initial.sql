-- ebay-trends warehouse, version 1.  Applied by include.ebay_trends.warehouse.migrate(),
-- recorded in ebay.schema_version.  Never edit an applied file: add 0002_*.sql.
-- migrate() creates the schema before it runs any file (schema_version lives in it);
-- the statement is repeated here so the file also works with plain psql.

CREATE SCHEMA IF NOT EXISTS ebay;

CREATE TABLE IF NOT EXISTS ebay.accounts (
    account_id          text PRIMARY KEY,                 -- eBay seller user id
    marketplace_id      text NOT NULL DEFAULT 'EBAY_US',
    site_id             text NOT NULL DEFAULT '0',
    conn_id             text NOT NULL,                    -- Airflow connection with the credentials
    active              boolean NOT NULL DEFAULT true,
    last_sync_run_id    text,
    last_sync_at        timestamptz,
    last_sync_date      date,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS ebay.listings (
    account_id          text NOT NULL REFERENCES ebay.accounts(account_id),
    item_id             text NOT NULL,
    title               text NOT NULL,
    sku                 text,
    category_id         text,
    category_name       text,
    listing_type        text,
    listing_status      text,                             -- Active | Ended | Completed | Custom
    currency            char(3) NOT NULL,
    current_price       numeric(14,2) NOT NULL,
    quantity            integer,
    quantity_available  integer,
    quantity_sold       integer,
    watch_count         integer,
    bid_count           integer,
    gallery_url         text,
    view_item_url       text,
    start_time          timestamptz,
    end_time            timestamptz,
    details_fetched_at  timestamptz,                      -- last GetItem; NULL = needs enrichment
    first_seen_date     date NOT NULL,
    last_seen_date      date NOT NULL,
    ended_date          date,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, item_id)
);
CREATE INDEX IF NOT EXISTS listings_active_idx ON ebay.listings (account_id, last_seen_date) WHERE ended_date IS NULL;
CREATE INDEX IF NOT EXISTS listings_category_idx ON ebay.listings (account_id, category_id);

CREATE TABLE IF NOT EXISTS ebay.listing_snapshots (
    account_id          text NOT NULL,
    item_id             text NOT NULL,
    snapshot_date       date NOT NULL,
    currency            char(3) NOT NULL,
    price               numeric(14,2) NOT NULL,
    quantity_available  integer,
    quantity_sold       integer,                          -- lifetime total
    watch_count         integer,                          -- current level
    bid_count           integer,
    hit_count           integer,                          -- lifetime, only when GetItem returned it
    views               integer,                          -- traffic report, for traffic_date
    impressions         integer,
    click_through_rate  numeric(9,4),
    conversion_rate     numeric(9,4),
    transactions        integer,
    traffic_date        date,                             -- day the traffic numbers cover; NULL = not reported yet
    run_id              text,
    synced_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, item_id, snapshot_date),
    FOREIGN KEY (account_id, item_id) REFERENCES ebay.listings(account_id, item_id)
);
CREATE INDEX IF NOT EXISTS listing_snapshots_date_idx ON ebay.listing_snapshots (snapshot_date);
CREATE INDEX IF NOT EXISTS listing_snapshots_account_date_idx ON ebay.listing_snapshots (account_id, snapshot_date);

CREATE TABLE IF NOT EXISTS ebay.sync_pages (
    run_id              text NOT NULL,
    account_id          text NOT NULL,
    page                integer NOT NULL,                 -- 0 = the reconciliation pass
    snapshot_date       date NOT NULL,
    pages               integer,
    status              text NOT NULL,                    -- running | success | failed | dry_run
    attempt             integer NOT NULL DEFAULT 1,
    items_seen          integer NOT NULL DEFAULT 0,
    items_written       integer NOT NULL DEFAULT 0,
    items_failed        integer NOT NULL DEFAULT 0,
    details_deferred    integer NOT NULL DEFAULT 0,       -- GetItem skipped to stay in budget; next run enriches
    traffic_rows        integer NOT NULL DEFAULT 0,       -- earlier snapshot rows filled with traffic numbers
    api_calls           jsonb NOT NULL DEFAULT '{}'::jsonb,   -- {"GetMyeBaySelling": 1, ...}
    duration_s          numeric(10,3),
    peak_rss_mb         numeric(10,1),
    error_summary       text,
    first_item_id       text,
    last_item_id        text,
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    PRIMARY KEY (run_id, account_id, page)
);
CREATE INDEX IF NOT EXISTS sync_pages_account_date_idx ON ebay.sync_pages (account_id, snapshot_date);

CREATE TABLE IF NOT EXISTS ebay.item_errors (
    id                  bigserial PRIMARY KEY,
    run_id              text NOT NULL,
    account_id          text NOT NULL,
    page                integer NOT NULL,
    snapshot_date       date NOT NULL,
    item_id             text,
    error_class         text NOT NULL,
    message             text NOT NULL,
    raw_excerpt         text,                             -- <= 4 KB, no secrets
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS item_errors_dedup_idx
    ON ebay.item_errors (run_id, account_id, page, coalesce(item_id, ''), error_class);
CREATE INDEX IF NOT EXISTS item_errors_account_date_idx ON ebay.item_errors (account_id, snapshot_date);

CREATE TABLE IF NOT EXISTS ebay.api_calls (
    application         text NOT NULL,                    -- eBay App ID (client id), not a secret
    account_id          text NOT NULL,
    call_name           text NOT NULL,
    ebay_day            date NOT NULL,                    -- the call-limit day, US Pacific
    calls               integer NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application, account_id, call_name, ebay_day)
);
CREATE INDEX IF NOT EXISTS api_calls_day_idx ON ebay.api_calls (application, ebay_day);

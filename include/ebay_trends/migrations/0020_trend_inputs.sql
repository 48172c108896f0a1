-- ebay-trends warehouse: what each (account, trend date) was last computed from.
-- Written by include.ebay_trends.trends in the same transaction as that date's trend rows;
-- refresh_trends() recomputes an earlier date of its lookback window only when the
-- fingerprint of its inputs now differs from the one recorded here (docs/TRENDS.md,
-- "What is recomputed when").  Hashes are sums of 64-bit hashes of row contents (numeric:
-- exact, order-independent, never overflow); *_rows are counts, kept for the log's "why".

CREATE TABLE IF NOT EXISTS ebay.trend_inputs (
    account_id          text NOT NULL,
    trend_date          date NOT NULL,
    window_rows         bigint NOT NULL,                  -- the account's snapshot rows dated trend_date-30 .. trend_date
    window_traffic      bigint NOT NULL,                  -- ... of which carry traffic numbers (traffic_date set)
    window_hash         numeric NOT NULL,                 -- content of those rows (every column the trends read)
    before_rows         bigint NOT NULL,                  -- per listing on trend_date: its latest snapshot before the window
    before_hash         numeric NOT NULL,
    late_traffic_rows   bigint NOT NULL,                  -- rows dated trend_date+1..+7 with traffic for a day <= trend_date
    late_traffic_hash   numeric NOT NULL,
    listing_rows        bigint NOT NULL,                  -- listings with a snapshot on trend_date or ended that day
    listing_hash        numeric NOT NULL,                 -- their category and end state as of trend_date
    params_hash         text NOT NULL,                    -- weights, top_n and the version of the trend SQL
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, trend_date)
);

-- compute_trends() deletes, aggregates and summarises one trend_date for all or some
-- accounts: "(all accounts OR account_id = ANY(...)) AND trend_date = d" cannot use the
-- account-first primary key, so without this index each of those statements scanned
-- every stored trend row (all days).
CREATE INDEX IF NOT EXISTS listing_trends_date_idx ON ebay.listing_trends (trend_date);

-- ebay-trends warehouse: details fetched in bulk (GetSellerList, 200 items a call), staged
-- by the page tasks and merged into ebay.listings by reconcile/finalise.
-- Why a staging table: a GetSellerList page (ordered by end time) and a GetMyeBaySelling
-- page (ordered by item id) hold different listings, and the page tasks run in any order;
-- details may arrive before or after their listing's row exists.  See docs/SYNC.md.

CREATE TABLE IF NOT EXISTS ebay.listing_details (
    account_id      text NOT NULL,
    item_id         text NOT NULL,
    category_id     text,
    category_name   text,
    listing_status  text,
    end_time        timestamptz,
    hit_count       integer,
    fetched_at      timestamptz NOT NULL,
    fetched_date    date NOT NULL,          -- the snapshot date of the run that fetched them
    run_id          text NOT NULL,
    PRIMARY KEY (account_id, item_id)
);

"""Daily eBay listings sync — wiring only.

All logic lives in ``include.ebay_trends.pipeline``; this file only declares the
tasks, their order and their Airflow settings.  Nothing here does I/O at import time.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from include.ebay_trends import pipeline
from include.ebay_trends.pipeline import PAGE_RETRY_POLICY, SYNC_PARAMS

DOC_MD = """
### eBay listings sync

Keeps a daily history of every active listing of every active account in
`ebay.*` (PostgreSQL, connection `ebay_warehouse`) and computes trends.

**Flow:** `ensure_schema` → `select_accounts` → `plan_pages` (one GetMyeBaySelling
call per account) → **`sync_page`** (one mapped instance per page of 200 listings,
labelled `seller · page x/y`, pool `ebay_trading`) → `finalise_accounts`
(drift reconciliation, ended listings; runs when every page is done) →
`compute_trends` → `check_pages` (fails the run if any page failed, so a partial
day is red while everything that succeeded stays stored).

**Snapshot date** = the run's logical date (UTC), or the `snapshot_date` param.

**Rerun one page:** Grid → `sync_page` → pick the instance labelled e.g.
`seller_a · page 5/12` → *Clear* (keep "downstream" ticked so finalise, trends
and the check run again). REST: `POST /api/v2/dags/ebay_listings_sync/clearTaskInstances`
with `{"dag_run_id": "...", "task_ids": [["sync_page", 4]], "dry_run": false,
"only_failed": false, "include_downstream": true}` (map index = page − 1 in planning order).

**Failures:** `AuthRevoked` → re-authorise the account (update its connection);
`CallLimitReached`/`CallBudgetExhausted` → wait for the reset time in the message
(midnight US Pacific); transient errors are retried automatically. Bad items are
quarantined in `ebay.item_errors`. See docs/OPERATIONS.md.
"""


@dag(
    dag_id="ebay_listings_sync",
    schedule=os.environ.get("EBAY_SYNC_CRON", "0 6 * * *"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["ebay", "warehouse", "trends"],
    doc_md=DOC_MD,
    params=SYNC_PARAMS,
    default_args={"owner": "ebay-trends"},
)
def ebay_listings_sync():
    @task
    def ensure_schema() -> list[str]:
        return pipeline.ensure_schema()

    @task
    def select_accounts() -> list[dict]:
        return pipeline.select_accounts(get_current_context()["params"])

    @task
    def plan_pages(accounts: list[dict]) -> list[dict]:
        return pipeline.plan_pages(accounts, get_current_context())

    @task(
        pool=pipeline.POOL,
        retries=int(os.environ.get("EBAY_PAGE_RETRIES", "3")),
        retry_delay=timedelta(seconds=int(os.environ.get("EBAY_PAGE_RETRY_DELAY_S", "30"))),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=10),
        retry_policy=PAGE_RETRY_POLICY,
        execution_timeout=timedelta(minutes=int(os.environ.get("EBAY_PAGE_TIMEOUT_MIN", "20"))),
        max_active_tis_per_dagrun=int(os.environ.get("EBAY_MAX_PARALLEL_PAGES", "4")),
        map_index_template="{{ page_label }}",
    )
    def sync_page(page: dict) -> dict:
        return pipeline.sync_page_task(page, get_current_context())

    @task(trigger_rule="all_done")
    def finalise_accounts(planned: list[dict]) -> dict:
        return pipeline.finalise_accounts(planned, get_current_context())

    @task(trigger_rule="all_done")
    def compute_trends(finalised: dict) -> dict:
        return pipeline.compute_trends_task(finalised, get_current_context())

    @task(trigger_rule="all_done")
    def check_pages(planned: list[dict], finalised: dict, trends: dict) -> dict:
        return pipeline.check_pages(planned, finalised, trends, get_current_context())

    schema = ensure_schema()
    accounts = select_accounts()
    schema >> accounts
    planned = plan_pages(accounts)
    pages = sync_page.expand(page=planned)
    finalised = finalise_accounts(planned)
    pages >> finalised
    trends = compute_trends(finalised)
    check_pages(planned, finalised, trends)


ebay_listings_sync()

"""Where the page's warehouse engine comes from when it runs inside Airflow.

``EBAY_WAREHOUSE_URL`` wins when set (demo, tests); otherwise the Airflow Postgres
connection ``ebay_warehouse`` (or ``EBAY_WAREHOUSE_CONN_ID``) through
apache-airflow-providers-postgres' ``PostgresHook`` — the same rule as the DAG's
tasks.  Called lazily, at the first request, never at import time.
"""
from __future__ import annotations

import os

from sqlalchemy.engine import Engine

DEFAULT_CONN_ID = "ebay_warehouse"


def airflow_warehouse_engine() -> Engine:
    from include.ebay_trends import warehouse

    url = os.environ.get("EBAY_WAREHOUSE_URL")
    if not url:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        conn_id = os.environ.get("EBAY_WAREHOUSE_CONN_ID", DEFAULT_CONN_ID)
        url = PostgresHook(postgres_conn_id=conn_id).sqlalchemy_url
    # A small pool: the page is read by a handful of people, not by the sync.
    return warehouse.make_engine(url, pool_size=2, max_overflow=3)

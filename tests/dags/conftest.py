"""Fixtures to run the real DAG with ``dag.test()`` against the emulator and PostgreSQL."""
from __future__ import annotations

import json
import os
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START = date(2026, 11, 1)          # the emulator's day 0
SELLERS = (("seller_a", "EBAY_US"), ("seller_b", "EBAY_GB"))


def logical(day: int) -> datetime:
    d = START.toordinal() + day
    d = date.fromordinal(d)
    return datetime(d.year, d.month, d.day, 6, tzinfo=timezone.utc)


def conn_json(seller: str, marketplace: str, api_base_url: str) -> str:
    return json.dumps({
        "conn_type": "ebay", "login": "emulator-client-id", "password": "emulator-client-secret",
        "extra": {"refresh_token": f"emu-refresh-{seller}", "marketplace_id": marketplace,
                  "api_base_url": api_base_url, "account_id": seller},
    })


@pytest.fixture
def dag_env(make_dag_env):
    """The demo catalogue: 2 sellers, 4,311 listings."""
    return make_dag_env()


@pytest.fixture
def small_dag_env(make_dag_env):
    """2 sellers, 1,000 + 450 listings (5 + 3 pages): same code paths, less waiting."""
    return make_dag_env(listings=(1000, 450))


@pytest.fixture
def make_dag_env(airflow_db, fresh_pg_url, emulator_factory, monkeypatch):
    """A migrated warehouse with both demo accounts, connections in env, fast retries.

    Returns a namespace with ``emulator``, ``engine``, ``url`` and ``dag`` (parsed after
    the env is set, so retry delays are short).
    """
    from include.ebay_trends import pipeline, warehouse

    made = []

    def make(**emulator_kwargs):
        assert not made, "one DAG environment per test"
        env = _make(emulator_kwargs)
        made.append(env)
        return env

    def _make(emulator_kwargs):
        emu = emulator_factory(**emulator_kwargs)
        monkeypatch.setenv("EBAY_WAREHOUSE_URL", fresh_pg_url)
        monkeypatch.setenv("EBAY_PAGE_RETRY_DELAY_S", "1")
        monkeypatch.setenv("EBAY_MAX_PARALLEL_PAGES", "4")
        for seller, marketplace in SELLERS:
            monkeypatch.setenv(f"AIRFLOW_CONN_EBAY_{seller.upper()}", conn_json(seller, marketplace, emu.url))
        engine = warehouse.make_engine(fresh_pg_url)
        warehouse.migrate(engine)
        for seller, marketplace in SELLERS:
            warehouse.upsert_account(engine, seller, conn_id=f"ebay_{seller}", marketplace_id=marketplace)

        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(ROOT / "dags"))
        assert bag.import_errors == {}

        class Env:
            pass

        env = Env()
        env.emulator = emu
        env.engine = engine
        env.url = fresh_pg_url
        env.dag = bag.dags["ebay_listings_sync"]
        return env

    yield make
    for env in made:
        env.engine.dispose()
    pipeline._engine_for.cache_clear()

"""Fixtures of the fault-injection scenarios; the design is described in helpers.py."""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from include.ebay_emulator.server import EmulatorConfig, EmulatorServer
from include.ebay_trends import warehouse
from scripts.stack import AirflowStack

from .helpers import (
    ADMIN_URL, DAG_ID, MAIN_SELLERS, MAX_PARALLEL_PAGES, PAGE_RETRIES, POOL_SLOTS, FaultStack, admin_engine,
    conn_json, load_sellers, load_size,
)


@pytest.fixture(scope="package")
def fault_stack(tmp_path_factory) -> Iterator[FaultStack]:
    n_load, per_load = load_size()
    sellers = [*MAIN_SELLERS, *load_sellers()]
    listings = [*MAIN_SELLERS.values(), *([per_load] * n_load)]
    emulator = EmulatorServer(EmulatorConfig(sellers=tuple(sellers), listings=tuple(listings), latency_scale=0.0),
                              host="127.0.0.1", port=0).start()
    name = f"ebay_faults_{os.getpid()}_{secrets.token_hex(3)}"
    admin = admin_engine()
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = warehouse.make_engine(url)
    warehouse.migrate(engine)
    markets = {s: emulator.catalog.sellers[s].marketplace for s in sellers}
    for s in sellers:
        warehouse.upsert_account(engine, s, conn_id=f"ebay_{s}", marketplace_id=markets[s])

    env = {
        "EBAY_WAREHOUSE_URL": url,
        "EBAY_PAGE_RETRY_DELAY_S": "1",
        "EBAY_PAGE_RETRIES": str(PAGE_RETRIES),
        "EBAY_MAX_PARALLEL_PAGES": str(MAX_PARALLEL_PAGES),
        "LOG_LEVEL": "INFO",
        # Only the runs the tests trigger: no run for the cron's latest interval.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        **{f"AIRFLOW_CONN_EBAY_{s.upper()}": conn_json(s, markets[s], emulator.url) for s in sellers},
    }
    stack = AirflowStack(home=tmp_path_factory.mktemp("faults-airflow"), env_extra=env)
    try:
        stack.init(pool_slots=POOL_SLOTS)
        stack.start()
        stack.wait_dag_parsed(DAG_ID)
        yield FaultStack(stack=stack, emulator=emulator, engine=engine, url=url, sellers=markets)
    finally:
        stack.stop()
        emulator.stop()
        engine.dispose()
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def fx(fault_stack: FaultStack) -> Iterator[FaultStack]:
    """The shared stack, emptied; ``fx.day`` is this test's own simulated day."""
    fault_stack.reset()
    fault_stack.day = fault_stack.next_day
    fault_stack.next_day += 1
    yield fault_stack
    fault_stack.fail_open_runs()



"""The compose stack's services, run natively (no Docker engine here).

Takes the executor and Celery settings from docker-compose.yaml's ``x-airflow-common``
environment and runs the same processes — api-server, scheduler, dag-processor,
triggerer and a Celery worker — against a PostgreSQL metadata database and Redis as
the broker, then runs the real DAG end to end on a small emulated catalogue.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import yaml

from include.ebay_emulator.catalog import get_catalog
from scripts.stack import AirflowStack

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("EBAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")

pytestmark = pytest.mark.airflow


def _compose_env() -> dict:
    doc = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    return doc["x-airflow-common"]["environment"]


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except Exception:
        return False


@pytest.fixture
def metadata_db(make_pg_db):
    """A fresh database for Airflow's metadata, as compose's postgres service holds."""
    return make_pg_db()


def test_compose_services_run_natively_with_celery(tmp_path, metadata_db, fresh_pg_url, emulator_factory):
    if not _redis_up():
        pytest.fail(f"Redis is required for this test at {REDIS_URL} (.ci/run starts it)")
    compose = _compose_env()
    assert compose["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    celery_extra = json.loads(compose["AIRFLOW__CELERY__EXTRA_CELERY_CONFIG"])
    assert celery_extra["worker_max_tasks_per_child"] > 0

    from include.ebay_trends import warehouse

    emu = emulator_factory(listings=(450, 250))
    engine = warehouse.make_engine(fresh_pg_url)
    warehouse.migrate(engine)
    env_extra = {
        # what compose sets, with hosts mapped to this machine
        "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_db,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",       # 2 cores here; compose sets 8
        "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": compose["AIRFLOW__CELERY__EXTRA_CELERY_CONFIG"],
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": compose["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"],
        "LOG_LEVEL": "INFO",
        "EBAY_WAREHOUSE_URL": fresh_pg_url,
        "EBAY_PAGE_RETRY_DELAY_S": "1",
    }
    for seller, marketplace in (("seller_a", "EBAY_US"), ("seller_b", "EBAY_GB")):
        warehouse.upsert_account(engine, seller, conn_id=f"ebay_{seller}", marketplace_id=marketplace)
        env_extra[f"AIRFLOW_CONN_EBAY_{seller.upper()}"] = json.dumps({
            "conn_type": "ebay", "login": "emulator-client-id", "password": "emulator-client-secret",
            "extra": {"refresh_token": f"emu-refresh-{seller}", "marketplace_id": marketplace,
                      "api_base_url": emu.url}})
    stack = AirflowStack(tmp_path / "airflow", env_extra=env_extra, executor="CeleryExecutor",
                         metadata_url=metadata_db, with_triggerer=True)
    stack.init(pool_slots=4)
    with stack.start():
        assert set(stack.pids()) == {"api-server", "dag-processor", "scheduler", "triggerer", "worker"}
        stack.wait_dag_parsed("ebay_listings_sync")
        run_id = stack.trigger("ebay_listings_sync", "2026-11-01T06:00:00Z")
        state = stack.wait_run("ebay_listings_sync", run_id, timeout=600)
        tis = stack.task_instances("ebay_listings_sync", run_id)
        assert state == "success", [(t["task_id"], t["map_index"], t["state"]) for t in tis]
        pages = [t for t in tis if t["task_id"] == "sync_page"]
        assert len(pages) == 3 + 2
        assert all(t["state"] == "success" for t in pages)
        assert all(t.get("hostname") for t in pages)          # ran on the worker
        assert sorted(t["rendered_map_index"] for t in pages)[0] == "seller_a · page 1/3"
        # the trends page is served by the same api-server, behind its auth
        assert requests.get(f"{stack.base_url}/ebay-trends/api/accounts", timeout=30).status_code in (401, 403)
        ok = requests.get(f"{stack.base_url}/ebay-trends/api/accounts", timeout=30,
                          headers={"Authorization": f"Bearer {stack.token()}"})
        assert ok.status_code == 200 and "seller_a" in ok.text

    cat = get_catalog(emu.state.config)
    with engine.connect() as c:
        got = set(c.execute(sa.text(
            "SELECT account_id || ':' || item_id FROM ebay.listing_snapshots WHERE snapshot_date='2026-11-01'"
        )).scalars())
    expected = {f"{s}:{i}" for s in ("seller_a", "seller_b") for i in cat.active_item_ids(s, 0)}
    assert got == expected
    engine.dispose()

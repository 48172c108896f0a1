"""Shared fixtures: a real PostgreSQL database per test session and the eBay emulator.

PostgreSQL: the server named by ``EBAY_TEST_PG_ADMIN_URL`` (default: the local
service, trust auth).  Each session creates ``ebay_trends_test_<pid>_<rand>`` and drops
it at the end; per-test isolation is by fresh databases where a test needs one
(``fresh_pg_url``) or by truncating (``clean_warehouse``).
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its configuration at first import: point it at a throw-away home with a
# SQLite metadata database *before* any test imports airflow, so no developer's real
# AIRFLOW_HOME is touched.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="ebay-trends-airflow-")
os.environ.update({
    "AIRFLOW_HOME": _AIRFLOW_HOME,
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
})

ADMIN_URL = os.environ.get(
    "EBAY_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _create_db(name: str) -> str:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _drop_db(name: str) -> None:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty database that lives for the whole test session."""
    name = f"ebay_trends_test_{os.getpid()}_{secrets.token_hex(3)}"
    url = _create_db(name)
    yield url
    _drop_db(name)


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """URL of a fresh, empty database for one test (dropped afterwards)."""
    name = f"ebay_trends_t_{os.getpid()}_{secrets.token_hex(4)}"
    url = _create_db(name)
    yield url
    _drop_db(name)


@pytest.fixture
def make_pg_db() -> Iterator:
    """Create extra fresh databases in one test: ``url = make_pg_db()``; all dropped after."""
    names: list[str] = []

    def make() -> str:
        name = f"ebay_trends_x_{os.getpid()}_{secrets.token_hex(4)}"
        names.append(name)
        return _create_db(name)

    yield make
    for name in names:
        _drop_db(name)


@pytest.fixture
def emulator_factory():
    """Start emulators in-process on free ports: ``emulator_factory(**config_kwargs)``."""
    from include.ebay_emulator.server import EmulatorConfig, EmulatorServer

    started: list = []

    def make(**kwargs):
        kwargs.setdefault("latency_scale", 0.0)
        srv = EmulatorServer(EmulatorConfig(**kwargs), host="127.0.0.1", port=0)
        srv.start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def emulator(emulator_factory):
    """The default demo catalogue (2 sellers, 4,311 listings), no latency, no faults."""
    return emulator_factory()


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Migrate the session's SQLite Airflow metadata database once; returns AIRFLOW_HOME."""
    marker = Path(_AIRFLOW_HOME) / ".migrated"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True,
                       capture_output=True, env=os.environ.copy(), timeout=600)
        marker.touch()
    return _AIRFLOW_HOME

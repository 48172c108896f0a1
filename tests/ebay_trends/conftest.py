"""Fixtures shared by the sync, budget and trends tests."""
from __future__ import annotations

import pytest

from include.ebay_trends import warehouse


@pytest.fixture
def engine(fresh_pg_url):
    """An engine on a fresh database with every migration applied (dropped after the test)."""
    eng = warehouse.make_engine(fresh_pg_url)
    warehouse.migrate(eng)
    yield eng
    eng.dispose()

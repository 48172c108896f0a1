"""Fixtures for the emulator's own tests."""
from __future__ import annotations

import pytest

from .helpers import Api


@pytest.fixture
def api(emulator) -> Api:
    return Api(emulator.url)


@pytest.fixture
def make_api():
    def make(srv, seller: str = "seller_a") -> Api:
        return Api(srv.url, seller, srv.catalog.sellers[seller].marketplace)
    return make

"""Building the app and importing the plugin do no I/O: the engine comes at the first request."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI

from include.ebay_trends.webapp import create_app

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "ebay_trends_plugin.py"


def test_create_app_does_not_call_the_engine_factory():
    calls: list[int] = []

    def factory():
        calls.append(1)
        raise AssertionError("engine factory called at build time")

    app = create_app(factory)
    assert isinstance(app, FastAPI) and calls == []
    paths = {r.path for r in app.routes}
    assert {"/", "/listing/{item_id}", "/categories", "/api/accounts", "/api/kpis", "/api/top-movers",
            "/api/listing/{item_id}/history", "/api/categories", "/export/top-movers.csv",
            "/export/listing/{item_id}.csv"} <= paths
    assert app.openapi_url is None and app.docs_url is None


def test_plugin_registers_app_and_nav_entry(monkeypatch):
    # An unreachable warehouse: importing the plugin must not try to connect.
    monkeypatch.setenv("EBAY_WAREHOUSE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    spec = importlib.util.spec_from_file_location("ebay_trends_plugin_under_test", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = module.EbayTrendsPlugin
    assert plugin.name == "ebay_trends"
    [app] = plugin.fastapi_apps
    assert app["url_prefix"] == "/ebay-trends" and isinstance(app["app"], FastAPI)
    [view] = plugin.external_views
    assert (view["name"], view["href"], view["destination"], view["url_route"]) == (
        "eBay Trends", "/ebay-trends/", "nav", "ebay-trends")

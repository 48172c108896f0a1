"""Registers the eBay trends page with Airflow's API server (thin: the app lives in include/).

The page is mounted at ``/ebay-trends`` and shown in the UI's navigation as
"eBay Trends" (an external view rendered in an iframe at ``/plugin/ebay-trends``).
Building the app opens no connection: the warehouse engine is created at the first
request.  Authentication is Airflow's own (see include/ebay_trends/webapp/app.py).
"""
from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.ebay_trends.webapp import airflow_warehouse_engine, create_app

URL_PREFIX = "/ebay-trends"


class EbayTrendsPlugin(AirflowPlugin):
    name = "ebay_trends"
    fastapi_apps = [
        {"app": create_app(airflow_warehouse_engine), "url_prefix": URL_PREFIX, "name": "eBay Trends"},
    ]
    external_views = [
        {
            "name": "eBay Trends",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "ebay-trends",
            "category": "browse",
        },
    ]

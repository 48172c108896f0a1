"""The trends page (FastAPI, server-rendered HTML and SVG, JSON and CSV endpoints)."""
from __future__ import annotations

from include.ebay_trends.webapp.app import create_app
from include.ebay_trends.webapp.engine import airflow_warehouse_engine

__all__ = ["create_app", "airflow_warehouse_engine"]

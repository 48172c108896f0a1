"""ebay-trends: sync eBay sellers' active listings into PostgreSQL, one page per task.

The package is usable without Airflow: ``client`` (eBay API client), ``records``,
``errors``, ``settings`` and the sync/warehouse modules import no Airflow code.
``hooks`` (the Airflow ``EbayHook``) is the only module that needs Airflow.

The client's public names are re-exported lazily, so ``import include.ebay_trends``
stays cheap for modules that need only the warehouse or the settings::

    from include.ebay_trends import AccountConfig, EbayClient, iter_selling_pages
"""
from __future__ import annotations

from typing import Any

__all__ = ["AccountConfig", "EbayClient", "iter_selling_pages"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

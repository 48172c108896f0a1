"""``EbayHook``: builds an ``EbayClient`` from an Airflow connection.

Credentials live in Airflow connections (one per seller account, or one per
application with the account given by the caller), never in DAG code or XCom:

=============  ==================================================================
field          meaning
=============  ==================================================================
login          eBay application client id (App ID)
password       eBay application client secret (Cert ID)
extra          ``refresh_token`` (required), ``marketplace_id`` (default EBAY_US),
               ``environment`` ``production`` | ``sandbox`` (default production),
               ``api_base_url`` (overrides ``environment``; e.g. the emulator
               ``http://127.0.0.1:8765``), ``account_id`` (optional; else the caller
               passes the ``ebay.accounts`` row's id), ``scopes`` (list or
               space-separated string; default ``settings.OAUTH_SCOPES``)
=============  ==================================================================

Example (environment variable, JSON form)::

    AIRFLOW_CONN_EBAY_SELLER_A='{"conn_type": "ebay", "login": "<client id>",
        "password": "<client secret>", "extra": {"refresh_token": "<token>",
        "marketplace_id": "EBAY_US", "account_id": "seller_a"}}'

Errors name the connection id and the missing/invalid field, never a value.
``BaseHook`` is imported from ``airflow.sdk`` when Airflow is installed; without
Airflow this module still imports (so tooling can read it) but the hook cannot
look up connections.  ``include.ebay_trends.client`` never imports this module.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import settings
from .client import AccountConfig, EbayClient

try:  # guarded: the core package must work without Airflow installed
    from airflow.sdk import BaseHook  # type: ignore[import-not-found]
    AIRFLOW_AVAILABLE = True
except ImportError:  # pragma: no cover - exercised only in Airflow-free environments
    AIRFLOW_AVAILABLE = False

    class BaseHook:  # type: ignore[no-redef]
        """Stand-in so the module imports without Airflow; connection lookup is unavailable."""

        def __init__(self, logger_name: str | None = None) -> None:
            pass

        @classmethod
        def get_connection(cls, conn_id: str):
            raise RuntimeError(f"Airflow is not installed: cannot read connection {conn_id!r}")


class EbayConnectionError(ValueError):
    """The Airflow connection is missing a field or has an invalid one (values never shown)."""


class EbayHook(BaseHook):
    """Airflow hook for eBay seller accounts (Trading, Sell Analytics, OAuth)."""

    conn_name_attr = "ebay_conn_id"
    default_conn_name = "ebay_default"
    conn_type = "ebay"
    hook_name = "eBay"

    def __init__(self, ebay_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ebay_conn_id = ebay_conn_id

    def __repr__(self) -> str:
        return f"EbayHook(ebay_conn_id={self.ebay_conn_id!r})"

    # -- UI ----------------------------------------------------------------------
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["host", "schema", "port"],
            "relabeling": {"login": "Client ID (App ID)", "password": "Client secret (Cert ID)"},
            "placeholders": {
                "extra": json.dumps({
                    "refresh_token": "v^1.1#i^1#...",
                    "marketplace_id": "EBAY_US",
                    "environment": "production",
                    "account_id": "my_seller_id",
                }),
            },
        }

    # -- config ----------------------------------------------------------------------
    def _fail(self, field: str, problem: str = "is missing") -> EbayConnectionError:
        return EbayConnectionError(f"Airflow connection {self.ebay_conn_id!r}: {field} {problem}")

    def get_account_config(self, account_id: str | None = None) -> AccountConfig:
        """Read the connection into an ``AccountConfig`` (validated; secrets hidden in repr)."""
        conn = self.get_connection(self.ebay_conn_id)
        try:
            extra = conn.extra_dejson
        except Exception:  # a broken extra must not echo its (secret) content
            raise self._fail("extra", "is not valid JSON") from None
        if not isinstance(extra, Mapping):
            raise self._fail("extra", "is not a JSON object")
        return account_config_from_fields(
            conn_id=self.ebay_conn_id, login=conn.login, password=conn.password, extra=extra,
            account_id=account_id,
        )

    def get_client(self, account_id: str | None = None, **client_kwargs: Any) -> EbayClient:
        """An ``EbayClient`` for the connection's account (kwargs go to ``EbayClient``)."""
        return EbayClient(self.get_account_config(account_id), **client_kwargs)

    def get_conn(self) -> EbayClient:
        return self.get_client()

    def test_connection(self) -> tuple[bool, str]:
        """UI "Test" button: fetch one access token (one ``OAuthToken`` call)."""
        try:
            with self.get_client(max_retries=0) as client:
                client.verify_credentials()   # the cheapest call that proves the credentials
        except Exception as exc:  # messages are already secret-free
            return False, str(exc)
        return True, "eBay accepted the credentials (access token issued)"


def account_config_from_fields(*, conn_id: str, login: str | None, password: str | None,
                               extra: Mapping[str, Any], account_id: str | None = None) -> AccountConfig:
    """Validate connection fields and build an ``AccountConfig``.  Usable without Airflow."""

    def fail(field: str, problem: str = "is missing") -> EbayConnectionError:
        return EbayConnectionError(f"Airflow connection {conn_id!r}: {field} {problem}")

    def text(value: Any) -> str | None:
        return value.strip() if isinstance(value, str) and value.strip() else None

    client_id = text(login)
    if client_id is None:
        raise fail("login (eBay client id)")
    client_secret = text(password)
    if client_secret is None:
        raise fail("password (eBay client secret)")
    refresh_token = text(extra.get("refresh_token"))
    if refresh_token is None:
        raise fail("extra.refresh_token")

    conn_account = text(extra.get("account_id"))
    wanted = text(account_id) if account_id is not None else None
    if account_id is not None and wanted is None:
        raise fail("account_id argument", "is empty")
    if wanted and conn_account and wanted != conn_account:
        # A refresh token belongs to one seller: using it for another would file one
        # seller's listings under the other's id.
        raise fail("extra.account_id", f"is {conn_account!r} but account {wanted!r} was requested")
    resolved_account = wanted or conn_account
    if resolved_account is None:
        raise fail("extra.account_id", "is missing and no account_id was given")

    marketplace_id = text(extra.get("marketplace_id")) or "EBAY_US"
    if marketplace_id not in settings.SITE_IDS:
        raise fail("extra.marketplace_id", f"{marketplace_id!r} is not a known eBay marketplace")

    base_url = text(extra.get("api_base_url"))
    if base_url is None:
        environment = text(extra.get("environment")) or "production"
        if environment not in settings.API_BASE_URLS:
            raise fail("extra.environment", f"must be one of {sorted(settings.API_BASE_URLS)}")
        base_url = settings.API_BASE_URLS[environment]

    scopes_raw = extra.get("scopes")
    if scopes_raw is None:
        scopes: tuple[str, ...] = settings.OAUTH_SCOPES
    elif isinstance(scopes_raw, str):
        scopes = tuple(scopes_raw.split())
    elif isinstance(scopes_raw, (list, tuple)) and all(isinstance(s, str) for s in scopes_raw):
        scopes = tuple(s.strip() for s in scopes_raw if s.strip())
    else:
        raise fail("extra.scopes", "must be a list of strings or a space-separated string")
    if not scopes:
        raise fail("extra.scopes", "is empty")

    try:
        return AccountConfig(
            account_id=resolved_account, marketplace_id=marketplace_id, client_id=client_id,
            client_secret=client_secret, refresh_token=refresh_token, api_base_url=base_url,
            scopes=scopes,
        )
    except ValueError as exc:   # AccountConfig's messages name fields, not secret values
        raise EbayConnectionError(f"Airflow connection {conn_id!r}: {exc}") from None


__all__ = ["AIRFLOW_AVAILABLE", "EbayConnectionError", "EbayHook", "account_config_from_fields"]

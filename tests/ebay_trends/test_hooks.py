"""EbayHook: Airflow connection (``AIRFLOW_CONN_EBAY_TEST`` JSON) -> AccountConfig -> EbayClient,
clear errors for bad connections, secret masking, and the core working without Airflow."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Airflow writes its config under AIRFLOW_HOME on import; keep it out of ~/airflow when
# this file runs alone (the suite's conftest may already have set one).
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ebay-trends-hooks-airflow-"))

from include.ebay_trends import settings  # noqa: E402
from include.ebay_trends.client import AccountConfig, EbayClient  # noqa: E402
from include.ebay_trends.hooks import EbayConnectionError, EbayHook  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SECRET = "emulator-client-secret"


def set_conn(monkeypatch, extra: dict, *, login: str | None = "emulator-client-id",
             password: str | None = SECRET, conn_id: str = "EBAY_TEST") -> None:
    conn = {"conn_type": "ebay", "extra": extra}
    if login is not None:
        conn["login"] = login
    if password is not None:
        conn["password"] = password
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}", json.dumps(conn))


def test_hook_metadata():
    assert (EbayHook.conn_type, EbayHook.default_conn_name, EbayHook.hook_name, EbayHook.conn_name_attr) == \
        ("ebay", "ebay_default", "eBay", "ebay_conn_id")
    assert EbayHook().ebay_conn_id == "ebay_default"
    assert "host" in EbayHook.get_ui_field_behaviour()["hidden_fields"]


def test_connection_to_working_client(monkeypatch, emulator):
    set_conn(monkeypatch, {"refresh_token": "emu-refresh-seller_b", "marketplace_id": "EBAY_GB",
                           "api_base_url": emulator.url + "/", "account_id": "seller_b",
                           "scopes": list(settings.OAUTH_SCOPES[:2])})
    hook = EbayHook("ebay_test")
    cfg = hook.get_account_config()
    assert cfg == AccountConfig("seller_b", "EBAY_GB", "emulator-client-id", SECRET, "emu-refresh-seller_b",
                                emulator.url, settings.OAUTH_SCOPES[:2])
    assert cfg.site_id == "3" and SECRET not in repr(cfg) and "emu-refresh" not in repr(cfg)
    with hook.get_client(max_retries=0) as client:
        assert isinstance(client, EbayClient)
        page = client.get_my_ebay_selling(1, 5)
        assert [i.item_id for i in page.items] == emulator.catalog.active_item_ids("seller_b", 0)[:5]
        assert page.items[0].currency == "GBP"
    assert hook.test_connection()[0] is True


def test_environment_defaults_and_overrides(monkeypatch):
    set_conn(monkeypatch, {"refresh_token": "rt-value-1", "account_id": "seller_a"})
    cfg = EbayHook("ebay_test").get_account_config()
    assert (cfg.api_base_url, cfg.marketplace_id, cfg.scopes) == \
        ("https://api.ebay.com", "EBAY_US", settings.OAUTH_SCOPES)

    set_conn(monkeypatch, {"refresh_token": "rt-value-1", "environment": "sandbox",
                           "scopes": "https://api.ebay.com/oauth/api_scope  https://x/y"})
    cfg = EbayHook("ebay_test").get_account_config("seller_z")
    assert cfg.api_base_url == "https://api.sandbox.ebay.com" and cfg.account_id == "seller_z"
    assert cfg.scopes == ("https://api.ebay.com/oauth/api_scope", "https://x/y")


@pytest.mark.parametrize("drop, field", [
    ("login", "login (eBay client id)"),
    ("password", "password (eBay client secret)"),
    ("refresh_token", "extra.refresh_token"),
])
def test_missing_fields_name_the_connection_and_field_never_values(monkeypatch, drop, field):
    extra = {"refresh_token": "rt-secret-value", "account_id": "seller_a"}
    if drop == "refresh_token":
        extra.pop("refresh_token")
    set_conn(monkeypatch, extra, login=None if drop == "login" else "client-id-value",
             password=None if drop == "password" else "pw-secret-value")
    with pytest.raises(EbayConnectionError) as info:
        EbayHook("ebay_test").get_account_config()
    msg = str(info.value)
    assert msg == f"Airflow connection 'ebay_test': {field} is missing"
    assert "secret-value" not in msg and "client-id-value" not in msg


@pytest.mark.parametrize("extra, account, needle", [
    ({"refresh_token": "rt-secret-value"}, None, "extra.account_id is missing and no account_id was given"),
    ({"refresh_token": "rt-secret-value", "account_id": "seller_a"}, "seller_b",
     "extra.account_id is 'seller_a' but account 'seller_b' was requested"),
    ({"refresh_token": "rt-secret-value", "marketplace_id": "EBAY_XX"}, "a", "extra.marketplace_id 'EBAY_XX'"),
    ({"refresh_token": "rt-secret-value", "environment": "staging"}, "a", "extra.environment must be one of"),
    ({"refresh_token": "rt-secret-value", "scopes": 5}, "a", "extra.scopes must be"),
    ({"refresh_token": "rt-secret-value", "api_base_url": "ftp://x"}, "a", "api_base_url of account a must be"),
    ({"refresh_token": "rt-secret-value", "api_base_url": "https://u:rt-secret-value@h"}, "a", "without credentials"),
])
def test_invalid_fields_are_clear_errors(monkeypatch, extra, account, needle):
    set_conn(monkeypatch, extra)
    with pytest.raises(EbayConnectionError) as info:
        EbayHook("ebay_test").get_account_config(account)
    assert str(info.value).startswith("Airflow connection 'ebay_test': ") and needle in str(info.value)
    assert "secret-value" not in str(info.value) and SECRET not in str(info.value)


def test_test_connection_reports_failure_without_secrets(monkeypatch, emulator):
    set_conn(monkeypatch, {"refresh_token": "emu-refresh-seller_a", "api_base_url": emulator.url,
                           "account_id": "seller_a"})
    emulator.state.revoke("seller_a")
    ok, message = EbayHook("ebay_test").test_connection()
    assert ok is False and "invalid_grant" in message and "emu-refresh" not in message


def test_secrets_are_registered_with_airflows_masker():
    from airflow.sdk.log import redact

    AccountConfig("seller_m", "EBAY_US", "cid", "masked-client-secret-1", "masked-refresh-token-1",
                  "http://127.0.0.1:1")
    assert redact("a masked-client-secret-1 b masked-refresh-token-1") == "a *** b ***"


def test_the_client_works_without_airflow_installed(emulator):
    # A child interpreter where "import airflow" fails, as on a machine without Airflow.
    code = f"""
import sys
sys.modules["airflow"] = None
from include.ebay_trends.client import AccountConfig, EbayClient
from include.ebay_trends import hooks
assert hooks.AIRFLOW_AVAILABLE is False
acct = AccountConfig("seller_a", "EBAY_US", "emulator-client-id", "emulator-client-secret",
                     "emu-refresh-seller_a", {emulator.url!r})
with EbayClient(acct) as client:
    page = client.get_my_ebay_selling(1, 3)
assert len(page.items) == 3
assert not any(m == "airflow" or m.startswith("airflow.") for m in sys.modules if sys.modules[m] is not None)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"

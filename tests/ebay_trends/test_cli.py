"""The command line: --help everywhere, migrate, accounts, a local sync against the emulator."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from include.ebay_trends import cli, warehouse

REPO = Path(__file__).resolve().parents[2]
SECRET, REFRESH = "emulator-client-secret", "emu-refresh-seller_a"


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "include.ebay_trends.cli", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


@pytest.mark.parametrize("args", [[], ["migrate"], ["accounts"], ["accounts", "add"], ["accounts", "list"],
                                  ["accounts", "disable"], ["accounts", "enable"], ["sync-account"]])
def test_help(args):
    p = run_cli(*args, "--help")
    assert p.returncode == 0, p.stderr
    assert "usage:" in p.stdout


def test_missing_url_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("EBAY_WAREHOUSE_URL", raising=False)
    assert cli.main(["migrate"]) == 2
    assert "EBAY_WAREHOUSE_URL" in capsys.readouterr().err


def test_migrate_and_accounts(fresh_pg_url, monkeypatch, capsys):
    assert cli.main(["migrate", "--url", fresh_pg_url]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["applied"][0] == "0001_initial"
    monkeypatch.setenv("EBAY_WAREHOUSE_URL", fresh_pg_url)            # from here on: URL from the env
    assert cli.main(["migrate"]) == 0
    assert json.loads(capsys.readouterr().out)["applied"] == []

    assert cli.main(["accounts", "add", "seller_b", "--marketplace", "EBAY_GB"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["account_id"], row["site_id"], row["conn_id"]) == ("seller_b", "3", "ebay_seller_b")
    assert cli.main(["accounts", "add", "seller_a", "--conn-id", "my_conn"]) == 0
    assert cli.main(["accounts", "disable", "seller_b"]) == 0
    capsys.readouterr()
    assert cli.main(["accounts", "list", "--json"]) == 0
    listed = {r["account_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["seller_b"]["active"] is False and listed["seller_a"]["conn_id"] == "my_conn"
    assert cli.main(["accounts", "list"]) == 0
    table = capsys.readouterr().out
    assert "seller_a" in table and "my_conn" in table
    assert cli.main(["accounts", "enable", "seller_b"]) == 0
    assert cli.main(["accounts", "enable", "nobody"]) == 2
    eng = warehouse.make_engine(fresh_pg_url)
    try:
        assert [a["account_id"] for a in warehouse.active_accounts(eng)] == ["seller_a", "seller_b"]
    finally:
        eng.dispose()


def test_sync_account_against_the_emulator(emulator_factory, fresh_pg_url):
    srv = emulator_factory(listings=(230, 1))
    env = {"EBAY_WAREHOUSE_URL": fresh_pg_url, "EBAY_CLIENT_ID": "emulator-client-id",
           "EBAY_CLIENT_SECRET": SECRET, "EBAY_REFRESH_TOKEN": REFRESH}
    assert run_cli("migrate", env=env).returncode == 0
    assert run_cli("accounts", "add", "seller_a", env=env).returncode == 0
    day = srv.catalog.date_of(0).isoformat()
    p = run_cli("sync-account", "seller_a", "--date", day, "--api-base-url", srv.url, "--run-id", "cli-1", env=env)
    assert p.returncode == 0, p.stderr
    assert SECRET not in p.stdout + p.stderr and REFRESH not in p.stdout + p.stderr
    out = json.loads(p.stdout)
    assert out["pages"] == 2 and out["finalise"]["finalised"] is True and out["run_id"] == "cli-1"
    assert "page 1/2" in p.stderr                                        # progress on stderr
    eng = warehouse.make_engine(fresh_pg_url)
    try:
        with eng.connect() as c:
            assert c.execute(sa.text("SELECT count(*) FROM ebay.listing_snapshots")).scalar() == 230
            assert c.execute(sa.text("SELECT last_sync_run_id FROM ebay.accounts")).scalar() == "cli-1"
    finally:
        eng.dispose()

    # a revoked refresh token: a typed error, exit 1, and still no secret in the output
    bad = run_cli("sync-account", "seller_a", "--date", day, "--api-base-url", srv.url,
                  env={**env, "EBAY_REFRESH_TOKEN": "emu-refresh-nobody"})
    assert bad.returncode == 1 and "AuthRevoked" in bad.stderr
    assert "emu-refresh-nobody" not in bad.stdout + bad.stderr
    # missing credentials are named, not guessed
    miss = run_cli("sync-account", "seller_a", "--api-base-url", srv.url,
                   env={"EBAY_WAREHOUSE_URL": fresh_pg_url, "EBAY_CLIENT_ID": "x", "EBAY_CLIENT_SECRET": "",
                        "EBAY_REFRESH_TOKEN": ""})
    assert miss.returncode == 2 and "EBAY_CLIENT_SECRET" in miss.stderr

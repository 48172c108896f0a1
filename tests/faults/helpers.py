"""Fault-injection scenarios (issue 8): the real DAG under the real scheduler.
Shared helpers; the fixtures are in conftest.py, the guarantees in docs/RELIABILITY.md.

One ``AirflowStack`` (api-server + scheduler + dag-processor, LocalExecutor, SQLite
metadata) serves every test in this package (``scope="package"``): starting it costs
~30 s on two cores, a DAG run ~20 s.  Tests share it and isolate themselves by

* a fresh simulated day each (``fx.day``): its own logical date, hence its own DAG run,
  its own emulator day and its own eBay-quota day;
* an emptied warehouse (data tables truncated, accounts kept) and a reset emulator
  (counters, faults, revocations, latency 0, default call limit) before each test.

The eBay emulator runs in this process (threads) and the warehouse is a PostgreSQL
database created for the package.  Task processes reach both through the environment
the stack passes on: ``EBAY_WAREHOUSE_URL`` and one ``AIRFLOW_CONN_EBAY_<SELLER>``
JSON connection per seller.  Nothing is mocked.

Stack settings that matter to the assertions (conftest.py, ``fault_stack``): 2 page retries
(3 tries) 1 s apart (exponential), at most 4 pages of a run at once, pool
``ebay_trading`` with 8 slots, and no scheduled runs (``use_job_schedule=False``), so
the only runs are the ones the tests trigger.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from include.ebay_emulator.catalog import get_catalog
from include.ebay_emulator.server import EmulatorServer
from scripts.stack import AirflowStack

DAG_ID = "ebay_listings_sync"
START = date(2026, 11, 1)                     # the emulator's day 0
CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = "emulator-client-secret"
ADMIN_URL = os.environ.get("EBAY_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

# The two accounts most scenarios use: 3 + 2 pages of 200 (7 + 12 pages of 50).
MAIN_SELLERS: dict[str, int] = {"seller_a": 600, "seller_b": 350}
PAGE_RETRIES = 2                              # tries = 3
MAX_PARALLEL_PAGES = 4                        # max_active_tis_per_dagrun of sync_page
POOL_SLOTS = 8                                # the production default (docs/SCALING.md)
MAX_CLIENT_ATTEMPTS = 4                       # settings.MAX_TRANSIENT_RETRIES + 1
EMULATOR_CALLS = ("GetMyeBaySelling", "GetItem", "GetSellerList", "TrafficReport", "OAuthToken")


def load_size() -> tuple[int, int]:
    """(sellers, listings per seller) of the load scenario.

    CI default 5 x 800 (~24 pages, about 30 s here); ``EBAY_LOAD_FULL=1`` is
    the issue's 20 x 5,000 (500 pages); ``EBAY_LOAD_SELLERS``/``EBAY_LOAD_LISTINGS`` scale freely.
    """
    if os.environ.get("EBAY_LOAD_FULL", "").lower() in ("1", "true", "yes"):
        return 20, 5000
    return int(os.environ.get("EBAY_LOAD_SELLERS", "5")), int(os.environ.get("EBAY_LOAD_LISTINGS", "800"))


def load_sellers() -> list[str]:
    n, _ = load_size()
    return [f"load_{i:02d}" for i in range(1, n + 1)]


def logical(day: int) -> datetime:
    d = START + timedelta(days=day)
    return datetime(d.year, d.month, d.day, 6, tzinfo=timezone.utc)


def conn_json(seller: str, marketplace: str, api_base_url: str) -> str:
    return json.dumps({
        "conn_type": "ebay", "login": CLIENT_ID, "password": CLIENT_SECRET,
        "extra": {"refresh_token": f"emu-refresh-{seller}", "marketplace_id": marketplace,
                  "api_base_url": api_base_url, "account_id": seller},
    })


def admin_engine() -> sa.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


# ------------------------------------------------------------------------------ the stack
@dataclass
class FaultStack:
    """The package's Airflow stack, emulator and warehouse, plus the helpers tests share."""

    stack: AirflowStack
    emulator: EmulatorServer
    engine: sa.Engine
    url: str
    sellers: dict[str, str]                   # seller -> marketplace
    day: int = 0                              # the current test's simulated day
    next_day: int = 1
    open_runs: list[str] = field(default_factory=list)

    # -- emulator admin ----------------------------------------------------------------
    def emu(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        r = requests.request(method, f"{self.emulator.url}/admin/{path}", json=body, timeout=30)
        r.raise_for_status()
        return r.json()

    def calls(self) -> dict:
        return self.emu("GET", "calls")

    # -- warehouse -----------------------------------------------------------------------
    def sql(self, query: str, **params) -> list[sa.Row]:
        with self.engine.connect() as c:
            return c.execute(sa.text(query), params).all()

    def scalar(self, query: str, **params) -> Any:
        with self.engine.connect() as c:
            return c.execute(sa.text(query), params).scalar()

    def reset(self) -> None:
        """Empty warehouse (accounts kept), emulator back to defaults."""
        with self.engine.begin() as c:
            c.execute(sa.text("SET LOCAL lock_timeout = '60s'"))
            c.execute(sa.text(
                "TRUNCATE ebay.listing_snapshots, ebay.listings, ebay.sync_pages, ebay.item_errors, "
                "ebay.api_calls, ebay.listing_trends, ebay.account_daily, ebay.category_daily RESTART IDENTITY"))
            c.execute(sa.text("UPDATE ebay.accounts SET last_sync_run_id = NULL, last_sync_at = NULL, "
                              "last_sync_date = NULL, active = true"))
        self.emu("POST", "reset")
        self.emu("POST", "state", {"latency_scale": 0.0, "latencies": dict.fromkeys(EMULATOR_CALLS, 0.0),
                                   "call_limit": 5000, "token_lifetime_s": 7200, "faults": {}})

    def set_latency(self, **per_call: float) -> None:
        """Emulator latency in seconds for the named calls, 0 for the others."""
        lat = dict.fromkeys(EMULATOR_CALLS, 0.0) | per_call
        self.emu("POST", "state", {"latency_scale": 1.0, "latencies": lat})

    # -- runs ------------------------------------------------------------------------------
    def trigger(self, day: int, conf: Mapping[str, Any] | None = None) -> str:
        """Trigger the run of ``day``; ``accounts`` defaults to the two main sellers."""
        self.emu("POST", "state", {"day": day})
        conf = {"accounts": list(MAIN_SELLERS), **(conf or {})}
        run_id = self.stack.trigger(DAG_ID, logical(day).isoformat(), conf=conf)
        self.open_runs.append(run_id)
        return run_id

    def run_state(self, run_id: str) -> str:
        return self.stack.run_state(DAG_ID, run_id)

    def wait(self, run_id: str, timeout: float = 300, poll: float = 0.5,
             during: Callable[[], Any] | None = None) -> str:
        """Wait for the run to end; ``during()`` is called between polls."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(run_id)
            if state in ("success", "failed"):
                if run_id in self.open_runs:
                    self.open_runs.remove(run_id)
                return state
            if during is not None:
                during()
            time.sleep(poll)
        raise TimeoutError(f"run {run_id} not finished after {timeout} s; logs in {self.stack.home}")

    def run(self, day: int, conf: Mapping[str, Any] | None = None, timeout: float = 300,
            during: Callable[[], Any] | None = None) -> tuple[str, str]:
        run_id = self.trigger(day, conf)
        return run_id, self.wait(run_id, timeout=timeout, during=during)

    def fail_open_runs(self) -> None:
        """After a failed test: end its run so the next test's run can start (max_active_runs=1)."""
        for run_id in list(self.open_runs):
            try:
                self.stack.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}", json={"state": "failed"})
            except RuntimeError:
                pass
            self.open_runs.remove(run_id)

    def tis(self, run_id: str) -> list[dict]:
        """Every task instance of the run (the REST API pages at 100)."""
        out: list[dict] = []
        while True:
            got = self.stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
                                 params={"limit": 100, "offset": len(out)})
            out += got["task_instances"]
            if not got["task_instances"] or len(out) >= got["total_entries"]:
                return out

    def page_tis(self, run_id: str) -> dict[str, dict]:
        """sync_page instances by label (``seller_a · page 2/3``)."""
        return {t["rendered_map_index"]: t for t in self.tis(run_id) if t["task_id"] == "sync_page"}

    def page_ti(self, run_id: str, seller: str, page: int) -> dict:
        """The sync_page instance of ``seller``'s page, also while it runs (no label yet)."""
        for t in self.tis(run_id):
            if t["task_id"] != "sync_page":
                continue
            kw = ((t.get("rendered_fields") or {}).get("op_kwargs") or {}).get("page") or {}
            if (kw.get("account"), kw.get("page")) == (seller, page):
                return t
            if t.get("rendered_map_index") and label_page(t["rendered_map_index"]) == (seller, page):
                return t
        raise KeyError(f"no sync_page instance for {seller} page {page}")

    def ti(self, run_id: str, task_id: str) -> dict:
        (t,) = [t for t in self.tis(run_id) if t["task_id"] == task_id]
        return t

    def tries(self, run_id: str, task_id: str, map_index: int = -1) -> list[dict]:
        out = self.stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries"
                             if map_index >= 0 else
                             f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        return out["task_instances"]

    # -- logs ------------------------------------------------------------------------------
    def log_dir(self, run_id: str) -> Path:
        return self.stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"

    def log_files(self, run_id: str, task_id: str | None = None) -> list[Path]:
        base = self.log_dir(run_id)
        if task_id:
            base = base / f"task_id={task_id}"
        return sorted(base.rglob("*.log"))

    @staticmethod
    def records(path: Path) -> list[dict]:
        """The task log's JSON lines (Airflow 3 writes structured logs)."""
        out = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {"level": "?", "event": line}
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def task_error(self, path: Path) -> tuple[str, str] | None:
        """(exception type, message) of the try whose log is ``path``, or None."""
        for rec in self.records(path):
            if rec.get("event") == "Task failed with exception" and rec.get("error_detail"):
                d = rec["error_detail"][-1]
                return d.get("exc_type", ""), d.get("exc_value", "")
        return None

    def retry_decision(self, path: Path) -> str | None:
        """The ExceptionRetryPolicy's action for the try whose log is ``path`` (retry/fail)."""
        for rec in self.records(path):
            if rec.get("event") == "Retry policy decision":
                return rec.get("action")
        return None

    def page_log(self, run_id: str, map_index: int, attempt: int) -> Path:
        return self.log_dir(run_id) / "task_id=sync_page" / f"map_index={map_index}" / f"attempt={attempt}.log"

    # -- truth and contents ----------------------------------------------------------------
    def truth(self, day: int, sellers: list[str] | None = None) -> dict[str, list[str]]:
        """The emulator's active listings of the day, sorted by ItemID (= page order)."""
        cat = get_catalog(self.emulator.state.config)
        return {s: sorted(cat.active_item_ids(s, day), key=int) for s in (sellers or list(MAIN_SELLERS))}

    def stored(self, day: int) -> dict[str, set[str]]:
        rows = self.sql("SELECT account_id, item_id FROM ebay.listing_snapshots WHERE snapshot_date = :d",
                        d=START + timedelta(days=day))
        out: dict[str, set[str]] = {}
        for a, i in rows:
            out.setdefault(a, set()).add(i)
        return out

    def assert_no_duplicates(self) -> None:
        dup = self.sql("SELECT account_id, item_id, snapshot_date, count(*) FROM ebay.listing_snapshots "
                       "GROUP BY 1, 2, 3 HAVING count(*) > 1")
        assert dup == []
        # every snapshot has its listing and vice versa for the day's rows
        orphans = self.scalar("SELECT count(*) FROM ebay.listing_snapshots s LEFT JOIN ebay.listings l "
                              "USING (account_id, item_id) WHERE l.item_id IS NULL")
        assert orphans == 0

    def assert_exact(self, day: int, expected: Mapping[str, set[str] | list[str]]) -> None:
        """The day's snapshot keys are exactly ``expected`` (accounts with no rows omitted)."""
        want = {a: set(ids) for a, ids in expected.items() if ids}
        got = self.stored(day)
        for a in set(want) | set(got):
            missing, extra = want.get(a, set()) - got.get(a, set()), got.get(a, set()) - want.get(a, set())
            assert not missing and not extra, (
                f"{a}: {len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} unexpected "
                f"(e.g. {sorted(extra)[:3]})")
        total = self.scalar("SELECT count(*) FROM ebay.listing_snapshots WHERE snapshot_date = :d",
                            d=START + timedelta(days=day))
        assert total == sum(len(v) for v in want.values())
        self.assert_no_duplicates()


def page_chunks(ids: list[str], per_page: int) -> list[list[str]]:
    return [ids[i:i + per_page] for i in range(0, len(ids), per_page)]


def label_page(label: str) -> tuple[str, int]:
    """``seller_a · page 2/3`` -> ("seller_a", 2)."""
    m = re.fullmatch(r"(\S+) · page (\d+)/(\S+)", label)
    assert m, label
    return m.group(1), int(m.group(2))


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """Most intervals open at one instant (an end at t closes before a start at t)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def ti_intervals(tis: list[dict], task_id: str = "sync_page") -> list[tuple[datetime, datetime]]:
    out = []
    for t in tis:
        if t["task_id"] == task_id and t.get("start_date") and t.get("end_date"):
            out.append((datetime.fromisoformat(t["start_date"].replace("Z", "+00:00")),
                        datetime.fromisoformat(t["end_date"].replace("Z", "+00:00"))))
    return out


def emulator_outcomes(calls: Mapping[str, Any], *, kind: str) -> Counter[str]:
    """``{"GetItem": n, ...}`` of outcomes containing ``:<kind>:`` (fault / error)."""
    out: Counter[str] = Counter()
    for k, v in calls["outcomes"].items():
        call, _, rest = k.partition(":")
        if rest.startswith(kind + ":") or rest == kind:
            out[call] += v
    return out

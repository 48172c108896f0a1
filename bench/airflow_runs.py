"""The DAG run by Airflow itself: page-task memory, whole-run memory, end-to-end speed.

Everything here drives ``scripts.stack.AirflowStack`` — api-server, scheduler and
dag-processor as native processes, LocalExecutor, SQLite metadata — against the
emulator (its own process) and the bench PostgreSQL database.

* **Page-task memory**: a run is triggered while pool ``ebay_trading`` has 0 slots, so
  ``plan_pages`` runs and the mapped ``sync_page`` instances exist but never start.  Then
  ``airflow tasks test ebay_listings_sync sync_page <run_id> --map-index k`` runs one page
  in a subprocess (in-process execution: one process, no fork), and its peak RSS is taken
  from the kernel (``wait4`` ``ru_maxrss``) and from psutil polling.  The baseline is the
  *same command on the same run* for ``select_accounts`` — a trivial task of the same DAG
  file (one SELECT through the same engine factory) — so the increase is what a page adds
  on top of Airflow's own ~217 MB.
* **Whole-run memory**: the summed RSS (and PSS) of the process trees of api-server,
  scheduler (with its LocalExecutor workers and every task process) and dag-processor,
  sampled every 0.5 s while a run syncs pages 4 at a time.
* **Speed**: trigger → run end from the REST API's timestamps, task-instance timings,
  ``ebay.sync_pages`` rows of the run and the emulator's call counters.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.measure import EmulatorProcess, TreeSampler, calls_delta, run_measured
from include.ebay_emulator.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, refresh_token_for
from scripts.stack import AirflowStack

DAG_ID = "ebay_listings_sync"
POOL = "ebay_trading"
UNLIMITED_BUDGET = 1_000_000_000


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def conn_json(seller: str, marketplace: str, api_base_url: str) -> str:
    return json.dumps({
        "conn_type": "ebay", "login": DEMO_CLIENT_ID, "password": DEMO_CLIENT_SECRET,
        "extra": {"refresh_token": refresh_token_for(seller), "marketplace_id": marketplace,
                  "api_base_url": api_base_url, "account_id": seller},
    })


def stack_env(warehouse_url: str, emulator_url: str, accounts: Sequence[tuple[str, str]],
              parallel_pages: int) -> dict[str, str]:
    env = {
        "EBAY_WAREHOUSE_URL": warehouse_url,
        "EBAY_MAX_PARALLEL_PAGES": str(parallel_pages),
        # The budget guard would stop a 100,000-listing first day at 5,000 calls; it is
        # not what is measured here (calls are counted separately).
        "EBAY_DAILY_CALL_BUDGET": str(UNLIMITED_BUDGET),
        "EBAY_PAGE_RETRY_DELAY_S": "5",
        # Only triggered runs: no scheduled run of "today" may start in the middle of a measurement.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(16, parallel_pages)),
    }
    for seller, marketplace in accounts:
        env[f"AIRFLOW_CONN_EBAY_{seller.upper()}"] = conn_json(seller, marketplace, emulator_url)
    return env


def _ts(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s.replace("Z", "+00:00")) if s else None


def logical(d: date, hour: int = 6) -> str:
    return datetime(d.year, d.month, d.day, hour, tzinfo=timezone.utc).isoformat()


@dataclass
class Bench:
    stack: AirflowStack
    emulator: EmulatorProcess
    warehouse_url: str
    engine: sa.Engine
    notes: list[str] = field(default_factory=list)
    idle_sched_procs: int = 0          # scheduler tree with no task running (LocalExecutor workers)
    parallel_pages: int = 4

    # -- REST helpers ------------------------------------------------------------------
    def set_pool(self, slots: int) -> None:
        self.stack.api("PATCH", f"/pools/{POOL}", params={"update_mask": ["slots"]},
                       json={"pool": POOL, "slots": slots, "include_deferred": False})

    def run_info(self, run_id: str) -> dict[str, Any]:
        return self.stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")

    def fail_run(self, run_id: str) -> None:
        self.stack.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}", json={"state": "failed"})

    def tis(self, run_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
                                  params={"limit": 100, "offset": offset})
            out.extend(page["task_instances"])
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page["total_entries"]:
                return out

    def xcom(self, run_id: str, task_id: str) -> Any:
        r = self.stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")
        value = r["value"]
        return json.loads(value) if isinstance(value, str) else value

    def wait_for(self, what: str, pred: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(1)
        raise TimeoutError(f"{what} not reached after {timeout} s")

    def task_procs(self) -> int:
        """Processes under the scheduler beyond its idle LocalExecutor workers (running tasks)."""
        from bench.measure import tree_processes

        pid = self.stack.pids().get("scheduler")
        return len(tree_processes([pid])) if pid else 0

    # -- warehouse -----------------------------------------------------------------------
    def page_rows(self, run_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(sa.text(
                "SELECT account_id, page, status, attempt, items_seen, items_written, api_calls, "
                "duration_s, peak_rss_mb, started_at, finished_at FROM ebay.sync_pages WHERE run_id = :r "
                "ORDER BY account_id, page"), {"r": run_id}).mappings().all()
        return [dict(r) for r in rows]


def _account_page_index(planned: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int], int]:
    return {(p["account"], int(p["page"])): i for i, p in enumerate(planned)}


# ----------------------------------------------------------------------------- memory
_IMPORT_PROBE = """
import psutil
def rss(): return psutil.Process().memory_info().rss / 2**20
import include.ebay_trends.pipeline, include.ebay_trends.warehouse   # what select_accounts imports too
before = rss()
import include.ebay_trends.sync, include.ebay_trends.hooks, include.ebay_trends.client
print(round(rss() - before, 1))
"""


def sync_import_cost_mb(env: dict[str, str]) -> float:
    """RSS that importing the page task's own modules adds on top of the baseline task's."""
    r = run_measured([sys.executable, "-c", _IMPORT_PROBE], env=env, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"import probe failed: {r.stderr_tail}")
    return float(r.stdout_tail.strip().splitlines()[-1])


def page_task_memory(b: Bench, sizes: Mapping[str, str], *, run_date: date, pages_per_size: int = 2,
                     pool_slots: int = 4) -> dict[str, Any]:
    """Peak RSS of one page task (``airflow tasks test … --map-index k``) per account size.

    ``sizes`` maps a label ("1000") to the seller holding that many listings.  Each
    measured page is a first-day page with bulk details: 1 GetMyeBaySelling and 1
    GetSellerList page (<= 200 full items) in flight at once, the details staged in
    ``ebay.listing_details`` and the page's 200 listings written (100-row transactions).
    """
    b.set_pool(0)
    sellers = list(sizes.values())
    run_id = b.stack.trigger(DAG_ID, logical(run_date), conf={"accounts": sellers})
    log(f"page-task memory: run {run_id} (pool {POOL} at 0 slots: pages are planned, never started)")
    result: dict[str, Any] = {"run_id": run_id, "method": (
        "`airflow tasks test ebay_listings_sync sync_page <run_id> --map-index k` (in-process task "
        "execution: one process); peak = the kernel's ru_maxrss of that process, read by the small "
        "bench.launch process it is started from; baseline = the same command for select_accounts "
        "(a trivial task of the same DAG, same run)"), "sizes": {}}
    try:
        b.wait_for("plan_pages success", lambda: any(
            t["task_id"] == "plan_pages" and t["state"] == "success" for t in b.tis(run_id)), 300)
        planned = b.xcom(run_id, "plan_pages")
        index = _account_page_index(planned)
        b.wait_for("sync_page expanded", lambda: sum(
            1 for t in b.tis(run_id) if t["task_id"] == "sync_page" and t["map_index"] >= 0) >= len(planned), 120)

        def tasks_test(task_id: str, map_index: int | None = None):
            cmd = [sys.executable, "-m", "airflow", "tasks", "test", DAG_ID, task_id, run_id]
            if map_index is not None:
                cmd += ["--map-index", str(map_index)]
            r = run_measured(cmd, env=b.stack.env, timeout=600)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[2:])} failed ({r.returncode}):\n{r.stdout_tail}\n{r.stderr_tail}")
            return r

        baselines = []
        for _ in range(pages_per_size):
            r = tasks_test("select_accounts")
            baselines.append(r)
            log(f"  baseline select_accounts: peak {r.maxrss_mb} MB (tree {r.peak_tree_rss_mb} MB), {r.wall_s} s")
        base = statistics.median(r.maxrss_mb for r in baselines)
        result["baseline"] = {"peak_rss_mb": base, "runs": [r.as_dict() | {"stdout_tail": "", "stderr_tail": ""}
                                                            for r in baselines]}
        for label, seller in sizes.items():
            n_pages = max(p["pages"] for p in planned if p["account"] == seller)
            mid = max(1, n_pages // 2)
            pages = [mid + i for i in range(pages_per_size) if mid + i <= n_pages]
            runs = []
            for page in pages:
                r = tasks_test("sync_page", index[(seller, page)])
                rows = [x for x in b.page_rows(run_id) if x["account_id"] == seller and x["page"] == page]
                row = rows[0] if rows else {}
                if row.get("status") != "success":
                    raise RuntimeError(f"{seller} page {page}: sync_pages row {row!r}")
                runs.append({
                    "page": page, "of_pages": n_pages, "peak_rss_mb": r.maxrss_mb,
                    "peak_tree_rss_mb": r.peak_tree_rss_mb, "increase_mb": round(r.maxrss_mb - base, 1),
                    "wall_s": r.wall_s, "items_written": row.get("items_written"),
                    "api_calls": row.get("api_calls"), "in_task_ru_maxrss_mb": float(row.get("peak_rss_mb") or 0),
                    "sync_duration_s": float(row.get("duration_s") or 0),
                })
                log(f"  {label:>6} listings, page {page}/{n_pages}: peak {r.maxrss_mb} MB "
                    f"(+{r.maxrss_mb - base:.1f} MB), {row.get('items_written')} rows, calls {row.get('api_calls')}")
            inc = statistics.median(x["increase_mb"] for x in runs)
            result["sizes"][label] = {
                "seller": seller, "listings": int(label), "pages": n_pages, "increase_mb": round(inc, 1),
                "peak_rss_mb": statistics.median(x["peak_rss_mb"] for x in runs), "runs": runs}
        result["sync_imports_mb"] = sync_import_cost_mb(b.stack.env)
        log(f"  importing the sync's modules adds {result['sync_imports_mb']} MB of that")
    finally:
        b.fail_run(run_id)
        b.set_pool(pool_slots)
    return result


# ----------------------------------------------------------------------------- runs
def _sampler(b: Bench) -> TreeSampler:
    return TreeSampler(lambda: list(b.stack.pids().values()), interval=0.5, pss=True, keep_every=1.0, cpu=True)


def _phase(tis: list[dict], task_id: str) -> tuple[datetime | None, datetime | None]:
    sel = [t for t in tis if t["task_id"] == task_id and t.get("start_date")]
    if not sel:
        return None, None
    starts = [_ts(t["start_date"]) for t in sel]
    ends = [_ts(t["end_date"]) for t in sel if t.get("end_date")]
    return min(starts), (max(ends) if ends else None)


def _secs(a: datetime | None, b_: datetime | None) -> float | None:
    return round((b_ - a).total_seconds(), 2) if a and b_ else None


def summarise_run(run_id: str, info: dict, tis: list[dict], pages: list[dict],
                  planned: Sequence[Mapping[str, Any]], *, parallel_pages: int = 4) -> dict[str, Any]:
    """Wall times by phase, task-instance overheads and per-page numbers of one finished run."""
    start, end = _ts(info.get("start_date")), _ts(info.get("end_date"))
    phases = {}
    for task in ("ensure_schema", "select_accounts", "plan_pages", "sync_page", "finalise_accounts",
                 "compute_trends", "check_pages"):
        s, e = _phase(tis, task)
        phases[task] = {"start_s": _secs(start, s), "end_s": _secs(start, e), "span_s": _secs(s, e)}
    page_tis = [t for t in tis if t["task_id"] == "sync_page" and t.get("start_date") and t.get("end_date")]
    real_pages = [p for p in pages if p["page"] > 0]
    ti_durs = sorted((_ts(t["end_date"]) - _ts(t["start_date"])).total_seconds() for t in page_tis)
    sync_durs = sorted(float(p["duration_s"] or 0) for p in real_pages)
    plan_s, _ = _phase(tis, "plan_pages")
    _, fin_e = _phase(tis, "finalise_accounts")
    _, trends_e = _phase(tis, "compute_trends")
    trends_s, _ = _phase(tis, "compute_trends")
    # Concurrency actually achieved: page-task seconds / page-phase span.
    p_s, p_e = _phase(tis, "sync_page")
    span = _secs(p_s, p_e) or 0.0
    return {
        "run_id": run_id, "state": info.get("state"),
        "wall_s": _secs(start, end),
        "sync_s": _secs(start, fin_e),                    # run start → finalise end (pages + reconcile)
        "pages_phase_s": span,
        "compute_trends_s": _secs(trends_s, trends_e),
        "phases": phases,
        "pages": len(real_pages),
        "page_tries": sum(int(t.get("try_number") or 1) for t in page_tis),
        "page_ti_s": {"median": _median(ti_durs), "min": ti_durs[0] if ti_durs else None,
                      "max": ti_durs[-1] if ti_durs else None},
        "page_sync_s": {"median": _median(sync_durs), "min": sync_durs[0] if sync_durs else None,
                        "max": sync_durs[-1] if sync_durs else None},
        # Task-instance time not spent inside sync_page(): process start, DAG parse,
        # connection lookup, client/engine creation, Execution API round trips.
        "page_airflow_overhead_s": _median(sorted(_overheads(page_tis, real_pages, planned))),
        "achieved_parallelism": round(sum(ti_durs) / span, 2) if span else None,
        # Pool-slot time per page: the pages phase × slots ÷ pages.  Unlike the instance's own
        # start→end it includes queueing, process start and DAG parsing before Airflow marks
        # the instance started, and the scheduler's loop between instances.
        "slot_seconds_per_page": round(span * parallel_pages / len(real_pages), 2) if span and real_pages else None,
        "page_rss_mb_in_task": {"median": _median(sorted(float(p["peak_rss_mb"] or 0) for p in real_pages)),
                                "max": max((float(p["peak_rss_mb"] or 0) for p in real_pages), default=None)},
        "page_calls": _sum_calls(real_pages),
        "reconcile_calls": _sum_calls([p for p in pages if p["page"] == 0]),
        "items_written": sum(int(p["items_written"] or 0) for p in real_pages),
        "plan_start_s": _secs(start, plan_s),
    }


def _overheads(page_tis: list[dict], pages: list[dict], planned: Sequence[Mapping[str, Any]]) -> list[float]:
    sync_s = {(p["account_id"], p["page"]): float(p["duration_s"] or 0) for p in pages}
    out = []
    for t in page_tis:
        i = t["map_index"]
        if 0 <= i < len(planned):
            key = (planned[i]["account"], int(planned[i]["page"]))
            if key in sync_s:
                out.append((_ts(t["end_date"]) - _ts(t["start_date"])).total_seconds() - sync_s[key])
    return out


def _median(xs: Sequence[float]) -> float | None:
    return round(statistics.median(xs), 2) if xs else None


def _sum_calls(rows: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        for k, v in (r.get("api_calls") or {}).items():
            out[k] = out.get(k, 0) + int(v)
    return out


def timed_run(b: Bench, *, accounts: Sequence[str], run_date: date, label: str,
              timeout: float = 1200) -> dict[str, Any]:
    """Trigger a run, sample the whole stack's memory until it ends, and summarise it."""
    calls_before = b.emulator.calls()
    sampler = _sampler(b).start()
    run_id = b.stack.trigger(DAG_ID, logical(run_date), conf={"accounts": list(accounts)})
    log(f"{label}: run {run_id} for {', '.join(accounts)}")
    try:
        state = b.stack.wait_run(DAG_ID, run_id, timeout=timeout)
    finally:
        sampler.stop()
    info = b.run_info(run_id)
    tis = b.tis(run_id)
    pages = b.page_rows(run_id)
    out = summarise_run(run_id, info, tis, pages, b.xcom(run_id, "plan_pages"), parallel_pages=b.parallel_pages)
    out["state"] = state
    out["emulator_calls"] = calls_delta(calls_before, b.emulator.calls())
    ps = out["phases"]["sync_page"]
    out["cpu_busy_pct"] = {"run": sampler.mean_cpu_pct(),
                           "pages_phase": sampler.mean_cpu_pct(ps["start_s"] or 0, ps["end_s"] or float("inf"))}
    out["stack_rss_mb"] = {"peak_rss_sum": round(sampler.peak_rss_mb, 1),
                           "peak_pss_sum": round(sampler.peak_pss_mb or 0, 1),
                           "peak_procs": sampler.peak_procs,
                           "samples": [[s.t, s.rss_mb, s.pss_mb, s.procs] for s in sampler.samples]}
    log(f"  {state}: wall {out['wall_s']} s (sync {out['sync_s']} s, pages {out['pages_phase_s']} s, "
        f"compute_trends {out['compute_trends_s']} s), {out['pages']} pages, "
        f"page TI median {out['page_ti_s']['median']} s vs sync {out['page_sync_s']['median']} s, "
        f"stack RSS peak {out['stack_rss_mb']['peak_rss_sum']} MB (PSS {out['stack_rss_mb']['peak_pss_sum']} MB), "
        f"CPU busy {out['cpu_busy_pct']['pages_phase']} % during the pages")
    if state != "success":
        failed = [(t["task_id"], t["map_index"], t["state"]) for t in tis if t["state"] not in ("success", "skipped")]
        raise RuntimeError(f"{label}: run {run_id} ended {state}; unfinished/failed tasks: {failed[:10]}")
    return out


def whole_run_memory(b: Bench, *, seller: str, run_date: date, time_box_s: float) -> dict[str, Any]:
    """Sum of RSS/PSS of every Airflow process while a big account syncs 4 pages at a time.

    A first-day run of the 100,000-listing account is 125 pages (eBay's 25,000-entry
    ActiveList cap), each a GetMyeBaySelling + GetSellerList page; the run is stopped
    after ``time_box_s`` seconds and what was measured is reported with the page count.
    """
    idle_rss, idle_pss, idle_n = _idle(b)
    sampler = _sampler(b).start()
    run_id = b.stack.trigger(DAG_ID, logical(run_date), conf={"accounts": [seller]})
    log(f"whole-run memory: run {run_id} ({seller}), time box {time_box_s:.0f} s")
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < time_box_s:
            if b.stack.run_state(DAG_ID, run_id) in ("success", "failed"):
                break
            time.sleep(2)
    finally:
        sampler.stop()
    tis = b.tis(run_id)
    pages = b.page_rows(run_id)
    done = [p for p in pages if p["page"] > 0 and p["status"] == "success"]
    running = [t for t in tis if t["task_id"] == "sync_page" and t["state"] == "running"]
    total = max((p["pages"] or 0 for p in b.xcom(run_id, "plan_pages")), default=0) if done else 0
    b.fail_run(run_id)
    # Let the stopped run's task processes exit before anything else is measured.
    try:
        b.wait_for("task processes gone", lambda: b.task_procs() <= b.idle_sched_procs, 120)
    except TimeoutError:
        b.notes.append("whole-run: task processes still alive 120 s after the run was stopped")
    per_page_rss = sorted(float(p["peak_rss_mb"] or 0) for p in done)
    half = time_box_s / 2
    first_half = [x.rss_mb for x in sampler.samples if x.t < half]
    second_half = [x.rss_mb for x in sampler.samples if x.t >= half]
    out = {
        "run_id": run_id, "seller": seller, "time_box_s": time_box_s,
        "pages_done": len(done), "pages_total": total, "pages_running_at_stop": len(running),
        "idle_stack": {"rss_sum_mb": idle_rss, "pss_sum_mb": idle_pss, "procs": idle_n},
        "peak_rss_sum_mb": round(sampler.peak_rss_mb, 1),
        "peak_pss_sum_mb": round(sampler.peak_pss_mb or 0, 1),
        "peak_procs": sampler.peak_procs,
        "peak_rss_first_half_mb": max(first_half, default=None),
        "peak_rss_second_half_mb": max(second_half, default=None),
        "peak_pss_first_half_mb": max((x.pss_mb for x in sampler.samples if x.t < half and x.pss_mb), default=None),
        "peak_pss_second_half_mb": max((x.pss_mb for x in sampler.samples if x.t >= half and x.pss_mb), default=None),
        "page_task_ru_maxrss_mb": {"median": _median(per_page_rss), "max": per_page_rss[-1] if per_page_rss else None},
        "cpu_busy_pct": sampler.mean_cpu_pct(),
        "samples": [[s.t, s.rss_mb, s.pss_mb, s.procs] for s in sampler.samples],
    }
    log(f"  {len(done)}/{total} pages in {time_box_s:.0f} s; stack RSS sum peak {out['peak_rss_sum_mb']} MB "
        f"(idle {idle_rss} MB), PSS peak {out['peak_pss_sum_mb']} MB, {sampler.peak_procs} processes")
    return out


def _idle(b: Bench) -> tuple[float, float, int]:
    from bench.measure import tree_memory

    rss, pss, n = tree_memory(list(b.stack.pids().values()), pss=True)
    b.idle_sched_procs = b.task_procs()
    return round(rss / 2**20, 1), round((pss or 0) / 2**20, 1), n


# ----------------------------------------------------------------------------- setup
def start_stack(home: Path, warehouse_url: str, emulator: EmulatorProcess, accounts: Sequence[tuple[str, str]], *,
                parallel_pages: int, parallelism: int) -> AirflowStack:
    # The executor's own slots (``parallelism``) exceed the pool's: a LocalExecutor slot stays
    # busy until the task's supervisor process has wound down, after the pool slot is free.
    stack = AirflowStack(home=home, env_extra=stack_env(warehouse_url, emulator.url, accounts, parallel_pages),
                         parallelism=parallelism)
    t0 = time.monotonic()
    stack.init(pool_slots=parallel_pages)
    stack.start()
    stack.wait_dag_parsed(DAG_ID)
    log(f"airflow stack up in {time.monotonic() - t0:.0f} s ({stack.base_url}, LocalExecutor, "
        f"parallelism {parallelism}, pool {POOL} {parallel_pages})")
    return stack


def register_accounts(engine: sa.Engine, accounts: Sequence[tuple[str, str]]) -> None:
    from include.ebay_trends import warehouse

    warehouse.migrate(engine)
    for seller, marketplace in accounts:
        warehouse.upsert_account(engine, seller, conn_id=f"ebay_{seller}", marketplace_id=marketplace)

"""``make bench``: every benchmark in one run → bench/results/latest.json, PNGs, docs/BENCHMARKS.md.

    python -m bench.run [--latency-scale 1.0] [--time-box 60] [--no-docs]

One emulator process serves every contender with the same latency factor; one
PostgreSQL server (``EBAY_BENCH_PG_ADMIN_URL``, default the local one, trust auth)
holds throw-away databases that are dropped at the end.  Order (so nothing measured
overlaps with anything else):

1. write path (synthetic rows, the sync's upserts), plan-cache effect;
2. Airflow stack up (LocalExecutor, parallelism 4, pool 4);
3. page-task memory for accounts of 1,000 / 10,000 / 100,000 listings;
4. whole-run memory: the 100,000-listing account, 4 pages at a time, time-boxed;
5. the DAG's first day and steady day for 2 sellers / 4,311 listings;
6. stack down; the old loop and the plan's fix side by side (each on 4,311 listings of
   its own sellers: both are serial and mostly wait on eBay), then our sync in one
   process on the same 4,311 listings.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from bench import airflow_runs as ar
from bench import calls as calls_mod
from bench import report, writepath
from bench.measure import (
    ROOT,
    EmulatorProcess,
    create_database,
    drop_database,
    machine,
    pg_server_version,
    run_measured,
)
from include.ebay_emulator.config import DEFAULT_LATENCIES

RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "BENCHMARKS.md"
START = date(2026, 11, 1)                 # the emulator's day 0
DEMO = (("seller_a", "EBAY_US", 2400), ("seller_b", "EBAY_GB", 1911))
# The plan's fix runs at the same time as the original old loop (both are serial and wait
# on eBay ~95 % of the time, so two of them barely share a core): it syncs sellers of the
# same sizes and marketplaces under other names, so the emulator's counters tell the two apart.
FIX_DEMO = (("fix_a", "EBAY_US", 2400), ("fix_b", "EBAY_GB", 1911))
SIZES = {"1000": "acct_001k", "10000": "acct_010k", "100000": "acct_100k"}
PARALLEL_PAGES = 4
# Executor slots (LocalExecutor parallelism): 2 × the pages' pool slots, docs/SCALING.md.
EXECUTOR_PARALLELISM = int(os.environ.get("EBAY_BENCH_EXECUTOR_PARALLELISM", 2 * PARALLEL_PAGES))
DEMO_CHURN = 0.003                        # the emulator's default daily churn, for the budget model


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def emulator_config(latency_scale: float) -> dict[str, Any]:
    sellers = [s for s, _, _ in DEMO + FIX_DEMO] + list(SIZES.values())
    listings = [n for _, _, n in DEMO + FIX_DEMO] + [int(k) for k in SIZES]
    markets = {s: [m, {"EBAY_US": "USD", "EBAY_GB": "GBP"}[m]] for s, m, _ in DEMO + FIX_DEMO}
    markets.update({s: ["EBAY_US", "USD"] for s in SIZES.values()})
    # daily_churn 0: the steady day has no new (and no ended) listings, by construction.
    return {"sellers": sellers, "listings": listings, "latency_scale": latency_scale, "daily_churn": 0.0,
            "call_limit": 10 ** 9, "marketplaces": markets}


def accounts() -> list[tuple[str, str]]:
    return [(s, m) for s, m, _ in DEMO] + [(s, "EBAY_US") for s in SIZES.values()]


def contender(variant: str, *, url: str, emulator: EmulatorProcess, workdir: Path,
              sellers: tuple = DEMO) -> dict[str, Any]:
    """One whole-sync contender in its own process; RSS polled from outside as well."""
    out = workdir / f"{variant}.json"
    cmd = [sys.executable, "-m", "bench.contenders", "--variant", variant, "--url", url,
           "--api-base-url", emulator.url, "--snapshot-date", START.isoformat(),
           "--accounts", ",".join(f"{s}:{m}" for s, m, _ in sellers), "--out", str(out)]
    before = emulator.calls()
    log(f"contender {variant}: syncing {sum(n for *_, n in DEMO):,} listings in one process")
    r = run_measured(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(f"contender {variant} failed:\n{r.stdout_tail}\n{r.stderr_tail}")
    res = json.loads(out.read_text())
    from bench.measure import calls_delta

    mine = {s for s, _, _ in sellers}
    res["emulator_calls"] = {k: v for k, v in calls_delta(before, emulator.calls()).items() if k in mine}
    res["sellers"] = sorted(mine)
    res["process_wall_s"] = r.wall_s
    res["process_peak_rss_mb"] = r.maxrss_mb
    log(f"  {variant}: {res['wall_s']} s, RSS {res['start_rss_mb']} → peak {res['peak_rss_mb']} MB "
        f"(+{res['rss_growth_mb']} MB), calls {res['calls']}, rows {res['rows']}")
    return res


def _section(results: dict, name: str, fn) -> Any:
    t0 = time.monotonic()
    try:
        value = fn()
        results["sections_s"][name] = round(time.monotonic() - t0, 1)
        return value
    except Exception as exc:  # noqa: BLE001 - record, clean up, keep the other sections
        results["errors"][name] = f"{type(exc).__name__}: {exc}"[:3000]
        log(f"SECTION {name} FAILED: {exc}")
        traceback.print_exc()
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-scale", type=float, default=1.0,
                    help="ONE factor on every emulator latency, for every contender (1.0 = production-like, "
                         "the default: ~15 min; smaller factors run shorter)")
    ap.add_argument("--time-box", type=float, default=60.0,
                    help="seconds of the 100,000-listing whole-run memory measurement")
    ap.add_argument("--pages-per-size", type=int, default=2, help="page tasks measured per account size")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--docs", type=Path, default=DOCS)
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/BENCHMARKS.md")
    ap.add_argument("--skip", action="append", default=[],
                    choices=["writepath", "memory", "whole_run", "speed", "old_loop"])
    a = ap.parse_args(argv)

    t_start = time.monotonic()
    started = datetime.now(timezone.utc)
    work = Path(tempfile.mkdtemp(prefix="ebay-bench-"))
    a.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "date_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "latency_scale": a.latency_scale,
        "emulator_latencies_s_at_1": dict(DEFAULT_LATENCIES), "machine": machine(),
        "parallel_pages": PARALLEL_PAGES, "executor_parallelism": EXECUTOR_PARALLELISM, "sections_s": {}, "errors": {}, "notes": [],
    }
    log(f"latency factor {a.latency_scale} on every emulator call; work dir {work}")
    dbs: list[str] = []
    emu = EmulatorProcess(emulator_config(a.latency_scale), log_path=work / "emulator.log")
    stack = None
    try:
        emu.start()
        wh_url = create_database("ebay_bench_wh")
        dbs.append(wh_url)
        results["postgres"] = pg_server_version(wh_url)
        results["airflow"] = _airflow_version()

        if "writepath" not in a.skip:
            def _wp() -> dict:
                pc_url = create_database("ebay_bench_pc")
                dbs.append(pc_url)
                pc2_url = create_database("ebay_bench_pc")
                dbs.append(pc2_url)
                wp_url = create_database("ebay_bench_wp")
                dbs.append(wp_url)
                log("write path: the sync's upserts by transaction size, and COPY")
                out = writepath.run(wp_url)
                out["plan_cache_effect"] = writepath.plan_cache_effect(pc_url, pc2_url)
                for v in out["variants"]:
                    log(f"  batch {v['variant']:>4}: steady {v['steady_rows_per_s']:>6} rows/s "
                        f"({v['steady_ms_per_200_page']} ms per 200-listing page), new {v['new_rows_per_s']} rows/s")
                log(f"  plan-cache effect: {out['plan_cache_effect']}")
                return out
            results["write_path"] = _section(results, "writepath", _wp)

        from include.ebay_trends import warehouse

        engine = warehouse.make_engine(wh_url)
        ar.register_accounts(engine, accounts())
        need_stack = not {"memory", "whole_run", "speed"} <= set(a.skip)
        if need_stack:
            stack = ar.start_stack(work / "airflow", wh_url, emu, accounts(), parallel_pages=PARALLEL_PAGES,
                                   parallelism=EXECUTOR_PARALLELISM)
            b = ar.Bench(stack, emu, wh_url, engine, parallel_pages=PARALLEL_PAGES)
            time.sleep(5)          # let the freshly started processes settle before measuring

            if "memory" not in a.skip:
                results["page_task"] = _section(results, "memory", lambda: ar.page_task_memory(
                    b, SIZES, run_date=date(2026, 10, 1), pages_per_size=a.pages_per_size, pool_slots=PARALLEL_PAGES))
            if "whole_run" not in a.skip:
                results["whole_run"] = _section(results, "whole_run", lambda: ar.whole_run_memory(
                    b, seller=SIZES["100000"], run_date=date(2026, 10, 2), time_box_s=a.time_box))
            if "speed" not in a.skip:
                demo = [s for s, _, _ in DEMO]
                emu.admin("/admin/state", {"day": 0})
                results.setdefault("speed", {})["first_day"] = _section(
                    results, "first_day", lambda: ar.timed_run(b, accounts=demo, run_date=START, label="first day"))
                emu.admin("/admin/state", {"day": 1})
                results["speed"]["steady"] = _section(
                    results, "steady", lambda: ar.timed_run(b, accounts=demo, run_date=date(2026, 11, 2),
                                                            label="steady day"))
                emu.admin("/admin/state", {"day": 0})
            results["notes"].extend(b.notes)
            stack.stop()
            stack = None
        engine.dispose()

        if "old_loop" not in a.skip:
            speed = results.setdefault("speed", {})
            emu.admin("/admin/state", {"day": 0})
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=2) as pool:
                f_old = pool.submit(_section, results, "old_loop",
                                    lambda: contender("original", url=wh_url, emulator=emu, workdir=work))
                f_fix = pool.submit(_section, results, "plan_fix",
                                    lambda: contender("plan_fix", url=wh_url, emulator=emu, workdir=work,
                                                      sellers=FIX_DEMO))
                speed["old_loop"], speed["plan_fix"] = f_old.result(), f_fix.result()
            results["notes"].append("The original old loop and the plan's fix ran at the same time (sellers "
                                    "of equal sizes under other names for the fix); our contenders ran alone.")

            def _ours() -> dict:
                url = create_database("ebay_bench_ours")
                dbs.append(url)
                return contender("ours", url=url, emulator=emu, workdir=work)
            speed["ours_inprocess"] = _section(results, "ours_inprocess", _ours)
    finally:
        if stack is not None:
            stack.stop()
        emu.stop()
        for url in dbs:
            try:
                drop_database(url)
            except Exception as exc:  # noqa: BLE001
                log(f"could not drop {url}: {exc}")

    try:
        derive(results)
    except Exception as exc:  # noqa: BLE001 - keep the raw numbers even if a derivation fails
        results["errors"]["derive"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    results["bench_duration_s"] = round(time.monotonic() - t_start, 1)
    (a.out / "latest.json").write_text(json.dumps(report.jsonable(results), indent=1, sort_keys=False))
    plots = report.plots(results, a.out)
    log(f"wrote {a.out / 'latest.json'} and {', '.join(p.name for p in plots)}")
    if not a.no_docs:
        report.write_doc(results, a.docs, plots=plots)
        log(f"wrote {a.docs}")
    report.print_summary(results)
    shutil.rmtree(work, ignore_errors=True)
    log(f"done in {results['bench_duration_s']:.0f} s")
    return 1 if results["errors"] else 0


def _airflow_version() -> str:
    try:
        from importlib.metadata import version

        return version("apache-airflow")
    except Exception:  # noqa: BLE001
        return "?"


# ----------------------------------------------------------------------------- derived numbers
def derive(r: dict[str, Any]) -> None:
    """Headline numbers, lower bounds, call budgets and targets from the raw sections."""
    f = r["latency_scale"]
    lat = {k: v * f for k, v in r["emulator_latencies_s_at_1"].items()}
    n_listings = sum(n for *_, n in DEMO)

    pt = r.get("page_task") or {}
    if pt.get("sizes"):
        inc = {k: v["increase_mb"] for k, v in pt["sizes"].items()}
        r["page_task_rss_increase_mb"] = inc
        lo, hi = min(inc.values()), max(inc.values())
        r["page_task_flatness_pct"] = round(100 * (hi - lo) / lo, 1) if lo > 0 else None

    speed = r.get("speed") or {}
    first, steady = speed.get("first_day"), speed.get("steady")
    old, fix, ours = speed.get("old_loop"), speed.get("plan_fix"), speed.get("ours_inprocess")

    cpl: dict[str, Any] = {}
    for name, run in (("first_day", first), ("steady", steady)):
        if not run:
            continue
        pages = int(run["pages"])
        # Per-page API latency: the calls the run's pages actually made, at this factor.
        per_page = per_page_api_s(run["page_calls"], pages, lat)
        rounds = math.ceil(pages / PARALLEL_PAGES)
        bound = rounds * per_page
        cpl[name] = {"pages": pages, "parallel_pages": PARALLEL_PAGES, "rounds": rounds,
                     "per_page_api_s": round(per_page, 3), "lower_bound_s": round(bound, 2),
                     "wall_s": run["wall_s"], "sync_s": run["sync_s"], "pages_phase_s": run["pages_phase_s"],
                     "wall_over_bound": _over(run["wall_s"], bound),
                     "sync_over_bound": _over(run["sync_s"], bound),
                     "pages_phase_over_bound": _over(run["pages_phase_s"], bound)}
    r["critical_path"] = cpl
    if "steady" in cpl:
        r["steady_over_lower_bound"] = cpl["steady"]["wall_over_bound"]
        r["steady_sync_over_lower_bound"] = cpl["steady"]["sync_over_bound"]

    if old and first:
        r["speedup_vs_old_loop_first_day"] = round(old["wall_s"] / first["wall_s"], 2)
        r["speedup_vs_old_loop_first_day_sync_only"] = round(old["wall_s"] / first["sync_s"], 2)
    if fix and first:
        r["speedup_vs_plan_fix_first_day"] = round(fix["wall_s"] / first["wall_s"], 2)

    cpl_calls: dict[str, Any] = {}
    if first:
        cpl_calls["first_day"] = _run_calls(first, n_listings)
    if steady:
        cpl_calls["steady"] = _run_calls(steady, n_listings)
    if old:
        cpl_calls["old_loop"] = calls_mod.per_listing(_sum_sellers(old["emulator_calls"]), n_listings)
    if cpl_calls:
        r["calls_detail"] = cpl_calls
        r["calls_per_listing"] = {k: v["all"] for k, v in cpl_calls.items()}

    budget: dict[str, Any] = {}
    if first:
        budget["first_day"] = calls_mod.budget_model(first, accounts=len(DEMO), listings=n_listings)
    if steady:
        budget["steady"] = calls_mod.budget_model(steady, accounts=len(DEMO), listings=n_listings, churn=DEMO_CHURN)
    budget["old_loop"] = {"per_page": 1, "per_account": 0, "getitem_per_listing": 1,
                          "largest_account": calls_mod.largest_account(per_account=0, per_page=1,
                                                                       getitem_per_listing=1)}
    r["largest_account"] = budget

    mem: dict[str, Any] = {}
    for k, v in (("old_loop", old), ("plan_fix", fix), ("ours_inprocess", ours)):
        if v:
            mem[k] = v["rss_growth_mb"]
    if r.get("page_task_rss_increase_mb"):
        mem["ours_page_task_100000"] = r["page_task_rss_increase_mb"].get("100000")
    r["memory_growth_mb"] = mem

    if old and first:
        r["projection_latency_1"] = _projection(r, old, first)
    r["targets"] = report.targets(r)


def per_page_api_s(page_calls: dict[str, int], pages: int, lat: dict[str, float]) -> float:
    """eBay latency one page waits for, from the calls the run's pages made.

    GetItem runs 8 at a time inside a page (its latency counts once per round of 8);
    GetSellerList is in flight together with GetMyeBaySelling (the page waits for the
    slower of the two).
    """
    per = {k: n / pages for k, n in page_calls.items()}
    total = sum(n * lat.get(k, 0.0) for k, n in per.items())
    gi = per.get("GetItem", 0.0)
    if gi:
        total += math.ceil(gi / 8) * lat["GetItem"] - gi * lat["GetItem"]
    gsl = per.get("GetSellerList", 0.0) * lat.get("GetSellerList", 0.0)
    if gsl:
        total -= min(gsl, per.get("GetMyeBaySelling", 0.0) * lat.get("GetMyeBaySelling", 0.0))
    return total


def _over(x: float | None, bound: float) -> float | None:
    return round(x / bound, 1) if x is not None and bound > 0 else None


def _sum_sellers(by_seller: dict[str, dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for calls in by_seller.values():
        for k, v in calls.items():
            out[k] = out.get(k, 0) + int(v)
    return out


def _run_calls(run: dict[str, Any], listings: int) -> dict[str, Any]:
    # The emulator's own counters: plan, pages, reconcile, tokens, traffic — everything.
    return calls_mod.per_listing(_sum_sellers(run["emulator_calls"]), listings)


def _projection(r: dict[str, Any], old: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
    """What the first-day ratio becomes at factor 1.0 (a model, not a measurement).

    The old loop is strictly serial, so its time grows by exactly the added latency of
    every call it made.  The DAG's pages overlap: its added time is the added per-page
    latency times pages / the parallelism the run actually achieved (conservative), plus
    the serial planning and reconcile calls.
    """
    f = r["latency_scale"]
    if f >= 1.0:
        return {}
    lat1 = r["emulator_latencies_s_at_1"]
    old_calls = _sum_sellers(old["emulator_calls"])
    old_added = (1 - f) * sum(n * lat1.get(k, 0.0) for k, n in old_calls.items())
    pages = int(first["pages"])
    per_page1 = per_page_api_s(first["page_calls"], pages, lat1)
    par = max(1.0, float(first.get("achieved_parallelism") or 1.0))
    serial1 = len(DEMO) * 2 * (lat1["GetMyeBaySelling"] + lat1["OAuthToken"])   # plan + reconcile per account
    dag_added = (1 - f) * (pages / par * per_page1 + serial1)
    old1 = old["wall_s"] + old_added
    dag1 = first["wall_s"] + dag_added
    return {"old_loop_s": round(old1), "dag_first_day_s": round(dag1), "speedup": round(old1 / dag1, 1),
            "achieved_parallelism_used": par}


if __name__ == "__main__":
    sys.exit(main())

"""Measurement helpers: process-tree RSS sampling, measured subprocess runs, bench
databases, the emulator in its own process, machine facts.

RSS is what the OOM killer and container limits count, so it is the primary number.
A sum of RSS over a process tree counts pages shared between forked processes once
per process (an upper bound); where that matters the PSS sum (shared pages split
between their users) is sampled as well.
"""
from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# --------------------------------------------------------------------------- RSS
def tree_processes(roots: Iterable[int]) -> list[psutil.Process]:
    """The root processes and all their descendants that are still alive (no duplicates)."""
    seen: dict[int, psutil.Process] = {}
    for pid in roots:
        try:
            root = psutil.Process(pid)
            for p in [root, *root.children(recursive=True)]:
                seen.setdefault(p.pid, p)
        except psutil.Error:
            continue
    return list(seen.values())


def tree_memory(roots: Iterable[int], *, pss: bool = False) -> tuple[int, int | None, int]:
    """(sum of RSS bytes, sum of PSS bytes or None, process count) over the trees of ``roots``."""
    rss = 0
    pss_total: int | None = 0 if pss else None
    n = 0
    for p in tree_processes(roots):
        try:
            if pss:
                full = p.memory_full_info()          # reads smaps_rollup: slower, only when asked
                rss += full.rss
                pss_total = (pss_total or 0) + full.pss
            else:
                rss += p.memory_info().rss
            n += 1
        except psutil.Error:
            continue                                 # exited between listing and reading
    return rss, pss_total, n


@dataclass
class Sample:
    t: float                   # seconds since the sampler started
    rss_mb: float
    pss_mb: float | None
    procs: int
    cpu_pct: float | None = None   # whole machine, busy % since the previous kept sample


class TreeSampler:
    """Polls the summed RSS (and optionally PSS) of process trees in a background thread.

    ``roots`` is a list of pids or a callable returning one (so processes started later,
    e.g. task processes under a scheduler, are picked up on every poll).
    """

    def __init__(self, roots: Iterable[int] | Callable[[], Iterable[int]], *, interval: float = 0.05,
                 pss: bool = False, keep_every: float = 0.0, cpu: bool = False):
        self._roots = roots if callable(roots) else (lambda r=list(roots): r)
        self.interval = interval
        self.pss = pss
        self.keep_every = keep_every        # keep a sample for plots at most this often (0 = all)
        self.cpu = cpu                      # record machine-wide CPU busy % with each kept sample
        self.samples: list[Sample] = []
        self.peak_rss_mb = 0.0
        self.peak_pss_mb: float | None = None
        self.peak_procs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def _poll(self) -> None:
        last_kept = -1e9
        while True:
            rss, pss, n = tree_memory(self._roots(), pss=self.pss)
            t = time.monotonic() - self._t0
            rss_mb = rss / MB
            pss_mb = pss / MB if pss is not None else None
            self.peak_rss_mb = max(self.peak_rss_mb, rss_mb)
            if pss_mb is not None:
                self.peak_pss_mb = max(self.peak_pss_mb or 0.0, pss_mb)
            self.peak_procs = max(self.peak_procs, n)
            if n and t - last_kept >= self.keep_every:
                cpu = psutil.cpu_percent(None) if self.cpu else None
                self.samples.append(Sample(round(t, 3), round(rss_mb, 1),
                                           round(pss_mb, 1) if pss_mb is not None else None, n, cpu))
                last_kept = t
            if self._stop.wait(self.interval):
                return

    def start(self) -> TreeSampler:
        self._t0 = time.monotonic()
        if self.cpu:
            psutil.cpu_percent(None)        # set the reference point
        self._thread = threading.Thread(target=self._poll, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> TreeSampler:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        return self

    def __enter__(self) -> TreeSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def mean_cpu_pct(self, start: float = 0.0, end: float = float("inf")) -> float | None:
        """Mean machine-wide CPU busy % of the kept samples with ``start <= t <= end``."""
        xs = [x.cpu_pct for x in self.samples if x.cpu_pct is not None and start <= x.t <= end]
        return round(sum(xs) / len(xs), 1) if xs else None


@dataclass
class MeasuredRun:
    cmd: list[str]
    returncode: int
    wall_s: float
    peak_tree_rss_mb: float          # psutil polling, summed over the process tree
    maxrss_mb: float                 # kernel ru_maxrss of the command (largest process), via bench.launch
    first_rss_mb: float              # first poll, right after exec (interpreter start)
    stdout_tail: str = ""
    stderr_tail: str = ""
    samples: list[Sample] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("samples")
        return d


def run_measured(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | str = ROOT,
                 timeout: float = 900, interval: float = 0.05) -> MeasuredRun:
    """Run ``cmd`` and measure its peak memory two ways.

    * the kernel's ``ru_maxrss`` of the command (exact peak of its largest process), taken
      by the small ``bench.launch`` process the command is started from — so the peak of
      this (bigger) process does not leak into the child's number, see ``bench/launch.py``;
    * the peak of the summed RSS of the command's process tree, polled every ``interval`` s.
    Output goes to temporary files (a pipe could fill up and stall the child).
    """
    env = dict(env if env is not None else os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        peak_file = Path(tmp) / "peak"
        out_path, err_path = Path(tmp) / "out", Path(tmp) / "err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-m", "bench.launch", str(peak_file), "--", *cmd],
                                    env=env, cwd=cwd, stdout=out, stderr=err, start_new_session=True)

            def measured() -> list[int]:
                # the command and its descendants, not the launcher itself
                try:
                    return [c.pid for c in psutil.Process(proc.pid).children()]
                except psutil.Error:
                    return []

            sampler = TreeSampler(measured, interval=interval).start()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
            finally:
                sampler.stop()
            wall = time.monotonic() - t0
        stdout = out_path.read_bytes().decode("utf-8", "replace")
        stderr = err_path.read_bytes().decode("utf-8", "replace")
        maxrss_kib = int(peak_file.read_text() or 0) if peak_file.exists() else 0
    first = sampler.samples[0].rss_mb if sampler.samples else 0.0
    return MeasuredRun(cmd=cmd, returncode=proc.returncode, wall_s=round(wall, 2),
                       peak_tree_rss_mb=round(sampler.peak_rss_mb, 1), maxrss_mb=round(maxrss_kib / 1024.0, 1),
                       first_rss_mb=first, stdout_tail=stdout[-4000:], stderr_tail=stderr[-4000:],
                       samples=sampler.samples)


def rss_mb_now() -> float:
    return psutil.Process().memory_info().rss / MB


# --------------------------------------------------------------------------- databases
def pg_admin_url() -> str:
    return os.environ.get("EBAY_BENCH_PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL)


def create_database(prefix: str = "ebay_bench") -> str:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return sa.make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = sa.make_url(url).database
    admin = sa.create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def bench_database(prefix: str = "ebay_bench") -> Iterator[str]:
    """A fresh database on the bench PostgreSQL server, dropped afterwards."""
    url = create_database(prefix)
    try:
        yield url
    finally:
        drop_database(url)


def pg_server_version(url: str) -> str:
    eng = sa.create_engine(url)
    try:
        with eng.connect() as c:
            return str(c.execute(sa.text("SHOW server_version")).scalar())
    finally:
        eng.dispose()


# --------------------------------------------------------------------------- emulator
def http_json(url: str, payload: dict | None = None, *, method: str | None = None,
              timeout: float = 60) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    return json.loads(body) if body else None


class EmulatorProcess:
    """The eBay emulator in its own process (``bench.emulator_proc``), so its CPU and
    memory never mix with a contender's, and any ``EmulatorConfig`` field can be set."""

    def __init__(self, config: dict[str, Any], *, log_path: Path):
        self.config = config
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self._tmp: tempfile.TemporaryDirectory | None = None

    def start(self, timeout: float = 60) -> EmulatorProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-emu-")
        ready = Path(self._tmp.name) / "url"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.emulator_proc", "--config", json.dumps(self.config),
             "--ready-file", str(ready)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready.exists() and ready.read_text().strip():
                self.url = ready.read_text().strip()
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}; see {self.log_path}")
            time.sleep(0.1)
        raise TimeoutError(f"emulator not ready after {timeout} s; see {self.log_path}")

    def admin(self, path: str, payload: dict | None = None) -> Any:
        return http_json(self.url + path, payload)

    def calls(self) -> dict[str, Any]:
        return self.admin("/admin/calls")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def calls_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per seller and call name: calls between two ``/admin/calls`` snapshots."""
    out: dict[str, dict[str, int]] = {}
    b_sellers = before.get("by_seller", {})
    for seller, calls in after.get("by_seller", {}).items():
        prev = b_sellers.get(seller, {})
        d = {k: int(v) - int(prev.get(k, 0)) for k, v in _flat_calls(calls).items()}
        d = {k: v for k, v in d.items() if v}
        if d:
            out[seller] = d
    return out


def _flat_calls(calls: Any) -> dict[str, int]:
    # by_seller is {seller: {call: n}} in the emulator; tolerate {seller: n} too.
    if isinstance(calls, dict):
        return {str(k): int(v) for k, v in calls.items() if isinstance(v, (int, float))}
    return {"total": int(calls)}


# --------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    vm = psutil.virtual_memory()
    freq = psutil.cpu_freq()
    return {
        "cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(vm.total / 1024 ** 3, 1),
        "cpu_mhz": round(freq.current) if freq else None,
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None

"""Run Airflow's services natively (no Docker): the same processes docker-compose runs.

``AirflowStack`` starts ``api-server``, ``scheduler``, ``dag-processor`` and
``triggerer`` (plus a Celery ``worker`` with the CeleryExecutor) as subprocesses with
a private ``AIRFLOW_HOME``, and talks to them through the public REST API (JWT from
the simple auth manager).  The fault tests (SIGKILL a worker mid-page), the
benchmarks (whole-run RSS of every Airflow process) and the compose check use it.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AirflowStack:
    home: Path
    env_extra: Mapping[str, str] = field(default_factory=dict)
    executor: str = "LocalExecutor"
    metadata_url: str | None = None          # default: SQLite in home
    parallelism: int = 8
    with_triggerer: bool = False
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    _token: str | None = None

    # -- setup ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = os.environ.copy()
        env.update({
            "PYTHONPATH": str(ROOT),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url or f"sqlite:///{self.home}/airflow.db",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API_AUTH__JWT_SECRET": "ebay-trends-test-jwt-secret-not-for-production",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
        })
        env.update(self.env_extra)
        return env

    def airflow(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        out = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, cwd=ROOT,
                             capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out

    def init(self, pool_slots: int = 8, connections: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        self.airflow("pools", "set", "ebay_trading", str(pool_slots), "eBay Trading API calls")
        for conn_id, spec in (connections or {}).items():
            self.airflow("connections", "delete", conn_id, check=False)
            self.airflow("connections", "add", conn_id, "--conn-json", json.dumps(spec))

    # -- processes ---------------------------------------------------------------------
    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.home / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args], env=self.env, cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, timeout: float = 180) -> AirflowStack:
        self._spawn("api-server", "api-server", "--port", str(self.port), "--host", "127.0.0.1")
        self._wait_health(timeout)
        self._spawn("dag-processor", "dag-processor")
        self._spawn("scheduler", "scheduler")
        if self.with_triggerer:
            self._spawn("triggerer", "triggerer")
        if self.executor == "CeleryExecutor":
            self._spawn("worker", "celery", "worker")
        return self

    def _wait_health(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with {p.returncode}; see {self.home / (name + '.log')}")
            try:
                if requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"api-server not healthy after {timeout} s; see {self.home / 'api-server.log'}")

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items() if p.poll() is None}

    def stop(self) -> None:
        for name, p in reversed(list(self.procs.items())):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)
        self.procs.clear()

    def __enter__(self) -> AirflowStack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- REST ------------------------------------------------------------------------------
    def password(self) -> str:
        f = self.home / "simple_auth_manager_passwords.json.generated"
        return json.loads(f.read_text())["admin"]

    def token(self) -> str:
        if self._token is None:
            r = requests.post(f"{self.base_url}/auth/token",
                              json={"username": "admin", "password": self.password()}, timeout=30)
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kw) -> Any:
        r = requests.request(method, f"{self.base_url}/api/v2{path}",
                             headers={"Authorization": f"Bearer {self.token()}"}, timeout=60, **kw)
        if not r.ok:
            raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None

    def wait_dag_parsed(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"/dags/{dag_id}")
                return
            except RuntimeError:
                time.sleep(1)
        raise TimeoutError(f"{dag_id} not parsed after {timeout} s; see {self.home / 'dag-processor.log'}")

    def trigger(self, dag_id: str, logical_date: str, conf: Mapping[str, Any] | None = None) -> str:
        body = {"logical_date": logical_date, "conf": dict(conf or {})}
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 900,
                 on_poll=None) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            if on_poll is not None:
                on_poll()
            time.sleep(1)
        raise TimeoutError(f"run {run_id} still running after {timeout} s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        out = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        return out["task_instances"]

    def clear(self, dag_id: str, run_id: str, task_ids: Iterable[Any], *, downstream: bool = True) -> list:
        body = {"dag_run_id": run_id, "task_ids": list(task_ids), "dry_run": False,
                "only_failed": False, "include_downstream": downstream, "reset_dag_runs": True}
        return self.api("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)

"""Deployment files: docker-compose.yaml, .env, Dockerfile and the compose/ scripts.

The static checks parse the files (PyYAML resolves the ``<<: *anchor`` merges the way
Compose does) and assert specifics, so a dropped healthcheck, a limit that no longer
matches its reservation or an undocumented variable fails here rather than at 06:00 on a
server.  The script checks run the real scripts against the local PostgreSQL and, for
airflow-init, against a real Airflow metadata DB (SQLite) with the real CLI.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import sqlalchemy as sa
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_FILE = ROOT / ".env"
COMPOSE_DIR = ROOT / "compose"
WAREHOUSE_INIT = COMPOSE_DIR / "postgres" / "10-ebay-warehouse.sh"
AIRFLOW_INIT = COMPOSE_DIR / "airflow-init-ebay.sh"
GENERATE_SECRETS = COMPOSE_DIR / "generate-secrets.sh"
PG_ADMIN_URL = os.environ.get(
    "EBAY_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

OFFICIAL_SERVICES = {
    "postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-worker", "airflow-triggerer", "airflow-init", "airflow-cli", "flower",
}
OUR_SERVICES = {"ebay-emulator"}
ONE_SHOT = {"airflow-init", "airflow-cli"}          # exit when done: no healthcheck
AIRFLOW_RUNTIME = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                   "airflow-worker", "airflow-triggerer", "flower"}
AIRFLOW_SERVICES = AIRFLOW_RUNTIME | ONE_SHOT
PROJECT_MOUNTS = {"dags", "plugins", "include", "logs", "config"}

# Budget per concurrently running task: Airflow's ~220 MB task baseline + <= 30 MB for a
# page, rounded up; plus the Celery main process and log server.  Keep in step with the
# comment at the top of docker-compose.yaml and docs/SCALING.md.
TASK_MB = 300
WORKER_OVERHEAD_MB = 350
MIN_HEADROOM = 1.2


# --- helpers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env_lines() -> list[str]:
    return ENV_FILE.read_text().splitlines()


def parse_env(lines: list[str]) -> dict[str, str]:
    """Assignments of a dotenv file (quotes stripped), as Compose reads them."""
    out: dict[str, str] = {}
    for line in lines:
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if m:
            value = m.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            out[m.group(1)] = value
    return out


@pytest.fixture(scope="module")
def env(env_lines) -> dict[str, str]:
    return parse_env(env_lines)


def to_bytes(size: str | int) -> int:
    """Compose byte values: 512m, 4g, 1gb, 2048k, 300 (bytes)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", str(size).strip().lower())
    assert m, f"not a Compose byte value: {size!r}"
    factor = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[m.group(2)]
    return int(float(m.group(1)) * factor)


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


COMPOSE_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


def compose_variables(text: str) -> dict[str, set[str]]:
    """Variables Compose interpolates, with the operators used (``$$`` escapes skipped)."""
    found: dict[str, set[str]] = {}
    for m in COMPOSE_VAR.finditer(text):
        found.setdefault(m.group(1), set()).add(m.group(2) or "")
    return found


SECRET_KEY_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|FERNET|_KEY$", re.I)


def real_looking_secrets(text: str) -> list[str]:
    """Strings in ``text`` that look like real credentials rather than placeholders."""
    hits: list[str] = []
    for token in re.findall(r"[A-Za-z0-9+/_=\-]{24,}", text):
        classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
        if classes == 3:                       # random base64/hex-ish material
            hits.append(token)
    for marker in (r"v\^1\.1#", r"-----BEGIN", r"AKIA[0-9A-Z]{16}", r"AgAAAA[A-Za-z0-9]"):
        hits += re.findall(marker + r"\S*", text)
    return hits


# --- services and layout ---------------------------------------------------------------------

def test_services_are_the_official_layout_plus_the_emulator(services):
    assert set(services) == OFFICIAL_SERVICES | OUR_SERVICES


def test_every_long_running_service_has_a_healthcheck(services):
    for name, svc in services.items():
        if name in ONE_SHOT:
            continue
        hc = svc.get("healthcheck")
        assert hc and not hc.get("disable"), f"{name} has no healthcheck"
        assert hc["test"] and hc["test"] != ["NONE"], name
        assert {"interval", "retries"} <= set(hc), f"{name}: healthcheck needs interval and retries"


@pytest.mark.parametrize("service, needle", [
    ("airflow-apiserver", "http://localhost:8080/api/v2/monitor/health"),
    ("airflow-scheduler", "http://localhost:8974/health"),
    ("airflow-dag-processor", "--job-type DagProcessorJob"),
    ("airflow-triggerer", "--job-type TriggererJob"),
    ("airflow-worker", "inspect ping"),
    ("postgres", "pg_isready"),
    ("redis", "redis-cli ping"),
    ("flower", "http://localhost:5555/"),
    ("ebay-emulator", "8765"),
])
def test_healthchecks_probe_the_right_thing(services, service, needle):
    assert needle in healthcheck_text(services[service])


def test_postgres_healthcheck_waits_for_init_scripts(services):
    # Over TCP: the server listens only on its unix socket while init scripts run, so the
    # warehouse database exists before anything depending on postgres starts.
    assert "-h" in services["postgres"]["healthcheck"]["test"]


def test_scheduler_health_server_is_enabled(services):
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"


def test_one_shot_services_do_not_restart(services):
    for name in ONE_SHOT:
        assert "restart" not in services[name], name


# --- memory ----------------------------------------------------------------------------------

def test_every_service_has_matching_memory_limits_and_a_reservation(services):
    for name, svc in services.items():
        assert "mem_limit" in svc, f"{name}: no mem_limit"
        res = svc.get("deploy", {}).get("resources", {})
        assert "memory" in res.get("limits", {}), f"{name}: no deploy.resources.limits.memory"
        assert "memory" in res.get("reservations", {}), f"{name}: no reservations.memory"
        limit = to_bytes(svc["mem_limit"])
        assert to_bytes(res["limits"]["memory"]) == limit, f"{name}: mem_limit != limits.memory"
        reservation = to_bytes(res["reservations"]["memory"])
        assert 0 < reservation <= limit, f"{name}: reservation must be > 0 and <= limit"


def test_worker_memory_covers_its_concurrency(services):
    worker = services["airflow-worker"]
    concurrency = int(worker["environment"]["AIRFLOW__CELERY__WORKER_CONCURRENCY"])
    need = (concurrency * TASK_MB + WORKER_OVERHEAD_MB) * 1024 ** 2
    limit = to_bytes(worker["mem_limit"])
    assert limit >= need * MIN_HEADROOM, (
        f"worker limit {limit >> 20} MB < {MIN_HEADROOM} x ({concurrency} x {TASK_MB} MB + "
        f"{WORKER_OVERHEAD_MB} MB): raise mem_limit with the concurrency"
    )
    reservation = to_bytes(worker["deploy"]["resources"]["reservations"]["memory"])
    assert reservation >= need, "the worker's reservation should cover its expected peak"


def test_memory_units_parse_as_compose_does():
    assert to_bytes("4g") == to_bytes("4096m") == 4 * 1024 ** 3
    assert to_bytes("512m") == 512 * 1024 ** 2
    assert to_bytes("1gb") == 1024 ** 3
    with pytest.raises(AssertionError):
        to_bytes("4 gigs")


# --- Airflow common settings -----------------------------------------------------------------

def test_airflow_services_mount_the_project(services):
    for name in AIRFLOW_SERVICES:
        mounts = {}
        for vol in services[name]["volumes"]:
            # "${AIRFLOW_PROJ_DIR:-.}/dags:/opt/airflow/dags[:ro]": the source has a colon too.
            m = re.fullmatch(r"(.+?):(/[^:]+)(?::(?:ro|rw))?", vol)
            assert m, vol
            mounts[m.group(2)] = m.group(1)
        for folder in PROJECT_MOUNTS:
            target = f"/opt/airflow/{folder}"
            assert target in mounts, f"{name}: {folder} not mounted"
            assert mounts[target].endswith(f"/{folder}"), f"{name}: {target} <- {mounts[target]}"


def test_common_environment(compose, services):
    common = compose["x-airflow-common"]["environment"]
    assert common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert common["PYTHONPATH"] == "/opt/airflow"
    assert common["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    # The execution API is the API server's, on the port it listens on.
    url = urlsplit(common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (url.hostname, url.port, url.path) == ("airflow-apiserver", 8080, "/execution/")
    assert "8080:8080" in services["airflow-apiserver"]["ports"]
    # Secrets are required (":?"), never defaulted, and come from .env.
    assert common["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW__API_AUTH__JWT_SECRET:?")
    assert common["AIRFLOW__CORE__FERNET_KEY"].startswith("${FERNET_KEY:?")
    # One log level for Airflow and the project.
    assert common["LOG_LEVEL"] == "${LOG_LEVEL:-INFO}"
    assert common["AIRFLOW__LOGGING__LOGGING_LEVEL"] == "${LOG_LEVEL:-INFO}"


def test_every_airflow_service_gets_the_same_secrets_and_executor(compose, services):
    common = compose["x-airflow-common"]["environment"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY",
                    "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "PYTHONPATH"):
            assert env[key] == common[key], f"{name}: {key} differs from the common anchor"
        assert services[name]["user"] in ("${AIRFLOW_UID:-50000}:0", "0:0"), name
        assert services[name]["env_file"] == ["${ENV_FILE_PATH:-.env}"], name


def test_worker_celery_settings(services):
    worker = services["airflow-worker"]
    assert worker["command"] == "celery worker"
    env = worker["environment"]
    assert env["DUMB_INIT_SETSID"] == "0"          # warm shutdown, as upstream
    concurrency = int(env["AIRFLOW__CELERY__WORKER_CONCURRENCY"])
    assert concurrency == 8
    extra = json.loads(env["AIRFLOW__CELERY__EXTRA_CELERY_CONFIG"])
    assert isinstance(extra["worker_max_tasks_per_child"], int)
    assert extra["worker_max_tasks_per_child"] > 0
    kib = extra["worker_max_memory_per_child"]      # Celery's unit is KiB
    assert isinstance(kib, int) and kib > 0
    # A pool child may not grow past its share of the container.
    assert kib * 1024 <= to_bytes(worker["mem_limit"]) // concurrency


def test_image_is_built_from_our_dockerfile(compose):
    common = compose["x-airflow-common"]
    assert common["build"]["dockerfile"] == "Dockerfile"
    assert (ROOT / common["build"].get("context", ".") / "Dockerfile").is_file()
    default = re.fullmatch(r"\$\{AIRFLOW_IMAGE_NAME:-([^}]+)\}", common["image"])
    assert default, common["image"]
    # With `build:` an upstream name would be pulled instead of built (and overwritten).
    assert not default.group(1).startswith("apache/airflow"), default.group(1)


def test_dockerfile_extends_the_pinned_airflow_with_our_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned
    assert f"ARG AIRFLOW_VERSION={pinned.group(1)}" in dockerfile
    assert re.search(rf"ARG AIRFLOW_BASE_IMAGE=apache/airflow:{re.escape(pinned.group(1))}\b",
                     dockerfile)
    assert re.search(r'pip install .*"apache-airflow==\$\{AIRFLOW_VERSION\}" -r /requirements.txt',
                     dockerfile)
    for folder in ("dags", "plugins", "include"):
        assert f"COPY --chown=airflow:0 {folder}/ /opt/airflow/{folder}/" in dockerfile
    assert "ENV PYTHONPATH=/opt/airflow" in dockerfile


def test_warehouse_url_only_where_it_is_needed(compose, services):
    # Runtime services use the ebay_warehouse connection: the code prefers the URL when
    # set, and env_file would pass it in, so the anchor blanks it.
    assert compose["x-airflow-common"]["environment"]["EBAY_WAREHOUSE_URL"] == ""
    for name in AIRFLOW_RUNTIME:
        assert services[name]["environment"]["EBAY_WAREHOUSE_URL"] == "", name
    for name in ("airflow-init", "airflow-cli", "postgres"):
        assert services[name]["environment"]["EBAY_WAREHOUSE_URL"].startswith(
            "${EBAY_WAREHOUSE_URL:-postgresql+psycopg://"), name


def test_airflow_init_runs_the_ebay_setup(services):
    init = services["airflow-init"]
    script = "\n".join(init["command"])
    assert "/entrypoint airflow version || exit 1" in script      # db migrate + admin user
    assert "bash /opt/airflow/compose/airflow-init-ebay.sh || exit 1" in script
    assert any(v.endswith("/compose:/opt/airflow/compose:ro") for v in init["volumes"])
    env = init["environment"]
    assert env["_AIRFLOW_DB_MIGRATE"] == "true" and env["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert env["_AIRFLOW_WWW_USER_PASSWORD"].startswith("${_AIRFLOW_WWW_USER_PASSWORD:?")
    # The setup script creates what the DAG needs.
    setup = AIRFLOW_INIT.read_text()
    assert 'airflow pools set ebay_trading "$pool_slots" "eBay Trading API calls"' in setup
    assert '"ebay_warehouse"' in setup
    assert "include.ebay_trends.cli migrate" in setup
    assert "include.ebay_trends.cli accounts add" in setup


def test_postgres_creates_the_warehouse_database(services):
    pg = services["postgres"]
    assert any(v.startswith("./compose/postgres/10-ebay-warehouse.sh:/docker-entrypoint-initdb.d/")
               for v in pg["volumes"])
    assert "ports" not in pg, "postgres must not be published on the host"
    mode = WAREHOUSE_INIT.stat().st_mode
    assert mode & stat.S_IXUSR, "init script must be executable (else the entrypoint sources it)"


@pytest.mark.parametrize("path", [WAREHOUSE_INIT, AIRFLOW_INIT, GENERATE_SECRETS])
def test_scripts_are_valid_bash(path):
    subprocess.run(["bash", "-n", str(path)], check=True)


# --- profiles and dependencies ---------------------------------------------------------------

def test_emulator_only_in_its_profile(services):
    assert services["ebay-emulator"]["profiles"] == ["emulator"]
    assert services["flower"]["profiles"] == ["flower"]
    assert services["airflow-cli"]["profiles"] == ["debug"]
    for name, svc in services.items():
        if name not in ("ebay-emulator", "flower", "airflow-cli"):
            assert "profiles" not in svc, f"{name} must start without a profile"
        # A profiled service must never be a dependency of an always-on one.
        assert "ebay-emulator" not in (svc.get("depends_on") or {}), name


def test_depends_on_conditions_as_upstream(services):
    for name in AIRFLOW_RUNTIME:
        deps = services[name]["depends_on"]
        assert deps["postgres"] == {"condition": "service_healthy"}, name
        assert deps["redis"] == {"condition": "service_healthy"}, name
        assert deps["airflow-init"] == {"condition": "service_completed_successfully"}, name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"] == {
        "condition": "service_healthy"}
    init_deps = services["airflow-init"]["depends_on"]
    assert set(init_deps) == {"postgres", "redis"}
    assert all(d == {"condition": "service_healthy"} for d in init_deps.values())
    # service_healthy only makes sense for a service that has a healthcheck.
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits on {dep}'s missing healthcheck"


# --- .env ----------------------------------------------------------------------------------------

def test_every_compose_variable_is_documented_in_env(env_lines, env):
    text = COMPOSE_FILE.read_text()
    variables = compose_variables(text)
    assert "FERNET_KEY" in variables and "AIRFLOW_UID" in variables    # the regex works
    documented = set(env) | {
        m.group(1) for line in env_lines if (m := re.match(r"^#\s*([A-Za-z_][A-Za-z0-9_]*)=", line))
    }
    undocumented = sorted(set(variables) - documented)
    assert not undocumented, f"used in docker-compose.yaml, not in .env: {undocumented}"
    # A variable without a default must be a real assignment, not a commented example.
    for name, ops in variables.items():
        if not ops & {"-", ":-"}:
            assert name in env, f"{name} has no default in compose and no value in .env"
    # No unbraced $VAR (Compose would interpolate it silently; $$ escapes are fine).
    assert not re.findall(r"(?<!\$)\$(?![${(])[A-Za-z_]", text)


def test_every_env_variable_is_documented_and_used(env_lines, env):
    compose_text = COMPOSE_FILE.read_text()
    used_by_compose_itself = {"COMPOSE_PROFILES"}
    for i, line in enumerate(env_lines):
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=", line)
        if not m:
            continue
        assert i > 0 and env_lines[i - 1].startswith("#"), f"{m.group(1)} has no comment above it"
        name = m.group(1)
        assert name in used_by_compose_itself or "${" + name in compose_text, (
            f"{name} is set in .env but docker-compose.yaml never uses it")


def test_env_has_the_expected_example_values(env):
    assert env["AIRFLOW_UID"] == "50000"
    assert env["LOG_LEVEL"] in {"DEBUG", "INFO", "WARNING", "ERROR"}
    assert env["EBAY_SYNC_CRON"] == "0 6 * * *"
    assert int(env["EBAY_POOL_SLOTS"]) >= 1
    assert int(env["EBAY_DAILY_CALL_BUDGET"]) == 5000
    assert env["EBAY_EMULATOR"] in {"on", "off"}
    # The emulator switch and the profile go together.
    profiles = {p.strip() for p in env["COMPOSE_PROFILES"].split(",") if p.strip()}
    assert (env["EBAY_EMULATOR"] == "on") == ("emulator" in profiles)
    url = urlsplit(env["EBAY_WAREHOUSE_URL"])
    assert url.scheme == "postgresql+psycopg"
    assert (url.hostname, url.port, url.path) == ("postgres", 5432, "/ebay_warehouse")
    assert url.username == "ebay"
    assert not env["AIRFLOW_IMAGE_NAME"].startswith("apache/airflow")


def test_env_has_no_real_looking_secrets(env):
    text = ENV_FILE.read_text()
    assert real_looking_secrets(text) == []
    for name, value in env.items():
        if SECRET_KEY_NAME.search(name):
            assert value == "" or value.startswith("change-me"), f"{name} looks set: use a placeholder"
    for name, value in env.items():
        if "://" in value:
            password = urlsplit(value).password or ""
            assert re.fullmatch(r"[a-z]{0,12}|change-me", password), f"{name} carries a real-looking password"


def test_secret_detector_flags_real_credentials():
    fernet = base64.urlsafe_b64encode(bytes(range(32))).decode()
    assert real_looking_secrets(f"FERNET_KEY={fernet}")
    assert real_looking_secrets("refresh_token=v^1.1#i^1#r^1#f^0#p^3#I^3#t^Ul4xMF8")
    assert real_looking_secrets(f"JWT={secrets.token_urlsafe(64)}")
    assert real_looking_secrets("AKIAABCDEFGHIJKLMNOP")
    assert not real_looking_secrets("_AIRFLOW_WWW_USER_PASSWORD=change-me\nEBAY_SYNC_CRON=\"0 6 * * *\"")


# --- generate-secrets.sh ---------------------------------------------------------------------------

def test_generate_secrets_fills_only_empty_values(tmp_path):
    from cryptography.fernet import Fernet

    target = tmp_path / "prod.env"
    shutil.copy(ENV_FILE, target)
    before = parse_env(target.read_text().splitlines())
    assert before["FERNET_KEY"] == "" and before["AIRFLOW__API_AUTH__JWT_SECRET"] == ""

    subprocess.run(["bash", str(GENERATE_SECRETS), str(target)], check=True, capture_output=True)
    after = parse_env(target.read_text().splitlines())
    token = Fernet(after["FERNET_KEY"].encode()).encrypt(b"refresh-token")   # a valid key
    assert Fernet(after["FERNET_KEY"].encode()).decrypt(token) == b"refresh-token"
    assert len(after["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64
    assert {k: v for k, v in after.items() if k not in ("FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET")} == {
        k: v for k, v in before.items() if k not in ("FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET")}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    # A second run keeps the values: a new Fernet key would orphan stored connections.
    out = subprocess.run(["bash", str(GENERATE_SECRETS), str(target)], check=True,
                         capture_output=True, text=True).stdout
    assert parse_env(target.read_text().splitlines()) == after
    assert "FERNET_KEY already set, kept" in out


def test_generate_secrets_rejects_a_file_without_the_lines(tmp_path):
    target = tmp_path / "bad.env"
    target.write_text("LOG_LEVEL=INFO\n")
    proc = subprocess.run(["bash", str(GENERATE_SECRETS), str(target)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "FERNET_KEY" in proc.stderr


# --- compose/postgres/10-ebay-warehouse.sh against the real PostgreSQL ------------------------------

def _psql_env() -> dict[str, str]:
    admin = sa.make_url(PG_ADMIN_URL)
    env = {**os.environ, "PGHOST": admin.host or "127.0.0.1", "PGPORT": str(admin.port or 5432),
           "POSTGRES_USER": admin.username or "postgres", "POSTGRES_DB": admin.database or "postgres"}
    if admin.password:
        env["PGPASSWORD"] = admin.password
    return env


def _scram_matches(stored: str, password: str) -> bool:
    """Whether a pg_authid SCRAM-SHA-256 verifier was made from ``password``."""
    m = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", stored)
    assert m, "not a SCRAM verifier"
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(m.group(2)),
                                 int(m.group(1)))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hashlib.sha256(client_key).digest() == base64.b64decode(m.group(3))


needs_psql = pytest.mark.skipif(shutil.which("psql") is None, reason="psql client not installed")


@needs_psql
def test_warehouse_init_script_creates_role_and_database():
    suffix = secrets.token_hex(4)
    role, database, password = f"ebay_t_{suffix}", f"ebay wh-{suffix}", "p@ss+w/rd"
    url = (f"postgresql+psycopg://{role}:{password.replace('@', '%40').replace('/', '%2F')}"
           f"@127.0.0.1:5432/{database.replace(' ', '%20')}")
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    env = {**_psql_env(), "EBAY_WAREHOUSE_URL": url}
    try:
        for _ in range(2):                                   # idempotent
            proc = subprocess.run(["bash", str(WAREHOUSE_INIT)], env=env, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
            assert password not in proc.stdout + proc.stderr
        with admin.connect() as c:
            owner = c.execute(sa.text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :d"),
                              {"d": database}).scalar_one()
            verifier = c.execute(sa.text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"),
                                 {"r": role}).scalar_one()
            public_connect = c.execute(sa.text("SELECT has_database_privilege('public', :d, 'CONNECT')"),
                                       {"d": database}).scalar_one()
        assert owner == role
        assert _scram_matches(verifier, password)             # percent-decoded like SQLAlchemy
        assert not _scram_matches(verifier, "p%40ss+w%2Frd")
        assert public_connect is False
        # The owner can create the ebay schema the migrations need.
        owner_engine = sa.create_engine(url)
        with owner_engine.begin() as c:
            c.execute(sa.text("CREATE SCHEMA ebay"))
        owner_engine.dispose()
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            c.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


@needs_psql
def test_warehouse_init_script_leaves_an_external_warehouse_alone():
    role = f"ebay_t_{secrets.token_hex(4)}"
    env = {**_psql_env(), "EBAY_WAREHOUSE_URL": f"postgresql+psycopg://{role}:x@db.example.com:5432/wh"}
    # Sourced (as the postgres entrypoint does with non-executable scripts) it must not
    # end the caller's shell.
    proc = subprocess.run(["bash", "-c", f"set -e; source '{WAREHOUSE_INIT}'; echo caller-continues"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "is external" in proc.stdout and "caller-continues" in proc.stdout
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar_one() == 0
    admin.dispose()


def test_warehouse_init_script_rejects_a_bad_url_without_printing_it():
    env = {**os.environ, "EBAY_WAREHOUSE_URL": "mysql://u:hunter2@postgres/wh"}
    proc = subprocess.run(["bash", str(WAREHOUSE_INIT)], env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "hunter2" not in proc.stdout + proc.stderr


# --- compose/airflow-init-ebay.sh against a real Airflow metadata DB ------------------------------

@pytest.fixture
def airflow_home(tmp_path):
    """A migrated Airflow metadata DB (SQLite) and the environment the CLI needs."""
    from cryptography.fernet import Fernet

    home = tmp_path / "airflow"
    home.mkdir()
    bindir = str(Path(sys.executable).parent)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    subprocess.run([str(Path(bindir) / "airflow"), "db", "migrate"], env=env, check=True,
                   capture_output=True)
    return env


def _airflow_state(env: dict[str, str]) -> dict:
    """Pool and connections straight from the metadata DB (no Airflow start-up per read).

    Connection passwords and extras are Fernet-encrypted there; decrypting them with the
    key the test gave Airflow also proves they were stored encrypted.
    """
    import sqlite3

    from cryptography.fernet import Fernet

    fernet = Fernet(env["AIRFLOW__CORE__FERNET_KEY"].encode())
    db = sqlite3.connect(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))
    try:
        slots, description = db.execute(
            "SELECT slots, description FROM slot_pool WHERE pool = 'ebay_trading'").fetchone()
        conns = {}
        for conn_id, conn_type, host, schema, login, extra, extra_encrypted in db.execute(
                "SELECT conn_id, conn_type, host, schema, login, extra, is_extra_encrypted FROM connection"):
            if extra and extra_encrypted:
                extra = fernet.decrypt(extra.encode()).decode()
            conns[conn_id] = {"conn_type": conn_type, "host": host, "schema": schema, "login": login,
                              "extra": json.loads(extra) if extra else {},
                              "extra_encrypted": bool(extra_encrypted)}
    finally:
        db.close()
    return {"slots": slots, "description": description, "conns": conns}


@pytest.mark.airflow
@pytest.mark.skipif(not (ROOT / "include/ebay_trends/cli.py").exists(), reason="warehouse CLI not built yet")
def test_airflow_init_script_sets_up_pool_connections_and_demo_accounts(airflow_home, fresh_pg_url):
    env = {**airflow_home, "EBAY_WAREHOUSE_URL": fresh_pg_url, "EBAY_EMULATOR": "on",
           "EBAY_POOL_SLOTS": "5"}
    proc = subprocess.run(["bash", str(AIRFLOW_INIT)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "emulator-client-secret" not in proc.stdout + proc.stderr

    state = _airflow_state(env)
    assert state["slots"] == 5 and state["description"] == "eBay Trading API calls"
    wh = state["conns"]["ebay_warehouse"]
    url = sa.make_url(fresh_pg_url)
    assert (wh["conn_type"], wh["host"], wh["schema"], wh["login"]) == (
        "postgres", url.host, url.database, url.username)
    for seller in ("seller_a", "seller_b"):
        conn = state["conns"][f"ebay_{seller}"]
        assert conn["conn_type"] == "ebay" and conn["login"] == "emulator-client-id"
        assert conn["extra_encrypted"] is True          # refresh tokens encrypted at rest
        assert conn["extra"] == {"refresh_token": f"emu-refresh-{seller}", "marketplace_id": "EBAY_US",
                                 "environment": "sandbox", "api_base_url": "http://ebay-emulator:8765",
                                 "account_id": seller}
    engine = sa.create_engine(fresh_pg_url)
    with engine.begin() as c:
        rows = c.execute(sa.text("SELECT account_id, conn_id, marketplace_id, active FROM ebay.accounts "
                                 "ORDER BY account_id")).all()
        assert [tuple(r) for r in rows] == [("seller_a", "ebay_seller_a", "EBAY_US", True),
                                            ("seller_b", "ebay_seller_b", "EBAY_US", True)]
        # An operator disables an account; a restart must not re-enable it.
        c.execute(sa.text("UPDATE ebay.accounts SET active = false WHERE account_id = 'seller_b'"))

    env["EBAY_POOL_SLOTS"] = "3"
    proc = subprocess.run(["bash", str(AIRFLOW_INIT)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _airflow_state(env)["slots"] == 3
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT active FROM ebay.accounts WHERE account_id = 'seller_b'")
                         ).scalar_one() is False
    engine.dispose()


def test_airflow_init_script_rejects_bad_settings(tmp_path):
    env = {**os.environ, "EBAY_WAREHOUSE_URL": "postgresql://x@127.0.0.1/x", "EBAY_EMULATOR": "maybe"}
    proc = subprocess.run(["bash", str(AIRFLOW_INIT)], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "EBAY_EMULATOR must be on or off" in proc.stderr
    env = {**env, "EBAY_EMULATOR": "off", "EBAY_POOL_SLOTS": "0"}
    proc = subprocess.run(["bash", str(AIRFLOW_INIT)], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "EBAY_POOL_SLOTS" in proc.stderr
    env = {k: v for k, v in env.items() if k != "EBAY_WAREHOUSE_URL"}
    proc = subprocess.run(["bash", str(AIRFLOW_INIT)], env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "EBAY_WAREHOUSE_URL" in proc.stderr

"""The PostgreSQL warehouse: engine, migrations, table objects, account CRUD.

SQLAlchemy 2 Core only (no ORM: no identity map to grow with the item count).
The ``Table`` objects below mirror ``migrations/*.sql``; the SQL files are the
source of truth and ``tests/ebay_trends/test_warehouse.py`` checks the two agree.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Connection, Engine

from include.ebay_trends.settings import SITE_IDS, WAREHOUSE_SCHEMA

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same in every worker.  ("ebaytrnd" as int64.)
MIGRATION_LOCK_KEY = 0x6562617974726E64
_MIGRATION_NAME = re.compile(r"^(\d{4})_([A-Za-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """A migration file is missing, misnamed or was edited after it was applied."""


# --------------------------------------------------------------------------- engine
def make_engine(url: str, **kwargs) -> Engine:
    """Engine on the psycopg 3 driver; ``postgresql://`` URLs are upgraded to it.

    ``pool_pre_ping`` because page tasks may hold an engine across a long GetItem
    phase and PostgreSQL or a proxy may have dropped the idle connection meanwhile.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 2)
    kwargs.setdefault("max_overflow", 4)
    return sa.create_engine(url, **kwargs)


# --------------------------------------------------------------------------- migrations
@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def list_migrations(directory: Path | str = MIGRATIONS_DIR) -> list[Migration]:
    """``NNNN_name.sql`` files in version order; duplicate versions are an error."""
    found: dict[int, Migration] = {}
    for path in sorted(Path(directory).glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise MigrationError(f"migration file name must be NNNN_name.sql: {path.name}")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"two migrations with version {version}: {found[version].path.name}, {path.name}")
        found[version] = Migration(version, path.stem, path)
    return [found[v] for v in sorted(found)]


_SCHEMA_VERSION_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {WAREHOUSE_SCHEMA};
CREATE TABLE IF NOT EXISTS {WAREHOUSE_SCHEMA}.schema_version (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


def _run_script(conn: Connection, sql: str) -> None:
    """Run a multi-statement SQL script inside the connection's transaction.

    Goes to the DB-API cursor without parameters so psycopg sends the text as is:
    several statements in one execute, and ``%`` not taken for a placeholder.
    """
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(sql)
    finally:
        cur.close()


def migrate(engine: Engine, directory: Path | str = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations in order; return the names applied (empty = up to date).

    Safe with several workers at once: a session-level advisory lock serialises
    them, and each worker re-reads ``schema_version`` after acquiring it.  Each file
    runs in its own transaction together with its ``schema_version`` row, so a
    failing file leaves no half-applied state (PostgreSQL DDL is transactional).
    An applied file whose checksum changed raises ``MigrationError``.
    """
    migrations = list_migrations(directory)
    applied: list[str] = []
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        conn.commit()
        try:
            with conn.begin():
                _run_script(conn, _SCHEMA_VERSION_DDL)
            with conn.begin():
                done = {
                    row.version: row
                    for row in conn.execute(
                        sa.text(f"SELECT version, name, checksum FROM {WAREHOUSE_SCHEMA}.schema_version")
                    )
                }
            for mig in migrations:
                if mig.version in done:
                    if done[mig.version].checksum != mig.checksum:
                        raise MigrationError(
                            f"migration {mig.name} was changed after it was applied; add a new file instead"
                        )
                    continue
                with conn.begin():
                    try:
                        _run_script(conn, mig.sql)
                    except Exception as exc:  # the driver's error: name the file, roll back
                        raise MigrationError(f"migration {mig.name} failed: {exc}") from exc
                    conn.execute(
                        sa.text(
                            f"INSERT INTO {WAREHOUSE_SCHEMA}.schema_version (version, name, checksum) "
                            "VALUES (:v, :n, :c)"
                        ),
                        {"v": mig.version, "n": mig.name, "c": mig.checksum},
                    )
                applied.append(mig.name)
        finally:
            # A failed transaction must be closed before the unlock can run.
            if conn.in_transaction():
                conn.rollback()
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
    return applied


def schema_versions(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [
            r[0]
            for r in conn.execute(
                sa.text(f"SELECT version FROM {WAREHOUSE_SCHEMA}.schema_version ORDER BY version")
            )
        ]


# --------------------------------------------------------------------------- tables
metadata = sa.MetaData(schema=WAREHOUSE_SCHEMA)
_tz = sa.DateTime(timezone=True)

accounts = sa.Table(
    "accounts", metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("marketplace_id", sa.Text, nullable=False),
    sa.Column("site_id", sa.Text, nullable=False),
    sa.Column("conn_id", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("last_sync_run_id", sa.Text),
    sa.Column("last_sync_at", _tz),
    sa.Column("last_sync_date", sa.Date),
    sa.Column("created_at", _tz, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", _tz, nullable=False, server_default=sa.func.now()),
)

listings = sa.Table(
    "listings", metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("item_id", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("sku", sa.Text),
    sa.Column("category_id", sa.Text),
    sa.Column("category_name", sa.Text),
    sa.Column("listing_type", sa.Text),
    sa.Column("listing_status", sa.Text),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column("current_price", sa.Numeric(14, 2), nullable=False),
    sa.Column("quantity", sa.Integer),
    sa.Column("quantity_available", sa.Integer),
    sa.Column("quantity_sold", sa.Integer),
    sa.Column("watch_count", sa.Integer),
    sa.Column("bid_count", sa.Integer),
    sa.Column("gallery_url", sa.Text),
    sa.Column("view_item_url", sa.Text),
    sa.Column("start_time", _tz),
    sa.Column("end_time", _tz),
    sa.Column("details_fetched_at", _tz),
    sa.Column("first_seen_date", sa.Date, nullable=False),
    sa.Column("last_seen_date", sa.Date, nullable=False),
    sa.Column("ended_date", sa.Date),
    sa.Column("updated_at", _tz, nullable=False, server_default=sa.func.now()),
)

listing_snapshots = sa.Table(
    "listing_snapshots", metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("item_id", sa.Text, primary_key=True),
    sa.Column("snapshot_date", sa.Date, primary_key=True),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column("price", sa.Numeric(14, 2), nullable=False),
    sa.Column("quantity_available", sa.Integer),
    sa.Column("quantity_sold", sa.Integer),
    sa.Column("watch_count", sa.Integer),
    sa.Column("bid_count", sa.Integer),
    sa.Column("hit_count", sa.Integer),
    sa.Column("views", sa.Integer),
    sa.Column("impressions", sa.Integer),
    sa.Column("click_through_rate", sa.Numeric(9, 4)),
    sa.Column("conversion_rate", sa.Numeric(9, 4)),
    sa.Column("transactions", sa.Integer),
    sa.Column("traffic_date", sa.Date),
    sa.Column("run_id", sa.Text),
    sa.Column("synced_at", _tz, nullable=False, server_default=sa.func.now()),
)

listing_details = sa.Table(
    "listing_details", metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("item_id", sa.Text, primary_key=True),
    sa.Column("category_id", sa.Text),
    sa.Column("category_name", sa.Text),
    sa.Column("listing_status", sa.Text),
    sa.Column("end_time", _tz),
    sa.Column("hit_count", sa.Integer),
    sa.Column("fetched_at", _tz, nullable=False),
    sa.Column("fetched_date", sa.Date, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
)

sync_pages = sa.Table(
    "sync_pages", metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("page", sa.Integer, primary_key=True),
    sa.Column("snapshot_date", sa.Date, nullable=False),
    sa.Column("pages", sa.Integer),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("items_seen", sa.Integer, nullable=False),
    sa.Column("items_written", sa.Integer, nullable=False),
    sa.Column("items_failed", sa.Integer, nullable=False),
    sa.Column("details_deferred", sa.Integer, nullable=False),
    sa.Column("traffic_rows", sa.Integer, nullable=False),
    sa.Column("api_calls", pg.JSONB, nullable=False),
    sa.Column("duration_s", sa.Numeric(10, 3)),
    sa.Column("peak_rss_mb", sa.Numeric(10, 1)),
    sa.Column("error_summary", sa.Text),
    sa.Column("first_item_id", sa.Text),
    sa.Column("last_item_id", sa.Text),
    sa.Column("started_at", _tz, nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", _tz),
)

item_errors = sa.Table(
    "item_errors", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("page", sa.Integer, nullable=False),
    sa.Column("snapshot_date", sa.Date, nullable=False),
    sa.Column("item_id", sa.Text),
    sa.Column("error_class", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("raw_excerpt", sa.Text),
    sa.Column("created_at", _tz, nullable=False, server_default=sa.func.now()),
)

api_calls = sa.Table(
    "api_calls", metadata,
    sa.Column("application", sa.Text, primary_key=True),
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("call_name", sa.Text, primary_key=True),
    sa.Column("ebay_day", sa.Date, primary_key=True),
    sa.Column("calls", sa.Integer, nullable=False),
    sa.Column("updated_at", _tz, nullable=False, server_default=sa.func.now()),
)

# migrations/0020_trend_inputs.sql: written by trends.compute_trends (what each date was computed from)
trend_inputs = sa.Table(
    "trend_inputs", metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("trend_date", sa.Date, primary_key=True),
    sa.Column("window_rows", sa.BigInteger, nullable=False),
    sa.Column("window_traffic", sa.BigInteger, nullable=False),
    sa.Column("window_hash", sa.Numeric, nullable=False),
    sa.Column("before_rows", sa.BigInteger, nullable=False),
    sa.Column("before_hash", sa.Numeric, nullable=False),
    sa.Column("late_traffic_rows", sa.BigInteger, nullable=False),
    sa.Column("late_traffic_hash", sa.Numeric, nullable=False),
    sa.Column("listing_rows", sa.BigInteger, nullable=False),
    sa.Column("listing_hash", sa.Numeric, nullable=False),
    sa.Column("params_hash", sa.Text, nullable=False),
    sa.Column("computed_at", _tz, nullable=False, server_default=sa.func.now()),
)

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("checksum", sa.Text, nullable=False),
    sa.Column("applied_at", _tz, nullable=False, server_default=sa.func.now()),
)

# The arbiter of item_errors' ON CONFLICT: the expression index item_errors_dedup_idx.
ITEM_ERRORS_CONFLICT = (
    item_errors.c.run_id,
    item_errors.c.account_id,
    item_errors.c.page,
    sa.func.coalesce(item_errors.c.item_id, sa.literal_column("''")),
    item_errors.c.error_class,
)


# --------------------------------------------------------------------------- accounts
def upsert_account(engine: Engine, account_id: str, *, conn_id: str, marketplace_id: str = "EBAY_US",
                   active: bool = True) -> dict:
    """Create or update an account; the site id is derived from the marketplace."""
    if marketplace_id not in SITE_IDS:
        raise ValueError(f"unknown marketplace {marketplace_id!r}; known: {', '.join(sorted(SITE_IDS))}")
    values = {
        "account_id": account_id,
        "marketplace_id": marketplace_id,
        "site_id": SITE_IDS[marketplace_id],
        "conn_id": conn_id,
        "active": active,
    }
    stmt = pg.insert(accounts).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[accounts.c.account_id],
        set_={
            "marketplace_id": stmt.excluded.marketplace_id,
            "site_id": stmt.excluded.site_id,
            "conn_id": stmt.excluded.conn_id,
            "active": stmt.excluded.active,
            "updated_at": sa.func.now(),
        },
    ).returning(*accounts.c)
    with engine.begin() as conn:
        return dict(conn.execute(stmt).one()._mapping)


def set_account_active(engine: Engine, account_id: str, active: bool) -> bool:
    """Enable/disable an account; False when it does not exist."""
    with engine.begin() as conn:
        res = conn.execute(
            sa.update(accounts)
            .where(accounts.c.account_id == account_id)
            .values(active=active, updated_at=sa.func.now())
        )
        return res.rowcount == 1


def get_account(engine: Engine, account_id: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.account_id == account_id)).first()
        return dict(row._mapping) if row else None


def list_accounts(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(accounts).order_by(accounts.c.account_id))]


def active_accounts(engine: Engine, only: list[str] | None = None) -> list[dict]:
    """Active accounts ordered by id, optionally restricted to ``only``.

    Names in ``only`` that are unknown or disabled are simply not returned; the
    caller (the DAG) decides whether that is an error.
    """
    q = sa.select(accounts).where(accounts.c.active.is_(True)).order_by(accounts.c.account_id)
    if only:
        q = q.where(accounts.c.account_id.in_(list(only)))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]

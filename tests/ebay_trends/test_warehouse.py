"""Warehouse: engine, migrations (idempotent, concurrent, upgrade), table objects, accounts."""
from __future__ import annotations

import shutil
import threading

import pytest
import sqlalchemy as sa

from include.ebay_trends import warehouse
from include.ebay_trends.warehouse import MigrationError


@pytest.fixture
def engine(fresh_pg_url):
    eng = warehouse.make_engine(fresh_pg_url)
    yield eng
    eng.dispose()


def test_make_engine_uses_psycopg3_and_pre_ping(fresh_pg_url):
    plain = fresh_pg_url.replace("postgresql+psycopg://", "postgresql://")
    eng = warehouse.make_engine(plain)
    try:
        assert eng.dialect.driver == "psycopg"
        assert eng.pool._pre_ping is True
        with eng.connect() as c:
            assert c.execute(sa.text("select 1")).scalar() == 1
    finally:
        eng.dispose()


ALL = [m.name for m in warehouse.list_migrations()]
VERSIONS = [m.version for m in warehouse.list_migrations()]


def test_migrate_fresh_then_noop(engine):
    assert ALL[0] == "0001_initial"
    assert warehouse.migrate(engine) == ALL
    assert warehouse.migrate(engine) == []
    assert warehouse.schema_versions(engine) == VERSIONS
    with engine.connect() as c:
        row = c.execute(sa.text("select version, name, checksum, applied_at from ebay.schema_version "
                                "where version = 1")).one()
    assert row.name == "0001_initial" and len(row.checksum) == 64 and row.applied_at.tzinfo is not None
    tables = set(sa.inspect(engine).get_table_names(schema="ebay"))
    assert {"accounts", "listings", "listing_snapshots", "sync_pages", "item_errors", "api_calls",
            "schema_version"} <= tables


def test_table_objects_match_the_sql_schema(engine):
    """The Core Table objects used for upserts mirror the migrated tables column by column."""
    warehouse.migrate(engine)
    insp = sa.inspect(engine)
    for table in warehouse.metadata.sorted_tables:
        db_cols = {c["name"]: c for c in insp.get_columns(table.name, schema="ebay")}
        assert set(db_cols) == set(table.c.keys()), table.name
        for col in table.c:
            assert db_cols[col.name]["nullable"] == col.nullable or col.primary_key, (table.name, col.name)
        pk = insp.get_pk_constraint(table.name, schema="ebay")["constrained_columns"]
        assert set(pk) == {c.name for c in table.primary_key}, table.name


def test_concurrent_migrations_are_serialised(engine, fresh_pg_url):
    """Two workers migrating at once: one applies, the other waits and finds nothing to do."""
    results: list = []
    errors: list = []
    barrier = threading.Barrier(4)

    def worker():
        eng = warehouse.make_engine(fresh_pg_url)
        try:
            barrier.wait()
            results.append(warehouse.migrate(eng))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(results, key=len) == [[], [], [], ALL]
    assert warehouse.schema_versions(engine) == VERSIONS


def test_upgrade_from_version_1(engine, tmp_path):
    """A database at version 1 with data is upgraded by a later file, data kept."""
    v1 = tmp_path / "migrations"
    v1.mkdir()
    shutil.copy(warehouse.MIGRATIONS_DIR / "0001_initial.sql", v1)
    assert warehouse.migrate(engine, v1) == ["0001_initial"]
    warehouse.upsert_account(engine, "seller_a", conn_id="ebay_seller_a")

    (v1 / "0002_account_note.sql").write_text(
        "ALTER TABLE ebay.accounts ADD COLUMN note text NOT NULL DEFAULT '100%';\n"
        "CREATE INDEX accounts_note_idx ON ebay.accounts (note);\n"
    )
    assert warehouse.migrate(engine, v1) == ["0002_account_note"]
    assert warehouse.migrate(engine, v1) == []
    assert warehouse.schema_versions(engine) == [1, 2]
    with engine.connect() as c:
        assert c.execute(sa.text("select note from ebay.accounts where account_id='seller_a'")).scalar() == "100%"


def test_failed_migration_leaves_no_trace_and_edited_file_is_refused(engine, tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    shutil.copy(warehouse.MIGRATIONS_DIR / "0001_initial.sql", d)
    (d / "0002_broken.sql").write_text("ALTER TABLE ebay.accounts ADD COLUMN x int;\nSELECT no_such_fn();\n")
    with pytest.raises(MigrationError, match="0002_broken failed"):
        warehouse.migrate(engine, d)
    assert warehouse.schema_versions(engine) == [1]
    cols = {c["name"] for c in sa.inspect(engine).get_columns("accounts", schema="ebay")}
    assert "x" not in cols                       # the failed file's DDL was rolled back
    (d / "0002_broken.sql").unlink()
    (d / "0001_initial.sql").write_text((d / "0001_initial.sql").read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        warehouse.migrate(engine, d)


def test_bad_migration_names_are_rejected(tmp_path):
    (tmp_path / "1_init.sql").write_text("select 1;")
    with pytest.raises(MigrationError, match="NNNN_name.sql"):
        warehouse.list_migrations(tmp_path)


def test_account_crud(engine):
    warehouse.migrate(engine)
    row = warehouse.upsert_account(engine, "seller_b", conn_id="ebay_seller_b", marketplace_id="EBAY_GB")
    assert (row["site_id"], row["active"]) == ("3", True)
    warehouse.upsert_account(engine, "seller_a", conn_id="ebay_seller_a")
    warehouse.upsert_account(engine, "seller_c", conn_id="c", marketplace_id="EBAY_DE")
    assert [a["account_id"] for a in warehouse.active_accounts(engine)] == ["seller_a", "seller_b", "seller_c"]

    assert warehouse.set_account_active(engine, "seller_b", False) is True
    assert [a["account_id"] for a in warehouse.active_accounts(engine)] == ["seller_a", "seller_c"]
    assert [a["account_id"] for a in warehouse.active_accounts(engine, only=["seller_b", "seller_c"])] == ["seller_c"]
    assert warehouse.set_account_active(engine, "nobody", True) is False

    # upsert updates in place (marketplace change re-derives the site id)
    row = warehouse.upsert_account(engine, "seller_a", conn_id="other", marketplace_id="EBAY_DE")
    assert (row["conn_id"], row["site_id"]) == ("other", "77")
    assert len(warehouse.list_accounts(engine)) == 3
    with pytest.raises(ValueError, match="unknown marketplace"):
        warehouse.upsert_account(engine, "x", conn_id="x", marketplace_id="EBAY_XX")

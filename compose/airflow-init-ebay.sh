#!/usr/bin/env bash
# ebay-trends part of `airflow-init` (docker-compose.yaml), run after the metadata DB is
# migrated.  Idempotent: it runs on every `docker compose up`.
#
#   1. pool `ebay_trading` with EBAY_POOL_SLOTS slots (default 8);
#   2. connection `ebay_warehouse` from EBAY_WAREHOUSE_URL (overwritten every time: the
#      URL in .env is the one source of truth -- edit .env, not the connection);
#   3. warehouse schema `ebay` migrated (include.ebay_trends.cli migrate);
#   4. EBAY_EMULATOR=on only: connections `ebay_seller_a` / `ebay_seller_b` pointing at the
#      emulator with its demo credentials, and the two accounts registered in ebay.accounts.
#      Both are created only when missing, so an operator's later changes (a disabled
#      account, an edited connection) survive restarts.  (`accounts add` is an upsert
#      that would re-enable a disabled account, hence the existence check.)
#
# Needs: the `airflow` CLI and `python` with the project importable (PYTHONPATH = project
# root).  Prints no secret: connection files are written to a private temporary directory.
set -euo pipefail

: "${EBAY_WAREHOUSE_URL:?EBAY_WAREHOUSE_URL is not set}"
pool_slots="${EBAY_POOL_SLOTS:-8}"
emulator_url="${EBAY_EMULATOR_URL:-http://ebay-emulator:8765}"
# The emulator's default catalogue (docs/DESIGN.md, "Emulator conventions").
demo_sellers=(seller_a seller_b)

case "${EBAY_EMULATOR:-off}" in
    on|true|1|yes) emulator=on ;;
    off|false|0|no|"") emulator=off ;;
    *) echo "airflow-init-ebay: EBAY_EMULATOR must be on or off" >&2; exit 2 ;;
esac
if ! [[ $pool_slots =~ ^[1-9][0-9]*$ ]]; then
    echo "airflow-init-ebay: EBAY_POOL_SLOTS must be a positive integer" >&2
    exit 2
fi

umask 077
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

echo "airflow-init-ebay: pool ebay_trading = $pool_slots slots"
airflow pools set ebay_trading "$pool_slots" "eBay Trading API calls" >/dev/null

# Airflow connection URIs have no SQLAlchemy driver suffix (postgresql+psycopg:// ->
# postgresql://); Airflow maps the postgresql scheme to conn_type postgres.
echo "airflow-init-ebay: connection ebay_warehouse (from EBAY_WAREHOUSE_URL)"
python - "$workdir/warehouse.json" <<'PY'
import json, os, re, sys
uri = re.sub(r"^postgres(ql)?\+[A-Za-z0-9_]+://", "postgresql://", os.environ["EBAY_WAREHOUSE_URL"])
with open(sys.argv[1], "w") as fh:
    json.dump({"ebay_warehouse": uri}, fh)
PY
airflow connections import --overwrite "$workdir/warehouse.json"

echo "airflow-init-ebay: migrating the warehouse schema"
python -m include.ebay_trends.cli migrate --url "$EBAY_WAREHOUSE_URL"

if [[ $emulator == off ]]; then
    echo "airflow-init-ebay: EBAY_EMULATOR=off: no demo accounts"
    exit 0
fi

# One import for all demo connections (each `airflow` call costs seconds of start-up).
# Demo credentials exist only in the emulator (docs/DESIGN.md).  "sandbox" so that nothing
# could reach production eBay even without the api_base_url override.
echo "airflow-init-ebay: demo connections for ${demo_sellers[*]} -> $emulator_url (kept if they exist)"
python - "$workdir/demo.json" "$emulator_url" "${demo_sellers[@]}" <<'PY'
import json, sys
path, base_url, sellers = sys.argv[1], sys.argv[2], sys.argv[3:]
conns = {
    f"ebay_{seller}": {
        "conn_type": "ebay",
        "description": "Demo seller on the local eBay emulator",
        "login": "emulator-client-id",
        "password": "emulator-client-secret",
        "extra": json.dumps({
            "refresh_token": f"emu-refresh-{seller}",
            "marketplace_id": "EBAY_US",
            "environment": "sandbox",
            "api_base_url": base_url,
            "account_id": seller,
        }),
    }
    for seller in sellers
}
with open(path, "w") as fh:
    json.dump(conns, fh)
PY
# Without --overwrite an existing connection is left as it is.
airflow connections import "$workdir/demo.json"

for seller in "${demo_sellers[@]}"; do
    conn_id="ebay_${seller}"
    # 0 = registered, 3 = not registered, anything else = the warehouse could not be read.
    rc=0
    python - "$seller" <<'PY' || rc=$?
import os, sys
import sqlalchemy as sa
engine = sa.create_engine(os.environ["EBAY_WAREHOUSE_URL"])
with engine.connect() as conn:
    found = conn.execute(sa.text("SELECT 1 FROM ebay.accounts WHERE account_id = :a"),
                         {"a": sys.argv[1]}).first()
engine.dispose()
sys.exit(0 if found else 3)
PY
    case $rc in
        0) echo "airflow-init-ebay: account $seller already registered (left as it is)" ;;
        3)
            echo "airflow-init-ebay: registering account $seller"
            python -m include.ebay_trends.cli accounts add "$seller" --url "$EBAY_WAREHOUSE_URL" \
                --marketplace EBAY_US --conn-id "$conn_id"
            ;;
        *) echo "airflow-init-ebay: cannot read ebay.accounts" >&2; exit 1 ;;
    esac
done
echo "airflow-init-ebay: done"

#!/usr/bin/env bash
# Creates the warehouse role and database named in EBAY_WAREHOUSE_URL next to Airflow's
# metadata database, so the warehouse has its own owner and can later move to its own
# server by changing one URL.
#
# The postgres image runs it once, when the data volume is first initialised
# (/docker-entrypoint-initdb.d).  It is idempotent (and re-syncs the role's password with
# the URL), so after changing EBAY_WAREHOUSE_URL on an existing volume rerun it by hand:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/10-ebay-warehouse.sh
#
# Inputs: EBAY_WAREHOUSE_URL (postgresql[+driver]://user[:password]@host[:port]/database,
# password percent-encoded as in any SQLAlchemy URL); POSTGRES_USER / POSTGRES_DB name the
# superuser connection (psql's PG* variables apply as usual).
# A URL whose host is not this server (postgres, localhost, 127.0.0.1) is an external
# warehouse: nothing is created.

# SQL run by psql.  Values arrive as psql variables and are quoted by format(%I, %L): no
# SQL injection through the URL.  The password comes from the environment (\getenv,
# psql >= 15), never from a command line.
EBAY_WAREHOUSE_SQL=$(cat <<'SQL'
\getenv wh_password EBAY_WH_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'wh_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'wh_user')\gexec
-- An empty password in the URL means "no password" (trust or peer authentication).
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'wh_user', NULLIF(:'wh_password', ''))\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'wh_db', :'wh_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'wh_db')\gexec
-- The warehouse is private to its owner: other roles (except superusers) cannot connect.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'wh_db')\gexec
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'wh_db', :'wh_user')\gexec
SQL
)

# The body runs in a subshell function: the postgres entrypoint *sources* init scripts
# that are not executable, and an `exit` or `set -e` must not leak into its shell then.
ebay_warehouse_init() (
    set -euo pipefail

    url="${EBAY_WAREHOUSE_URL:?EBAY_WAREHOUSE_URL is not set}"
    re='^postgres(ql)?(\+[A-Za-z0-9_]+)?://([^:@/]+)(:([^@/]*))?@([^:/?]+)(:([0-9]+))?/([^/?]+)'
    if [[ ! $url =~ $re ]]; then
        # Never echo the URL: it carries the password.
        echo "10-ebay-warehouse: EBAY_WAREHOUSE_URL is not postgresql://user[:password]@host[:port]/database" >&2
        exit 1
    fi

    # Percent-decoding as SQLAlchemy does it (unquote: '+' stays '+').
    urldecode() {
        local s="${1//\\/\\\\}"
        printf '%b' "${s//%/\\x}"
    }
    user="$(urldecode "${BASH_REMATCH[3]}")"
    password="$(urldecode "${BASH_REMATCH[5]}")"
    host="${BASH_REMATCH[6]}"
    database="$(urldecode "${BASH_REMATCH[9]}")"

    case "$host" in
        postgres|localhost|127.0.0.1) ;;
        *)
            echo "10-ebay-warehouse: warehouse host '$host' is external; nothing to create here."
            exit 0
            ;;
    esac

    echo "10-ebay-warehouse: ensuring role '$user' and database '$database'"
    printf '%s\n' "$EBAY_WAREHOUSE_SQL" | EBAY_WH_PASSWORD="$password" psql \
        -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
        --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        -v wh_user="$user" -v wh_db="$database"
    echo "10-ebay-warehouse: done"
)

ebay_warehouse_init

"""Command line for the warehouse and a local, Airflow-free sync.

    python -m include.ebay_trends.cli migrate --url postgresql://...
    python -m include.ebay_trends.cli accounts add seller_a --conn-id ebay_seller_a --marketplace EBAY_US
    python -m include.ebay_trends.cli accounts list
    python -m include.ebay_trends.cli sync-account seller_a --date 2026-11-01 --api-base-url http://127.0.0.1:8765

The warehouse URL comes from ``--url`` or ``EBAY_WAREHOUSE_URL``.  eBay credentials for
``sync-account`` come from flags or, preferably, the environment (``EBAY_CLIENT_ID``,
``EBAY_CLIENT_SECRET``, ``EBAY_REFRESH_TOKEN``, ``EBAY_API_BASE_URL``): secrets on a
command line are visible to other users of the machine.  Secrets are never printed.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from include.ebay_trends import warehouse
from include.ebay_trends.errors import EbayError
from include.ebay_trends.settings import API_BASE_URLS, MAX_ENTRIES_PER_PAGE, SITE_IDS

URL_ENV = "EBAY_WAREHOUSE_URL"


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


def _json_default(v: Any) -> Any:
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return str(v)


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=_json_default, ensure_ascii=False))


def _engine(args: argparse.Namespace):
    url = args.url or os.environ.get(URL_ENV)
    if not url:
        raise CliError(f"no warehouse URL: pass --url or set {URL_ENV}")
    return warehouse.make_engine(url)


# --------------------------------------------------------------------------- commands
def cmd_migrate(args: argparse.Namespace) -> int:
    engine = _engine(args)
    applied = warehouse.migrate(engine)
    _print({"applied": applied, "versions": warehouse.schema_versions(engine)})
    return 0


def cmd_accounts(args: argparse.Namespace) -> int:
    engine = _engine(args)
    if args.action == "add":
        row = warehouse.upsert_account(engine, args.seller, conn_id=args.conn_id or f"ebay_{args.seller}",
                                       marketplace_id=args.marketplace, active=not args.disabled)
        _print(row)
    elif args.action in ("disable", "enable"):
        if not warehouse.set_account_active(engine, args.seller, args.action == "enable"):
            raise CliError(f"unknown account {args.seller!r} (add it with: accounts add)")
        _print(warehouse.get_account(engine, args.seller))
    else:  # list
        rows = warehouse.list_accounts(engine)
        if args.json:
            _print(rows)
        else:
            print(f"{'account':<24} {'marketplace':<14} {'conn_id':<24} {'active':<6} last_sync_date")
            for r in rows:
                print(f"{r['account_id']:<24} {r['marketplace_id']:<14} {r['conn_id']:<24} "
                      f"{str(r['active']).lower():<6} {r['last_sync_date'] or '-'}")
    return 0


def _credential(flag_value: str | None, env: str, what: str) -> str:
    value = flag_value or os.environ.get(env)
    if not value:
        raise CliError(f"missing {what}: pass the flag or set {env}")
    return value


def cmd_sync_account(args: argparse.Namespace) -> int:
    from include.ebay_trends import sync
    from include.ebay_trends.client import AccountConfig, EbayClient

    engine = _engine(args)
    if args.migrate:
        warehouse.migrate(engine)
    acct = warehouse.get_account(engine, args.seller)
    if acct is None:
        raise CliError(f"unknown account {args.seller!r} (add it with: accounts add)")
    if not acct["active"] and not args.include_disabled:
        raise CliError(f"account {args.seller!r} is disabled (enable it, or pass --include-disabled)")
    base = args.api_base_url or os.environ.get("EBAY_API_BASE_URL") or API_BASE_URLS[args.environment]
    config = AccountConfig(
        account_id=args.seller,
        marketplace_id=acct["marketplace_id"],
        client_id=_credential(args.client_id, "EBAY_CLIENT_ID", "client id"),
        client_secret=_credential(args.client_secret, "EBAY_CLIENT_SECRET", "client secret"),
        refresh_token=_credential(args.refresh_token, "EBAY_REFRESH_TOKEN", "refresh token"),
        api_base_url=base,
    )
    # The snapshot date is the run's date: explicit, or today's UTC date for an ad-hoc run.
    day = date.fromisoformat(args.date) if args.date else datetime.now(timezone.utc).date()
    run_id = args.run_id or f"cli__{day.isoformat()}__{uuid.uuid4().hex[:8]}"
    options = sync.SyncOptions(
        item_details=args.item_details, batch_size=args.batch_size, entries_per_page=args.page_size,
        getitem_concurrency=args.getitem_concurrency, dry_run=args.dry_run, full_resync=args.full_resync,
        daily_call_budget=args.daily_call_budget, traffic=not args.no_traffic,
    )

    def progress(summary: dict) -> None:
        if not args.quiet:
            print(f"page {summary['page']}/{summary['pages']}: {summary['items_written']} written, "
                  f"{summary['items_failed']} failed, calls {summary['calls']}, {summary['duration_s']} s",
                  file=sys.stderr)

    with EbayClient(config) as client:
        result = sync.sync_account(args.seller, day, options, client=client, engine=engine, run_id=run_id,
                                   on_page=progress)
    result["run_id"] = run_id
    _print(result)
    return 0 if options.dry_run or result["finalise"].get("finalised") else 1


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m include.ebay_trends.cli",
        description="ebay-trends warehouse and local sync tools.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_url(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--url", help=f"warehouse SQLAlchemy/PostgreSQL URL (default: ${URL_ENV})")
        return sp

    m = with_url(sub.add_parser("migrate", help="apply pending warehouse migrations",
                                description="Apply pending SQL migrations (idempotent, safe to run concurrently)."))
    m.set_defaults(func=cmd_migrate)

    a = sub.add_parser("accounts", help="manage the seller accounts to sync",
                       description="Add, enable, disable or list seller accounts in ebay.accounts.")
    asub = a.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = with_url(asub.add_parser("add", help="add or update an account"))
    add.add_argument("seller", help="eBay seller user id")
    add.add_argument("--marketplace", default="EBAY_US", choices=sorted(SITE_IDS),
                     help="marketplace id (default EBAY_US); the Trading site id is derived from it")
    add.add_argument("--conn-id", help="Airflow connection id holding the credentials (default ebay_<seller>)")
    add.add_argument("--disabled", action="store_true", help="add the account disabled")
    for action in ("disable", "enable"):
        sp = with_url(asub.add_parser(action, help=f"{action} an account"))
        sp.add_argument("seller")
    ls = with_url(asub.add_parser("list", help="list accounts"))
    ls.add_argument("--json", action="store_true", help="JSON output")
    a.set_defaults(func=cmd_accounts)

    s = with_url(sub.add_parser(
        "sync-account", help="plan + every page + reconcile + finalise for one account (local/debug)",
        description="Sync one account sequentially without Airflow. Credentials from flags or "
                    "EBAY_CLIENT_ID / EBAY_CLIENT_SECRET / EBAY_REFRESH_TOKEN / EBAY_API_BASE_URL."))
    s.add_argument("seller")
    s.add_argument("--date", help="snapshot date YYYY-MM-DD (default: today's UTC date)")
    s.add_argument("--run-id", help="run id recorded in ebay.sync_pages (default: generated)")
    s.add_argument("--api-base-url", help="eBay base URL, e.g. http://127.0.0.1:8765 for the emulator")
    s.add_argument("--environment", choices=sorted(API_BASE_URLS), default="production",
                   help="used when no base URL is given (default production)")
    s.add_argument("--client-id", help="eBay App ID (or EBAY_CLIENT_ID)")
    s.add_argument("--client-secret", help="prefer EBAY_CLIENT_SECRET: flags are visible in ps")
    s.add_argument("--refresh-token", help="prefer EBAY_REFRESH_TOKEN: flags are visible in ps")
    s.add_argument("--item-details", choices=("new", "all", "none"), default="new",
                   help="GetItem enrichment: new (default), all, none")
    s.add_argument("--page-size", type=int, default=MAX_ENTRIES_PER_PAGE, help="entries per page (1..200)")
    s.add_argument("--batch-size", type=int, default=100, help="rows per transaction (default 100)")
    s.add_argument("--getitem-concurrency", type=int, default=8)
    s.add_argument("--daily-call-budget", type=int, default=5000)
    s.add_argument("--full-resync", action="store_true", help="GetItem for every listing")
    s.add_argument("--no-traffic", action="store_true", help="skip the traffic report")
    s.add_argument("--dry-run", action="store_true", help="fetch and validate, write no listings")
    s.add_argument("--migrate", action="store_true", help="apply migrations first")
    s.add_argument("--include-disabled", action="store_true", help="sync even if the account is disabled")
    s.add_argument("--quiet", action="store_true", help="no per-page progress on stderr")
    s.set_defaults(func=cmd_sync_account)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (EbayError, ValueError) as exc:
        # Typed errors carry call/account/page and never secrets.
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

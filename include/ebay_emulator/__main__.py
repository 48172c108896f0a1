"""CLI: ``python -m include.ebay_emulator --help``."""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from typing import Any

from .config import EmulatorConfig, refresh_token_for
from .faults import ERROR_KINDS
from .server import EmulatorServer


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m include.ebay_emulator",
        description="Local eBay emulator: Trading API (GetMyeBaySelling, GetItem, GetSellerList), OAuth token "
                    "endpoint, Sell Analytics traffic report, plus an emulator-only /admin JSON API.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 = any free port (default 8765)")
    p.add_argument("--sellers", default="seller_a,seller_b", help="comma-separated seller names")
    p.add_argument("--listings", default="2400,1911", help="day-0 active listings per seller (or one number for all)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--start-date", type=date.fromisoformat, default=date(2026, 11, 1),
                   help="date of simulated day 0 (YYYY-MM-DD)")
    p.add_argument("--day", type=int, default=0, help="simulated day to start on")
    p.add_argument("--latency-scale", type=float, default=1.0, help="multiplies per-call latencies (0 = none)")
    p.add_argument("--token-lifetime", type=int, default=7200, help="access token lifetime in seconds")
    p.add_argument("--call-limit", type=int, default=5000, help="Trading calls per application per day")
    p.add_argument("--traffic-lag-days", type=int, default=1)
    p.add_argument("--past-last-page", choices=("empty", "last"), default="empty",
                   help="answer to a PageNumber past the last page")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of API calls that fail (0..1)")
    p.add_argument("--error-kinds", default=None, help=f"comma-separated subset of {','.join(ERROR_KINDS)}")
    p.add_argument("--fail-page", action="append", default=[], metavar="SELLER:PAGE[:KIND]",
                   help="fail that GetMyeBaySelling page permanently (repeatable; kind default http500)")
    p.add_argument("--drift", type=int, default=0, metavar="N",
                   help="N listings end and N start between GetMyeBaySelling calls, for every seller")
    p.add_argument("--verbose", action="store_true", help="log requests (never headers or bodies)")
    return p


def config_from_args(a: argparse.Namespace) -> EmulatorConfig:
    sellers = tuple(s.strip() for s in a.sellers.split(",") if s.strip())
    listings = _ints(a.listings)
    faults: dict[str, Any] = {}
    if a.error_rate:
        faults["error_rate"] = a.error_rate
    if a.error_kinds:
        faults["error_kinds"] = a.error_kinds.split(",")
    if a.fail_page:
        entries = []
        for spec in a.fail_page:
            parts = spec.split(":")
            if len(parts) not in (2, 3):
                raise SystemExit(f"--fail-page expects SELLER:PAGE[:KIND], got {spec!r}")
            entries.append({"seller": parts[0], "page": int(parts[1]), "kind": parts[2] if len(parts) == 3 else "http500"})
        faults["fail_pages"] = entries
    if a.drift:
        faults["drift"] = [{"seller": s, "end_per_call": a.drift, "start_per_call": a.drift} for s in sellers]
    return EmulatorConfig(
        sellers=sellers, listings=listings[0] if len(listings) == 1 else listings, seed=a.seed,
        start_date=a.start_date, day=a.day, latency_scale=a.latency_scale, token_lifetime_s=a.token_lifetime,
        call_limit=a.call_limit, traffic_lag_days=a.traffic_lag_days, past_last_page=a.past_last_page,
        faults=faults)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    try:
        config = config_from_args(args)
        srv = EmulatorServer(config, host=args.host, port=args.port)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cat = srv.catalog
    print(f"eBay emulator listening on {srv.url}  (simulated today {srv.state.today}, day {srv.state.day})")
    print(f"  client id:     {config.client_id}")
    print(f"  client secret: {config.client_secret}")
    for s in config.sellers:
        info = cat.sellers[s]
        print(f"  {s}: {info.marketplace}/{info.currency}, {info.initial} listings on day 0, "
              f"refresh token {refresh_token_for(s)}")
    print(f"  admin: {srv.url}/admin/state  (emulator-only; Ctrl-C to stop)", flush=True)
    srv.serve_until_signal()          # Ctrl-C, or SIGTERM from docker stop / kill
    return 0


if __name__ == "__main__":
    sys.exit(main())

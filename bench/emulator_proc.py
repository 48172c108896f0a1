"""Run the eBay emulator with any ``EmulatorConfig`` (JSON) in its own process.

The emulator CLI does not expose every field the benchmarks need (``daily_churn``,
per-seller marketplaces), so the bench starts it through this launcher:

    python -m bench.emulator_proc --config '{"sellers": ["s1"], "listings": 1000,
        "latency_scale": 0.2, "daily_churn": 0}' --ready-file /tmp/url

The URL is written to ``--ready-file`` once the socket is listening.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from include.ebay_emulator.config import EmulatorConfig
from include.ebay_emulator.server import EmulatorServer


def config_from_json(obj: dict[str, Any]) -> EmulatorConfig:
    kw = dict(obj)
    if "start_date" in kw:
        kw["start_date"] = date.fromisoformat(kw["start_date"])
    if "sellers" in kw:
        kw["sellers"] = tuple(kw["sellers"])
    if isinstance(kw.get("listings"), list):
        kw["listings"] = tuple(kw["listings"])
    if "marketplaces" in kw:
        kw["marketplaces"] = {k: tuple(v) for k, v in kw["marketplaces"].items()}
    return EmulatorConfig(**kw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="EmulatorConfig fields as a JSON object")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ready-file", required=True)
    args = ap.parse_args(argv)
    srv = EmulatorServer(config_from_json(json.loads(args.config)), host=args.host, port=args.port)
    Path(args.ready_file).write_text(srv.url)
    srv.serve_until_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m include.ebay_emulator``: help text and a real serving process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from include.ebay_emulator.__main__ import build_parser, config_from_args

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_help_lists_flags():
    out = subprocess.run([sys.executable, "-m", "include.ebay_emulator", "--help"], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for flag in ("--host", "--port", "--sellers", "--listings", "--seed", "--start-date", "--day",
                 "--latency-scale", "--token-lifetime", "--call-limit", "--traffic-lag-days",
                 "--past-last-page", "--error-rate", "--fail-page", "--drift"):
        assert flag in out.stdout, flag


def test_flags_become_config():
    a = build_parser().parse_args(["--sellers", "x,y,z", "--listings", "10,20,30", "--fail-page", "x:2",
                                   "--fail-page", "y:1:html", "--drift", "3", "--error-rate", "0.2",
                                   "--past-last-page", "last", "--start-date", "2027-01-05", "--day", "4"])
    cfg = config_from_args(a)
    assert cfg.sellers == ("x", "y", "z") and cfg.listings == (10, 20, 30)
    assert cfg.faults["fail_pages"] == [{"seller": "x", "page": 2, "kind": "http500"},
                                        {"seller": "y", "page": 1, "kind": "html"}]
    assert cfg.faults["drift"][0] == {"seller": "x", "end_per_call": 3, "start_per_call": 3}
    assert cfg.faults["error_rate"] == 0.2 and cfg.past_last_page == "last" and cfg.day == 4
    assert cfg.marketplace_of("z") == ("EBAY_DE", "EUR")


def test_serves_and_prints_url_and_credentials():
    proc = subprocess.Popen([sys.executable, "-m", "include.ebay_emulator", "--port", "0", "--listings", "300,200",
                             "--latency-scale", "0"], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first + proc.stderr.read()
        url = first.split("listening on ")[1].split()[0]
        banner = "".join(proc.stdout.readline() for _ in range(5))
        assert "emulator-client-id" in banner and "emu-refresh-seller_a" in banner
        assert requests.get(url + "/healthz", timeout=5).json()["status"] == "ok"
        st = requests.get(url + "/admin/state", timeout=5).json()
        assert st["sellers"]["seller_b"]["listings_day0"] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0

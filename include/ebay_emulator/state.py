"""The emulator's mutable runtime state: simulated day, tokens, counters, faults, drift.

One instance per server, shared by all handler threads; every mutation holds ``lock``.
Tests may use it directly (``srv.state``) instead of the admin API.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

from array import array

from .catalog import DRIFT_PER_DAY, DRIFT_SLOT0, Catalog, get_catalog, mix64
from .config import EmulatorConfig, refresh_token_for
from .faults import FaultInjector, FaultSpec, parse_faults

# Calls answered on POST /ws/api.dll; each counts toward the daily call limit.
TRADING_CALLS = ("GetMyeBaySelling", "GetItem", "GetSellerList")
SELLER_LIST_CACHE = 8           # GetSellerList selections kept (paging a window reuses one)
UPDATABLE = ("day", "faults", "latency_scale", "latencies", "call_limit", "token_lifetime_s",
             "past_last_page", "traffic_lag_days", "active_list_cap", "strict_site_id")


@dataclass
class Token:
    seller: str
    client_id: str
    expires_at: float       # time.monotonic() deadline


class EmulatorState:
    def __init__(self, config: EmulatorConfig):
        self.config = config
        self.catalog: Catalog = get_catalog(config)
        self.lock = threading.RLock()
        self.stop_event = threading.Event()
        self.day = int(config.day)
        self.latency_scale = float(config.latency_scale)
        self.latencies = dict(config.latencies)
        self.call_limit = int(config.call_limit)
        self.token_lifetime_s = int(config.token_lifetime_s)
        self.past_last_page = config.past_last_page
        self.traffic_lag_days = int(config.traffic_lag_days)
        self.active_list_cap = config.active_list_cap
        self.strict_site_id = bool(config.strict_site_id)
        self.refresh_tokens = {refresh_token_for(s): s for s in config.sellers}
        self.tokens: dict[str, Token] = {}
        self.revoked: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self._set_faults(config.faults)
        self._reset_counters()
        self._reset_drift()

    # ---- helpers ------------------------------------------------------------------
    def _set_faults(self, obj: dict[str, Any] | None) -> None:
        spec: FaultSpec = parse_faults(obj)
        self.faults = FaultInjector(spec, self.config.seed)

    def _reset_counters(self) -> None:
        self.calls: Counter[tuple[str, str, str, str]] = Counter()   # (app, seller, call, date)
        self.quota: Counter[tuple[str, str]] = Counter()             # (app, date) Trading calls
        self.outcomes: Counter[str] = Counter()
        self.max_in_flight = self.in_flight

    def _reset_drift(self) -> None:
        self.drift_ended: dict[str, dict[int, int]] = {s: {} for s in self.config.sellers}
        self.drift_started: dict[str, list[int]] = {s: [] for s in self.config.sellers}
        self.drift_calls: Counter[tuple[str, int]] = Counter()
        self.drift_version: Counter[str] = Counter()
        self._served: OrderedDict[tuple, list[int]] = OrderedDict()
        self._seller_lists: OrderedDict[tuple, array] = OrderedDict()

    @property
    def today(self) -> date:
        return self.catalog.date_of(self.day)

    def latency(self, call: str) -> float:
        return self.latencies.get(call, 0.0) * self.latency_scale

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def record(self, call: str, seller: str | None, app: str | None, outcome: str) -> None:
        with self.lock:
            self.calls[(app or "?", seller or "?", call, self.today.isoformat())] += 1
            self.outcomes[f"{call}:{outcome}"] += 1

    def count_trading_call(self, app: str) -> int:
        """Count a Trading call toward the app's daily limit; returns the count so far."""
        with self.lock:
            key = (app, self.today.isoformat())
            self.quota[key] += 1
            return self.quota[key]

    # ---- tokens -------------------------------------------------------------------
    def issue_token(self, seller: str, client_id: str) -> str:
        token = "v^1.1#i^1#emu#" + secrets.token_urlsafe(48)
        with self.lock:
            self.tokens[token] = Token(seller, client_id, time.monotonic() + self.token_lifetime_s)
        return token

    def check_token(self, token: str | None) -> tuple[str, Token | None]:
        """("ok" | "missing" | "unknown" | "expired" | "revoked", token info)."""
        if not token:
            return "missing", None
        with self.lock:
            info = self.tokens.get(token)
        if info is None:
            return "unknown", None
        if info.seller in self.revoked:
            return "revoked", info
        if time.monotonic() >= info.expires_at:
            return "expired", info
        return "ok", info

    def expire_tokens(self) -> int:
        with self.lock:
            now = time.monotonic()
            n = sum(1 for t in self.tokens.values() if t.expires_at > now)
            for t in self.tokens.values():
                t.expires_at = min(t.expires_at, now)
            return n

    # ---- served catalogue (catalogue + drift overlay) -------------------------------
    def ended_override(self, seller: str, slot: int) -> int | None:
        return self.drift_ended.get(seller, {}).get(slot)

    def served_active(self, seller: str, day: int) -> list[int]:
        """Active slots in ItemID order as the server answers them (drift applied)."""
        base = self.catalog.active_slots(seller, day)
        with self.lock:
            ver = self.drift_version[seller]
            if ver == 0:
                return base
            key = (seller, day, ver)
            hit = self._served.get(key)
            if hit is not None:
                return hit
            ended = {s for s, d in self.drift_ended[seller].items() if d <= day}
            started = [s for s in self.drift_started[seller]
                       if (s - DRIFT_SLOT0) // DRIFT_PER_DAY <= day
                       and self.catalog.static(seller, s).end_day > day]
        res = [s for s in base if s not in ended] + [s for s in started if s not in ended]
        with self.lock:
            self._served[key] = res
            while len(self._served) > 32:
                self._served.popitem(last=False)
        return res

    def seller_list(self, seller: str, day: int, end_range: tuple[float, float] | None,
                    start_range: tuple[float, float] | None, exclude: frozenset[int] = frozenset()) -> array:
        """GetSellerList's selection as served (drift applied), EndTime then ItemID order.

        Cached per (seller, day, windows, drift version, exclusions): the pages of one
        window are slices of one list, stable within a simulated day unless drift moves.
        """
        with self.lock:
            ver = self.drift_version[seller]
            key = (seller, day, end_range, start_range, ver, exclude)
            hit = self._seller_lists.get(key)
            if hit is not None:
                self._seller_lists.move_to_end(key)
                return hit
            ended_on = dict(self.drift_ended[seller])
            extra = [s for s in self.drift_started[seller] if (s - DRIFT_SLOT0) // DRIFT_PER_DAY <= day]
        res = self.catalog.seller_list_slots(seller, day, end_range=end_range, start_range=start_range,
                                             ended_on=ended_on, extra_slots=extra, exclude=exclude)
        with self.lock:
            self._seller_lists[key] = res
            while len(self._seller_lists) > SELLER_LIST_CACHE:
                self._seller_lists.popitem(last=False)
        return res

    def drift_slot_known(self, seller: str, slot: int) -> bool:
        with self.lock:
            return slot in self.drift_started.get(seller, ())

    def after_selling_call(self, seller: str, day: int) -> None:
        """Drift fault: listings end / start between GetMyeBaySelling calls."""
        n_end, n_start = self.faults.drift_for(seller)
        if not (n_end or n_start):
            return
        active = self.served_active(seller, day)
        with self.lock:
            call_no = self.drift_calls[(seller, day)]
            self.drift_calls[(seller, day)] += 1
            early = [s for s in active[:200] if s not in self.drift_ended[seller]]
            h = mix64(self.config.seed ^ mix64(day * 7919 + call_no))
            for _ in range(min(n_end, len(early))):
                slot = early.pop(h % len(early))
                self.drift_ended[seller][slot] = day
                h = mix64(h)
            existing = sum(1 for s in self.drift_started[seller] if (s - DRIFT_SLOT0) // DRIFT_PER_DAY == day)
            for i in range(n_start):
                if existing + i >= DRIFT_PER_DAY:
                    break
                self.drift_started[seller].append(DRIFT_SLOT0 + day * DRIFT_PER_DAY + existing + i)
            self.drift_version[seller] += 1

    # ---- admin --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "day": self.day, "today": self.today.isoformat(),
                "start_date": self.config.start_date.isoformat(),
                "gtc_period_days": self.config.gtc_period_days,     # config only: not updatable
                "latency_scale": self.latency_scale, "latencies": dict(self.latencies),
                "call_limit": self.call_limit, "token_lifetime_s": self.token_lifetime_s,
                "past_last_page": self.past_last_page, "traffic_lag_days": self.traffic_lag_days,
                "active_list_cap": self.active_list_cap, "strict_site_id": self.strict_site_id,
                "faults": self.faults.spec.to_dict(), "revoked": sorted(self.revoked),
                "in_flight": self.in_flight, "max_in_flight": self.max_in_flight,
                "tokens_issued": len(self.tokens),
                "sellers": {s: {"marketplace": i.marketplace, "currency": i.currency,
                                "listings_day0": i.initial,
                                "refresh_token": refresh_token_for(s)}
                            for s, i in self.catalog.sellers.items()},
            }

    def update(self, changes: dict[str, Any]) -> None:
        """Partial update (``POST /admin/state``); validates everything before applying."""
        unknown = set(changes) - set(UPDATABLE)
        if unknown:
            raise ValueError(f"unknown state keys: {', '.join(sorted(unknown))}")
        new_faults = parse_faults(changes["faults"]) if "faults" in changes else None
        if "day" in changes and int(changes["day"]) < 0:
            raise ValueError("day must be >= 0")
        if "past_last_page" in changes and changes["past_last_page"] not in ("empty", "last"):
            raise ValueError("past_last_page must be 'empty' or 'last'")
        for k in ("latency_scale", "call_limit", "token_lifetime_s", "traffic_lag_days"):
            if k in changes and float(changes[k]) < 0:
                raise ValueError(f"{k} must be >= 0")
        with self.lock:
            if new_faults is not None:
                self.faults = FaultInjector(new_faults, self.config.seed)
            if "day" in changes:
                self.day = int(changes["day"])
            if "latency_scale" in changes:
                self.latency_scale = float(changes["latency_scale"])
            if "latencies" in changes:
                self.latencies.update({str(k): float(v) for k, v in changes["latencies"].items()})
            if "call_limit" in changes:
                self.call_limit = int(changes["call_limit"])
            if "token_lifetime_s" in changes:
                self.token_lifetime_s = int(changes["token_lifetime_s"])
            if "past_last_page" in changes:
                self.past_last_page = changes["past_last_page"]
            if "traffic_lag_days" in changes:
                self.traffic_lag_days = int(changes["traffic_lag_days"])
            if "active_list_cap" in changes:
                cap = changes["active_list_cap"]
                self.active_list_cap = None if cap is None else int(cap)
            if "strict_site_id" in changes:
                self.strict_site_id = bool(changes["strict_site_id"])

    def set_faults(self, faults: dict[str, Any] | None) -> None:
        self.update({"faults": faults or {}})

    def advance_day(self, days: int = 1) -> int:
        with self.lock:
            if self.day + days < 0:
                raise ValueError("day must stay >= 0")
            self.day += days
            return self.day

    def revoke(self, seller: str, revoked: bool = True) -> None:
        if seller not in self.catalog.sellers:
            raise ValueError(f"unknown seller {seller!r}")
        with self.lock:
            (self.revoked.add if revoked else self.revoked.discard)(seller)

    def reset(self) -> None:
        """Counters, faults, drift overlay and revocations back to the start (day and tokens stay)."""
        with self.lock:
            self._set_faults({})
            self._reset_counters()
            self._reset_drift()
            self.revoked.clear()

    def calls_report(self) -> dict[str, Any]:
        with self.lock:
            by_call: Counter[str] = Counter()
            by_seller: dict[str, Counter[str]] = {}
            by_day: dict[str, Counter[str]] = {}
            by_app: dict[str, Counter[str]] = {}
            for (app, seller, call, day), n in self.calls.items():
                by_call[call] += n
                by_seller.setdefault(seller, Counter())[call] += n
                by_day.setdefault(day, Counter())[call] += n
                by_app.setdefault(app, Counter())[call] += n
            quota: dict[str, dict[str, int]] = {}
            for (app, day), n in self.quota.items():
                quota.setdefault(app, {})[day] = n
            return {
                "total": sum(by_call.values()),
                "by_call": dict(by_call),
                "by_seller": {k: dict(v) for k, v in by_seller.items()},
                "by_day": {k: dict(v) for k, v in by_day.items()},
                "by_app": {k: dict(v) for k, v in by_app.items()},
                "trading_quota": quota,
                "outcomes": dict(self.outcomes),
            }

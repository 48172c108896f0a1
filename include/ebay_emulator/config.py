"""Emulator configuration (immutable for the life of a server).

Anything a test wants to change *while the server runs* (day, faults, limits) lives in
``state.EmulatorState`` and is changed through the admin API; this dataclass only says
what the server starts with and what the catalogue is built from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

# Seller -> (marketplace id, currency).  Sellers not listed here get one of
# ``_FALLBACK_MARKETPLACES`` by position, so any seller name works.
DEFAULT_MARKETPLACES: dict[str, tuple[str, str]] = {
    "seller_a": ("EBAY_US", "USD"),
    "seller_b": ("EBAY_GB", "GBP"),
    "seller_c": ("EBAY_DE", "EUR"),
}
_FALLBACK_MARKETPLACES: tuple[tuple[str, str], ...] = (
    ("EBAY_US", "USD"), ("EBAY_GB", "GBP"), ("EBAY_DE", "EUR"), ("EBAY_AU", "AUD"),
    ("EBAY_CA", "CAD"),
)

# Default per-call latencies in seconds (multiplied by ``latency_scale``).
# GetSellerList is modelled 2x GetMyeBaySelling: a DetailLevel=ReturnAll page of up to 200
# full items is a much heavier answer than the ActiveList's summary rows.
DEFAULT_LATENCIES: dict[str, float] = {
    "GetMyeBaySelling": 0.30,
    "GetItem": 0.15,
    "GetSellerList": 0.60,
    "TrafficReport": 0.30,
    "OAuthToken": 0.10,
}

DEMO_CLIENT_ID = "emulator-client-id"
DEMO_CLIENT_SECRET = "emulator-client-secret"


def refresh_token_for(seller: str) -> str:
    """The demo refresh token of ``seller`` (exists only in the emulator)."""
    return f"emu-refresh-{seller}"


@dataclass
class EmulatorConfig:
    sellers: tuple[str, ...] = ("seller_a", "seller_b")
    # One count per seller, or a single int used for every seller.
    listings: tuple[int, ...] | int = (2400, 1911)
    seed: int = 42
    start_date: date = date(2026, 11, 1)     # simulated day 0
    day: int = 0                              # simulated "today" = start_date + day
    # seller -> (marketplace id, currency); missing sellers fall back by position.
    marketplaces: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(DEFAULT_MARKETPLACES))
    daily_churn: float = 0.003                # share of listings ending (and starting) per day
    # Good-'Til-Cancelled renewal: an active listing's EndTime (GetItem, GetSellerList) and
    # TimeLeft are its next renewal, start + k * gtc_period_days, never more than this
    # ahead (eBay renews GTC listings every 30 days).  0 = report the day the listing will
    # really end instead (not something eBay can know; the emulator's pre-GetSellerList model).
    gtc_period_days: int = 30
    ended_visible_days: int = 30              # GetItem still answers ended listings this long
    latency_scale: float = 1.0
    latencies: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LATENCIES))
    token_lifetime_s: int = 7200
    call_limit: int = 5000                    # Trading calls per application per eBay day
    traffic_lag_days: int = 1
    past_last_page: str = "empty"             # "empty" | "last"
    active_list_cap: int | None = None        # eBay caps ActiveList at 25,000; None = no cap
    strict_site_id: bool = True               # X-EBAY-API-SITEID must match the seller's marketplace
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    faults: dict[str, Any] = field(default_factory=dict)   # initial faults, same shape as the admin API

    def __post_init__(self) -> None:
        if isinstance(self.sellers, str):
            self.sellers = tuple(s for s in self.sellers.split(",") if s)
        self.sellers = tuple(self.sellers)
        if isinstance(self.listings, int):
            self.listings = (self.listings,) * len(self.sellers)
        self.listings = tuple(int(n) for n in self.listings)
        if len(self.listings) != len(self.sellers):
            raise ValueError("listings needs one count per seller (or a single int)")
        if len(set(self.sellers)) != len(self.sellers):
            raise ValueError("seller names must be unique")
        if any(n < 0 for n in self.listings):
            raise ValueError("listing counts must be >= 0")
        if self.past_last_page not in ("empty", "last"):
            raise ValueError("past_last_page must be 'empty' or 'last'")
        if not 0 <= self.daily_churn < 0.5:
            raise ValueError("daily_churn must be in [0, 0.5)")
        if not 0 <= int(self.gtc_period_days) <= 3650:
            raise ValueError("gtc_period_days must be in [0, 3650]")
        self.gtc_period_days = int(self.gtc_period_days)
        lat = dict(DEFAULT_LATENCIES)
        lat.update(self.latencies or {})
        self.latencies = lat

    def marketplace_of(self, seller: str) -> tuple[str, str]:
        if seller in self.marketplaces:
            return tuple(self.marketplaces[seller])  # type: ignore[return-value]
        idx = self.sellers.index(seller) if seller in self.sellers else 0
        return _FALLBACK_MARKETPLACES[idx % len(_FALLBACK_MARKETPLACES)]

    def listings_of(self, seller: str) -> int:
        return self.listings[self.sellers.index(seller)]  # type: ignore[index]

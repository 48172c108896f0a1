"""The emulated sellers' listings: deterministic from the seed, cheap to query.

Nothing here knows about HTTP.  The truth functions below are what tests use to
compute expected values without going through the emulator:

    from include.ebay_emulator.catalog import get_catalog, active_item_ids, item_state
    active_item_ids("seller_a", 0)                 # sorted ItemIDs active on day 0 (default config)
    item_state("seller_a", "110000000123", 3)      # dict: price (Decimal), currency, quantity_sold, ...
    cat = get_catalog(EmulatorConfig(listings=201))   # any config; cached per config
    cat.started_item_ids("seller_a", 1), cat.ended_item_ids("seller_a", 1)
    cat.traffic("seller_a", item_id, day)          # {"views", "impressions", "transactions"} of one day

These describe the catalogue *without* runtime faults (drift is an overlay kept by the
server state; ``GET /admin/catalog`` reports the served view including drift).

Model
-----
* Each seller has "slots" numbered 0, 1, 2, ... in start-time order.  Slots
  ``0..n0-1`` were started during the year before day 0 and are all active on day 0,
  so day-0 active count is exactly the configured number.  On each day ``d >= 1``
  about ``n0 * daily_churn`` new slots start (before the simulated noon).  Every slot
  has a geometric lifetime (p = daily_churn), so ~0.3 % of active listings end a day.
* A slot is active on day ``d`` iff ``start_day <= d < end_day``.  The simulated
  "now" of day ``d`` is ``start_date + d`` at 12:00:00Z; listings end before noon.
* ItemID = seller base + slot * 1000 + jitter: 12 digits, increasing with start time,
  so new listings sort last by ItemID.  ItemID -> slot is O(1).
* Static attributes (title, SKU, type, base price, category, pictures) come from a
  PRNG seeded by (seed, seller, slot); per-day numbers (sales, views, impressions,
  price moves, watchers, bids) from a 64-bit mix of (slot key, day).  Lifetime sums
  (QuantitySold, HitCount, BidCount) add the daily numbers from day 1 (or the start
  day) up to the asked day, so they never decrease.
* EndTime as eBay shows it (``end_time_of``): an active listing is Good-'Til-Cancelled,
  renewed every ``gtc_period_days`` (30) from its StartTime, so its EndTime is the next
  renewal (at most 30 days ahead) and moves on by 30 days at each renewal; the day it
  really ends (``end_day``) is not visible until it has ended, then EndTime is that real
  end.  ``gtc_period_days=0`` shows the real end in advance instead.
* ``seller_list_slots`` selects a seller's listings by EndTime/StartTime window (what
  GetSellerList answers) from per-slot arrays, without building 100,000 items.
"""
from __future__ import annotations

import bisect
import hashlib
import math
import random
import threading
from array import array
from collections import OrderedDict
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .config import EmulatorConfig

M64 = (1 << 64) - 1
SLOT_GAP = 1000                       # ItemID = base + slot * SLOT_GAP + jitter
ID_BASE = 110_000_000_000             # first seller's base: 12-digit ids
SELLER_SPACING = 10_000_000_000
DRIFT_SLOT0 = 5_000_000               # slots >= this were started by the drift fault
DRIFT_PER_DAY = 5_000
NEVER = 2**31 - 1                     # end_day of a listing that never ends (churn 0)
HISTORY_S = 365 * 86400               # day-0 listings started during the year before
NOON_S = 43200
END_OFFSET_RANGE = NOON_S - 60        # a listing's real end: this many seconds after midnight at most
DRIFT_END_BEFORE_NOW_S = 1800         # a drift-ended listing ended half an hour before that day's "now"
CENT = Decimal("0.01")
MIN_PRICE = Decimal("0.99")
MAX_PRICE = Decimal("12345.67")

SITE_DOMAINS = {
    "EBAY_US": "www.ebay.com", "EBAY_GB": "www.ebay.co.uk", "EBAY_DE": "www.ebay.de",
    "EBAY_AU": "www.ebay.com.au", "EBAY_CA": "www.ebay.ca", "EBAY_FR": "www.ebay.fr",
    "EBAY_IT": "www.ebay.it", "EBAY_ES": "www.ebay.es",
}

CATEGORIES: tuple[tuple[str, str], ...] = (
    ("31387", "Wristwatches"),
    ("9355", "Cell Phones & Smartphones"),
    ("183454", "CCG Individual Cards"),
    ("19006", "LEGO Complete Sets & Packs"),
    ("31388", "Digital Cameras"),
    ("11483", "Jeans"),
    ("20625", "Cookware"),
    ("33034", "Electric Guitars"),
    ("171485", "Tablets & eBook Readers"),
    ("112529", "Headphones"),
    ("593", "Lighters"),
    ("222", "Diecast & Toy Vehicles"),
    ("261068", "Vinyl Records"),
    ("15709", "Athletic Shoes"),
    ("870", "Pottery & Glass"),
)
_BRANDS = ("Seiko", "Nike", "LEGO", "Canon", "Apple", "Levi's", "Pyrex", "Fender", "Omega",
           "Hot Wheels", "Pokémon", "Le Creuset", "Bose", "Zippo", "Casio", "Sony", "Adidas")
_ADJ = ("Vintage", "New", "Rare", "Used", "Sealed", "Genuine", "Refurbished", "Boxed",
        "Limited Edition", "Classic", "Mint", "Lot of 3")
_NOUNS = ("Watch", "Smartphone 128GB", "Trading Card", "Set 10294", "DSLR Camera Body",
          "501 Jeans W32 L34", "Casserole Dish", "Stratocaster", "Tablet 64GB", "Headphones",
          "Lighter", "Model Car 1:64", "LP Record", "Running Shoes UK 9", "Vase")
_SPECIAL = (' & Co', ' <Rare>', ' "Mint"', " 'Boxed'", ' 5" x 7"', ' Tom & Jerry <1990> "NIB"',
            " R&D <prototype> 'A'")
_JAPANESE = ("ヴィンテージ 腕時計 セイコー 自動巻き", "未使用 ポケモンカード 限定", "美品 カメラ レンズ付き")
_OTHER_UNICODE = ("Café Crème Größe 42 – Ærøskøbing", "Émaux & Émail — fête ★", "Zürich Straße №5 ½ price",
                  "Ελληνικά δοχείο", "Кружка ручной работы")
_PIC_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~"


def mix64(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread deterministic hash of an int."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


@dataclass(frozen=True, slots=True)
class SellerInfo:
    name: str
    index: int
    key: int                 # 64-bit hash of (seed, seller)
    initial: int             # active listings on day 0
    marketplace: str
    currency: str
    domain: str


@dataclass(frozen=True, slots=True)
class StaticItem:
    """What does not change over a listing's life."""

    seller: str
    slot: int
    item_id: str
    title: str
    sku: str | None
    listing_type: str          # FixedPriceItem | Chinese
    base_price: Decimal
    currency: str
    category_id: str
    category_name: str
    available: int             # QuantityAvailable (restocked to this level)
    watch_base: int
    popularity: int            # max daily views
    sale_permille: int         # chance of a sale on a given day, per mille
    has_hit_counter: bool
    pre_sold: int              # lifetime sales before day 1
    pre_views: int
    pre_bids: int
    start_ts: int              # epoch seconds
    start_day: int
    end_day: int               # first day it is no longer active (NEVER if never)
    end_ts: int | None
    view_item_url: str
    gallery_url: str
    picture_urls: tuple[str, ...]
    dyn_key: int               # key of the per-day hash stream


@dataclass(frozen=True, slots=True)
class ItemSnapshot:
    """A listing as seen on a given simulated day."""

    static: StaticItem
    day: int
    active: bool
    price: Decimal
    quantity_sold: int
    quantity: int              # available + sold
    quantity_available: int
    bid_count: int
    watch_count: int
    hit_count: int             # lifetime views through the day
    views: int                 # this day's numbers (the traffic report's source)
    impressions: int
    transactions: int
    time_left_s: int | None    # seconds from the simulated now to EndTime (active only)


def _epoch(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp())


def iso_z(ts: int) -> str:
    """eBay's timestamp format: 2026-11-01T08:15:00.000Z."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def iso_duration(seconds: int) -> str:
    """ISO 8601 duration as eBay writes TimeLeft: P2DT23H32M51S."""
    seconds = max(0, int(seconds))
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"P{d}DT{h}H{m}M{s}S"


def _clamp_price(p: Decimal) -> Decimal:
    p = p.quantize(CENT)
    return MIN_PRICE if p < MIN_PRICE else MAX_PRICE if p > MAX_PRICE else p


class Catalog:
    """Deterministic listings of every configured seller.  Thread-safe; caches lazily."""

    ACTIVE_CACHE_DAYS = 16

    def __init__(self, config: EmulatorConfig):
        self.config = config
        self.start_date = config.start_date
        self.t0 = _epoch(config.start_date)
        self.churn = config.daily_churn
        self.gtc_s = int(getattr(config, "gtc_period_days", 30)) * 86400   # 0: no GTC renewal model
        self._lock = threading.RLock()
        self.sellers: dict[str, SellerInfo] = {}
        for i, name in enumerate(config.sellers):
            mp, cur = config.marketplace_of(name)
            key = int.from_bytes(hashlib.blake2b(f"{config.seed}:{name}".encode(), digest_size=8).digest(), "big")
            self.sellers[name] = SellerInfo(name, i, key, config.listings_of(name), mp, cur,
                                            SITE_DOMAINS.get(mp, "www.ebay.com"))
        # Per seller: first regular slot of day d (index d-1 -> day d), and end days of slots.
        self._first_new: dict[str, list[int]] = {s: [] for s in self.sellers}
        self._end_days: dict[str, array] = {s: array("i") for s in self.sellers}
        self._start_ts: dict[str, array] = {s: array("q") for s in self.sellers}
        self._active: OrderedDict[tuple[str, int], list[int]] = OrderedDict()
        self.static = lru_cache(maxsize=131072)(self._static)   # per-instance cache
        # (seller, slot) -> (day, sold, views, bids, price hash): lifetime sums checkpoint
        self._lifetime_cp: dict[tuple[str, int], tuple[int, int, int, int, int | None]] = {}

    # ---- day <-> date -------------------------------------------------------------
    def date_of(self, day: int) -> date:
        return self.start_date + timedelta(days=day)

    def day_of(self, d: date) -> int:
        return (d - self.start_date).days

    def now_ts(self, day: int) -> int:
        """Simulated "now" of a day: noon UTC."""
        return self.t0 + day * 86400 + NOON_S

    # ---- slot bookkeeping ---------------------------------------------------------
    def _new_count(self, seller: SellerInfo, day: int) -> int:
        expected = seller.initial * self.churn
        base = int(expected)
        frac = expected - base
        u = mix64(seller.key ^ mix64(0xD15EA5E + day)) / 2**64
        return base + (1 if u < frac else 0)

    def _ensure_days(self, seller: str, day: int) -> list[int]:
        """Extend ``_first_new[seller]`` so it covers days 1..day+1."""
        info = self.sellers[seller]
        fn = self._first_new[seller]
        with self._lock:
            while len(fn) < day + 1:
                d = len(fn) + 1                         # fn[d-1] = first slot of day d
                fn.append(info.initial if d == 1 else fn[-1] + self._new_count(info, d - 1))
        return fn

    def _ensure_slot(self, seller: str, slot: int) -> None:
        """Extend the day table until ``slot`` has a start day (bounded: never loops forever)."""
        fn = self._ensure_days(seller, 1)
        while fn[-1] <= slot:
            if len(fn) > 100_000:
                raise KeyError(f"slot {slot} of {seller} is never issued")
            self._ensure_days(seller, len(fn) + 1)

    def slots_through(self, seller: str, day: int) -> int:
        """Number of regular slots started on or before ``day``."""
        if day < 1:
            return self.sellers[seller].initial
        fn = self._ensure_days(seller, day + 1)
        return fn[day]                                  # first slot of day+1

    def _slot_start(self, info: SellerInfo, slot: int) -> tuple[int, int]:
        """(start_ts, start_day) of a slot."""
        if slot >= DRIFT_SLOT0:
            d, n = divmod(slot - DRIFT_SLOT0, DRIFT_PER_DAY)
            return self.t0 + d * 86400 + NOON_S - 600 + n, d
        if slot < info.initial:
            ts = self.t0 - HISTORY_S + (slot * HISTORY_S) // max(info.initial, 1)
            return ts, (ts - self.t0) // 86400
        fn = self._first_new[info.name]
        d = bisect.bisect_right(fn, slot)               # fn[d-1] <= slot < fn[d]
        j = slot - fn[d - 1]
        m = (fn[d] - fn[d - 1]) if d < len(fn) else self._new_count(info, d)
        return self.t0 + d * 86400 + (j * (NOON_S - 60)) // max(m, 1), d

    def _end_day(self, info: SellerInfo, slot: int, start_day: int) -> int:
        if self.churn <= 0:
            return NEVER
        u = (mix64(info.key ^ mix64(slot * 0x100000001B3 + 0xE4D)) + 1) / (2**64 + 1)
        g = int(math.log(u) / math.log1p(-self.churn))
        # Day-0 listings (start_day <= 0) all end on day 1 or later: day-0 count is exact.
        return min(NEVER, max(start_day, 0) + 1 + g)

    def _final_end_ts(self, info: SellerInfo, slot: int, end_day: int) -> int | None:
        """When the listing really ends (None: never): before noon of ``end_day``."""
        if end_day == NEVER:
            return None
        return self.t0 + end_day * 86400 + (mix64(info.key ^ slot ^ 0xE7D) % END_OFFSET_RANGE)

    def _start_ts_through(self, seller: str, n: int) -> array:
        """StartTime (epoch s) of regular slots ``0..n-1``, non-decreasing with the slot (cached)."""
        info = self.sellers[seller]
        starts = self._start_ts[seller]
        with self._lock:
            if len(starts) < n:
                self._ensure_days(seller, 1)
                if n > info.initial:
                    self._ensure_slot(seller, n - 1)
                for slot in range(len(starts), n):
                    starts.append(self._slot_start(info, slot)[0])
        return starts

    def _end_days_through(self, seller: str, n: int) -> array:
        info = self.sellers[seller]
        ends = self._end_days[seller]
        with self._lock:
            if len(ends) < n:
                self._ensure_days(seller, 1)
                for slot in range(len(ends), n):
                    if slot >= info.initial:
                        self._ensure_slot(seller, slot)
                    _, sd = self._slot_start(info, slot)
                    ends.append(self._end_day(info, slot, sd))
        return ends

    # ---- active lists -------------------------------------------------------------
    def active_slots(self, seller: str, day: int) -> list[int]:
        """Regular slots active on ``day`` in ItemID order (cached; do not mutate)."""
        key = (seller, day)
        with self._lock:
            hit = self._active.get(key)
            if hit is not None:
                self._active.move_to_end(key)
                return hit
        n = self.slots_through(seller, day)
        ends = self._end_days_through(seller, n)
        res = [k for k in range(n) if ends[k] > day]
        with self._lock:
            self._active[key] = res
            while len(self._active) > self.ACTIVE_CACHE_DAYS * max(1, len(self.sellers)):
                self._active.popitem(last=False)
        return res

    def active_item_ids(self, seller: str, day: int) -> list[str]:
        return [self.item_id(seller, k) for k in self.active_slots(seller, day)]

    def started_slots(self, seller: str, day: int) -> list[int]:
        if day < 1:
            return []
        return list(range(self.slots_through(seller, day - 1), self.slots_through(seller, day)))

    def ended_slots(self, seller: str, day: int) -> list[int]:
        n = self.slots_through(seller, day - 1)
        ends = self._end_days_through(seller, n)
        return [k for k in range(n) if ends[k] == day]

    def started_item_ids(self, seller: str, day: int) -> list[str]:
        return [self.item_id(seller, k) for k in self.started_slots(seller, day)]

    def ended_item_ids(self, seller: str, day: int) -> list[str]:
        return [self.item_id(seller, k) for k in self.ended_slots(seller, day)]

    # ---- ids ----------------------------------------------------------------------
    def item_id(self, seller: str, slot: int) -> str:
        info = self.sellers[seller]
        jitter = mix64(info.key ^ (slot * 0x9E3779B1 + 7)) % SLOT_GAP
        return str(ID_BASE + info.index * SELLER_SPACING + slot * SLOT_GAP + jitter)

    def locate(self, item_id: str) -> tuple[str, int] | None:
        """(seller, slot) of an ItemID this catalogue could have issued, else None."""
        if not item_id.isdigit() or len(item_id) > 19:
            return None
        n = int(item_id) - ID_BASE
        if n < 0:
            return None
        idx, rest = divmod(n, SELLER_SPACING)
        if idx >= len(self.sellers):
            return None
        seller = self.config.sellers[idx]
        slot = rest // SLOT_GAP
        if self.item_id(seller, slot) != item_id:
            return None
        return seller, slot

    def slot_exists(self, seller: str, slot: int, day: int) -> bool:
        """Whether the slot had started by ``day`` (drift slots: by their own day)."""
        if slot >= DRIFT_SLOT0:
            return (slot - DRIFT_SLOT0) // DRIFT_PER_DAY <= day
        return slot < self.slots_through(seller, day)

    # ---- attributes ---------------------------------------------------------------
    def _static(self, seller: str, slot: int) -> StaticItem:
        info = self.sellers[seller]
        if slot < DRIFT_SLOT0 and slot >= info.initial:
            # _slot_start needs the day table to reach this slot
            self._ensure_slot(seller, slot)
        rng = random.Random(info.key ^ mix64(slot + 0x5EED))
        item_id = self.item_id(seller, slot)
        start_ts, start_day = self._slot_start(info, slot)
        end_day = self._end_day(info, slot, start_day)
        end_ts = self._final_end_ts(info, slot, end_day)

        cat_id, cat_name = CATEGORIES[rng.randrange(len(CATEGORIES))]
        r = rng.random()
        if r < 0.05:
            title = rng.choice(_JAPANESE)
        elif r < 0.10:
            title = rng.choice(_OTHER_UNICODE)
        else:
            title = f"{rng.choice(_BRANDS)} {rng.choice(_ADJ)} {rng.choice(_NOUNS)}"
            if r < 0.18:
                title += rng.choice(_SPECIAL)
        title = title[:80]
        sku: str | None = None
        if rng.random() < 0.70:
            sku = f"SKU-{slot:06d}-{rng.randrange(36**3):03X}"
            if rng.random() < 0.05:
                sku = f"A&B<{slot}>"
        auction = rng.random() < 0.15
        cents = int(round(math.exp(rng.uniform(math.log(99), math.log(1234567)))))
        base_price = _clamp_price(Decimal(cents) / 100)
        available = 1 if auction else min(50, 1 + int(rng.expovariate(1 / 6)))
        watch_base = 0 if rng.random() < 0.35 else rng.randint(1, 40)
        popularity = rng.randint(3, 150)
        sale_permille = 0 if auction else rng.randint(0, 60)
        has_hit = rng.random() < 0.9
        age_days = max(0, -start_day)
        pre_sold = 0 if auction or start_day > 0 else int(age_days * sale_permille / 1000 * rng.uniform(0.5, 1.5))
        pre_views = int(age_days * popularity * rng.uniform(0.3, 0.7)) if start_day <= 0 else 0
        pre_bids = rng.randint(0, 8) if auction and start_day <= 0 else 0
        pics = tuple("".join(rng.choice(_PIC_ALPHABET) for _ in range(16)) for _ in range(rng.randint(1, 6)))
        return StaticItem(
            seller=seller, slot=slot, item_id=item_id, title=title, sku=sku,
            listing_type="Chinese" if auction else "FixedPriceItem", base_price=base_price,
            currency=info.currency, category_id=cat_id, category_name=cat_name,
            available=available, watch_base=watch_base, popularity=popularity,
            sale_permille=sale_permille, has_hit_counter=has_hit, pre_sold=pre_sold,
            pre_views=pre_views, pre_bids=pre_bids, start_ts=start_ts, start_day=start_day,
            end_day=end_day, end_ts=end_ts,
            view_item_url=f"https://{info.domain}/itm/{item_id}",
            gallery_url=f"https://i.ebayimg.com/images/g/{pics[0]}/s-l140.jpg",
            picture_urls=tuple(f"https://i.ebayimg.com/images/g/{p}/s-l1600.jpg" for p in pics),
            dyn_key=mix64(info.key ^ mix64(slot * 0x100000001B3 + 0xDA7)),
        )

    def _lifetime(self, st: StaticItem, upto: int) -> tuple[int, int, int, int | None]:
        """(sold, views, bids, hash of the last price-change day) summed through day ``upto``.

        Sums run from day 1 (or the start day); a per-slot checkpoint makes the usual
        forward-moving day cost O(new days) instead of O(age).
        """
        lo = max(1, st.start_day)
        key = (st.seller, st.slot)
        cp = self._lifetime_cp.get(key)
        if cp is not None and cp[0] <= upto:
            t0, sold, views, bids, pf_h = cp
            t0 += 1
        else:
            t0, sold, views, bids, pf_h = lo, st.pre_sold, st.pre_views, st.pre_bids, None
        if t0 > upto:
            return sold, views, bids, pf_h
        dk, pop, permille = st.dyn_key, st.popularity, st.sale_permille
        auction = st.listing_type == "Chinese"
        for t in range(t0, upto + 1):
            # mix64 and _daily inlined: this loop is the hot path of a page
            x = ((dk ^ t) + 0x9E3779B97F4A7C15) & M64
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
            h = x ^ (x >> 31)
            s_ = (2 if ((h >> 10) & 0xF) == 0 else 1) if permille and (h & 0x3FF) < permille else 0
            v = 1 + ((h >> 16) & 0xFFFF) % pop
            sold += s_
            views += v if v > s_ else s_
            if ((h >> 40) & 0x1F) == 0:
                pf_h = h
            if auction and ((h >> 58) & 3) == 0:
                bids += 1
        if upto >= lo:
            self._lifetime_cp[key] = (upto, sold, views, bids, pf_h)
        return sold, views, bids, pf_h

    @staticmethod
    def _daily(st: StaticItem, h: int) -> tuple[int, int, int]:
        """(sales, views, impressions) of one day from that day's hash."""
        sales = 0
        if st.sale_permille and (h & 0x3FF) < st.sale_permille:
            sales = 2 if ((h >> 10) & 0xF) == 0 else 1
        views = max(sales, 1 + ((h >> 16) & 0xFFFF) % st.popularity)
        impressions = views * (6 + ((h >> 32) & 0xFF) % 40)
        return sales, views, impressions

    def snapshot(self, seller: str, slot: int, day: int, *, ended_on: int | None = None) -> ItemSnapshot:
        """The listing on ``day``.  ``ended_on`` overrides the end day (drift fault)."""
        st = self.static(seller, slot)
        end_day = st.end_day if ended_on is None else min(st.end_day, ended_on)
        active = st.start_day <= day < end_day
        eff = day if active else min(day, end_day - 1)   # ended listings freeze
        sold, views_total, bids, price_factor_h = self._lifetime(st, eff)
        dk = st.dyn_key
        auction = st.listing_type == "Chinese"
        h_day = mix64(dk ^ (eff & M64))
        if st.start_day <= eff:
            sales_d, views_d, impr_d = self._daily(st, h_day)
        else:
            sales_d = views_d = impr_d = 0
        if auction:
            inc = max(Decimal("0.50"), (st.base_price * Decimal("0.05")).quantize(CENT))
            price = _clamp_price(st.base_price + inc * bids)
        elif price_factor_h is not None:
            factor = Decimal(900 + ((price_factor_h >> 45) & 0xFF) * 200 // 255) / 1000
            price = _clamp_price(st.base_price * factor)
        else:
            price = st.base_price
        watch = max(0, st.watch_base + ((h_day >> 53) % 5) - 2) if st.watch_base else 0
        now = self.now_ts(day)
        if not active:
            time_left = None
        elif self.gtc_s:
            time_left = self._gtc_end(st.start_ts, now) - now
        elif st.end_ts is not None:
            time_left = st.end_ts - now
        else:
            time_left = 30 * 86400 - ((now - st.start_ts) % (30 * 86400))
        return ItemSnapshot(
            static=st, day=day, active=active, price=price, quantity_sold=sold,
            quantity=st.available + sold, quantity_available=st.available, bid_count=bids,
            watch_count=watch, hit_count=views_total, views=views_d if active else 0,
            impressions=impr_d if active else 0, transactions=sales_d if active else 0,
            time_left_s=time_left,
        )

    # ---- EndTime as eBay shows it, and GetSellerList's selection ---------------------
    def _gtc_end(self, start_ts: int, now: int) -> int:
        """The next GTC renewal after ``now``: start + k * period, in (now, now + period]."""
        g = self.gtc_s
        return now + g - (max(0, now - start_ts) % g)

    def end_time_of(self, st: StaticItem, day: int, *, ended_on: int | None = None) -> int | None:
        """ListingDetails/EndTime (epoch s) of an existing listing as seen on ``day``.

        Active: the next GTC renewal (or, with ``gtc_period_days=0``, the real end; None
        if it never ends).  Ended: the real end; ended early by the drift fault
        (``ended_on``): half an hour before that day's "now".
        """
        end_day = st.end_day if ended_on is None else min(st.end_day, ended_on)
        if st.start_day <= day < end_day:
            return self._gtc_end(st.start_ts, self.now_ts(day)) if self.gtc_s else st.end_ts
        if ended_on is not None and ended_on < st.end_day:
            return self.now_ts(ended_on) - DRIFT_END_BEFORE_NOW_S
        return st.end_ts

    def seller_list_slots(self, seller: str, day: int, *,
                          end_range: tuple[float, float] | None = None,
                          start_range: tuple[float, float] | None = None,
                          ended_on: Mapping[int, int] | None = None,
                          extra_slots: Iterable[int] = (),
                          exclude: Container[int] = ()) -> array:
        """GetSellerList's selection: slots of ``seller`` existing on ``day`` whose EndTime
        (``end_time_of``) is within ``end_range`` and whose StartTime is within
        ``start_range`` (inclusive epoch seconds; None = no condition), active or ended.

        Ordered by EndTime ascending, then ItemID ascending (ItemID grows with the slot).
        ``ended_on``: drift end-day overrides; ``extra_slots``: drift-started slots that
        exist (the caller checks); ``exclude``: slots to leave out.  Works on the per-slot
        arrays: ~100 ms for a 100,000-listing seller, no item is built.
        """
        n = self.slots_through(seller, day)
        ends = self._end_days_through(seller, n)
        starts = self._start_ts_through(seller, n)
        info = self.sellers[seller]
        now = self.now_ts(day)
        g = self.gtc_s
        ended_on = ended_on or {}
        k_lo, k_hi = 0, n
        if start_range is not None:               # regular slots are in StartTime order
            k_lo = bisect.bisect_left(starts, start_range[0], 0, n)
            k_hi = bisect.bisect_right(starts, start_range[1], 0, n)
        e_lo, e_hi = end_range if end_range is not None else (-math.inf, math.inf)
        keyed: list[int] = []                     # EndTime << 32 | slot: one int sorts fast
        add = keyed.append
        if g and not ended_on:
            # The common case in a tight loop: active -> next renewal, ended -> real end.
            for k in range(k_lo, k_hi):
                ed = ends[k]
                if ed > day:
                    e = now + g - ((now - starts[k]) % g)
                else:
                    e = self.t0 + ed * 86400 + (mix64(info.key ^ k ^ 0xE7D) % END_OFFSET_RANGE)
                if e_lo <= e <= e_hi and k not in exclude:
                    add((e << 32) | k)
        else:
            for k in range(k_lo, k_hi):
                ed = ends[k]
                o = ended_on.get(k)
                if o is not None and o < ed and o <= day:       # ended early by the drift fault
                    e = self.now_ts(o) - DRIFT_END_BEFORE_NOW_S
                elif ed > day and (o is None or o > day):       # active
                    e = now + g - ((now - starts[k]) % g) if g else self._final_end_ts(info, k, ed)
                else:                                           # ended on its own
                    e = self._final_end_ts(info, k, ed)
                if e is None:
                    continue                      # never ends (gtc 0, churn 0): nothing to match or sort by
                if e_lo <= e <= e_hi and k not in exclude:
                    add((e << 32) | k)
        for k in extra_slots:
            st = self.static(seller, k)
            if start_range is not None and not start_range[0] <= st.start_ts <= start_range[1]:
                continue
            e = self.end_time_of(st, day, ended_on=ended_on.get(k))
            if e is not None and e_lo <= e <= e_hi and k not in exclude:
                add((e << 32) | k)
        keyed.sort()
        return array("q", [v & 0xFFFFFFFF for v in keyed])

    def traffic_day(self, seller: str, slot: int, day: int, *, ended_on: int | None = None) -> tuple[int, int, int]:
        """(views, impressions, transactions) of one complete day; zeros when not live."""
        st = self.static(seller, slot)
        end_day = st.end_day if ended_on is None else min(st.end_day, ended_on)
        if not st.start_day <= day < end_day:
            return 0, 0, 0
        s, v, i = self._daily(st, mix64(st.dyn_key ^ (day & M64)))
        return v, i, s

    # ---- truth helpers (dict form, for tests) -------------------------------------
    def item_state(self, seller: str, item_id: str, day: int) -> dict[str, Any] | None:
        loc = self.locate(item_id)
        if loc is None or loc[0] != seller or not self.slot_exists(seller, loc[1], day):
            return None
        snap = self.snapshot(seller, loc[1], day)
        st = snap.static
        end_ts = self.end_time_of(st, day)
        return {
            "item_id": st.item_id, "seller": seller, "title": st.title, "sku": st.sku,
            "listing_type": st.listing_type, "price": snap.price, "currency": st.currency,
            "quantity": snap.quantity, "quantity_available": snap.quantity_available,
            "quantity_sold": snap.quantity_sold, "bid_count": snap.bid_count,
            "watch_count": snap.watch_count, "hit_count": snap.hit_count if st.has_hit_counter else None,
            "views": snap.views, "impressions": snap.impressions, "transactions": snap.transactions,
            "category_id": st.category_id, "category_name": st.category_name,
            "active": snap.active, "start_day": st.start_day,
            "end_day": None if st.end_day == NEVER else st.end_day,
            "start_time": datetime.fromtimestamp(st.start_ts, timezone.utc),
            # ListingDetails/EndTime as GetItem shows it on ``day`` (next GTC renewal while active)
            "end_time": None if end_ts is None else datetime.fromtimestamp(end_ts, timezone.utc),
            "final_end_time": None if st.end_ts is None else datetime.fromtimestamp(st.end_ts, timezone.utc),
            "view_item_url": st.view_item_url, "gallery_url": st.gallery_url,
        }

    def traffic(self, seller: str, item_id: str, day: int) -> dict[str, int] | None:
        loc = self.locate(item_id)
        if loc is None or loc[0] != seller:
            return None
        v, i, t = self.traffic_day(seller, loc[1], day)
        return {"views": v, "impressions": i, "transactions": t}


_CATALOGS: dict[tuple, Catalog] = {}
_CATALOGS_LOCK = threading.Lock()


def _config_key(c: EmulatorConfig) -> tuple:
    return (c.sellers, c.listings, c.seed, c.start_date, tuple(sorted(
        (s, tuple(v)) for s, v in c.marketplaces.items())), c.daily_churn, c.gtc_period_days)


def get_catalog(config: EmulatorConfig | None = None) -> Catalog:
    """The (shared, cached) catalogue of a config; default config when None."""
    config = config or EmulatorConfig()
    key = _config_key(config)
    with _CATALOGS_LOCK:
        cat = _CATALOGS.get(key)
        if cat is None:
            cat = _CATALOGS[key] = Catalog(config)
            if len(_CATALOGS) > 16:
                _CATALOGS.pop(next(iter(_CATALOGS)))
        return cat


def active_item_ids(seller: str, day: int, config: EmulatorConfig | None = None) -> list[str]:
    """ItemIDs active on ``day``, ascending (= GetMyeBaySelling order with Sort=ItemID)."""
    return get_catalog(config).active_item_ids(seller, day)


def item_state(seller: str, item_id: str, day: int, config: EmulatorConfig | None = None) -> dict[str, Any] | None:
    """Expected values of one listing on ``day`` (None if it does not exist yet/at all)."""
    return get_catalog(config).item_state(seller, item_id, day)

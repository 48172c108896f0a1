"""The catalogue's truth functions: deterministic, realistic, evolving by day (no HTTP)."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

from include.ebay_emulator.catalog import Catalog, active_item_ids, get_catalog, item_state
from include.ebay_emulator.config import EmulatorConfig


def test_day0_counts_are_exact_and_ids_sorted_unique():
    a = active_item_ids("seller_a", 0)
    b = active_item_ids("seller_b", 0)
    assert (len(a), len(b)) == (2400, 1911)
    assert len(set(a) | set(b)) == 4311
    for ids in (a, b):
        assert ids == sorted(ids, key=int)
        assert all(len(i) == 12 and i.isdigit() for i in ids)


def test_same_seed_same_catalogue_other_seed_differs():
    c1 = Catalog(EmulatorConfig(seed=42))
    c2 = Catalog(EmulatorConfig(seed=42))
    c3 = Catalog(EmulatorConfig(seed=7))
    ids = c1.active_item_ids("seller_a", 5)
    assert ids == c2.active_item_ids("seller_a", 5)
    assert [c1.item_state("seller_a", i, 5) for i in ids[:50]] == [c2.item_state("seller_a", i, 5) for i in ids[:50]]
    titles1 = [c1.static("seller_a", k).title for k in range(50)]
    titles3 = [c3.static("seller_a", k).title for k in range(50)]
    assert titles1 != titles3


def test_day_churn_started_and_ended_are_consistent():
    cat = get_catalog()
    for seller in ("seller_a", "seller_b"):
        prev = set(cat.active_item_ids(seller, 0))
        total_started = total_ended = 0
        for day in range(1, 11):
            cur = set(cat.active_item_ids(seller, day))
            started, ended = set(cat.started_item_ids(seller, day)), set(cat.ended_item_ids(seller, day))
            # new listings that also ended the same day never show up; everything else adds up
            assert cur - prev <= started
            assert prev - cur == ended
            assert started - cur == started & ended
            # new listings have the highest ids (sort last by ItemID)
            if started - ended:
                assert min(map(int, started - ended)) > max(map(int, prev))
            total_started += len(started)
            total_ended += len(ended)
            prev = cur
        n0 = cat.sellers[seller].initial
        # ~0.3 % a day each way over 10 days: between 1 and 8 per mille of n0 per day on average
        assert 0.001 * n0 * 10 <= total_started <= 0.008 * n0 * 10
        assert 0.001 * n0 * 10 <= total_ended <= 0.008 * n0 * 10


def test_lifetime_numbers_never_decrease_and_quantity_available_non_negative():
    cat = get_catalog()
    ids = cat.active_item_ids("seller_a", 0)[:300]
    changed_price = changed_watch = sold_more = 0
    for iid in ids:
        states = [cat.item_state("seller_a", iid, d) for d in range(0, 31)]
        states = [s for s in states if s["active"]]
        for a, b in zip(states, states[1:]):
            assert b["quantity_sold"] >= a["quantity_sold"]
            assert (b["hit_count"] or 0) >= (a["hit_count"] or 0)
            assert b["bid_count"] >= a["bid_count"]
            changed_price += a["price"] != b["price"]
            changed_watch += a["watch_count"] != b["watch_count"]
            sold_more += b["quantity_sold"] > a["quantity_sold"]
        for s in states:
            assert s["quantity_available"] >= 0
            assert s["quantity"] == s["quantity_available"] + s["quantity_sold"]
            assert s["views"] > 0 and s["impressions"] >= s["views"]
            assert 0 <= s["transactions"] <= s["views"]
            assert isinstance(s["price"], Decimal) and Decimal("0.99") <= s["price"] <= Decimal("12345.67")
            assert s["price"] == s["price"].quantize(Decimal("0.01"))
    assert changed_price > 0 and changed_watch > 0 and sold_more > 0


def test_day_changes_are_deterministic_across_catalogue_instances():
    c1, c2, c3 = Catalog(EmulatorConfig()), Catalog(EmulatorConfig()), Catalog(EmulatorConfig())
    ids = c1.active_item_ids("seller_b", 9)[:100]
    direct9 = [c1.item_state("seller_b", i, 9) for i in ids]
    # other query orders (forward via day 3, backward from day 9) must not change any answer
    early = [c2.item_state("seller_b", i, 3) for i in ids]
    assert [c2.item_state("seller_b", i, 9) for i in ids] == direct9
    assert [c1.item_state("seller_b", i, 3) for i in ids] == early
    assert [c3.item_state("seller_b", i, 3) for i in ids] == early


def test_attribute_variety():
    cat = get_catalog(EmulatorConfig(sellers=("seller_a", "seller_b", "seller_c"), listings=(2400, 1911, 500)))
    statics = [cat.static(s, k) for s in ("seller_a", "seller_b", "seller_c") for k in range(cat.sellers[s].initial)]
    n = len(statics)
    assert {s.currency for s in statics} == {"USD", "GBP", "EUR"}
    types = Counter(s.listing_type for s in statics)
    assert 0.10 < types["Chinese"] / n < 0.20 and 0.80 < types["FixedPriceItem"] / n < 0.90
    assert 0.65 < sum(s.sku is not None for s in statics) / n < 0.75
    titles = [s.title for s in statics]
    for ch in "&<>\"'":
        assert any(ch in t for t in titles), ch
    assert any("腕時計" in t for t in titles)
    assert any(any(ord(c) > 127 for c in t) and not any("\u3040" <= c <= "\u30ff" for c in t) for t in titles)
    assert all(len(t) <= 80 for t in titles)
    assert len({s.category_id for s in statics}) >= 10
    assert all(s.gallery_url.startswith("https://i.ebayimg.com/images/g/") and s.gallery_url.endswith("/s-l140.jpg")
               for s in statics)
    assert {s.view_item_url.split("/itm/")[0] for s in statics} == {
        "https://www.ebay.com", "https://www.ebay.co.uk", "https://www.ebay.de"}
    assert any(not s.has_hit_counter for s in statics) and any(s.has_hit_counter for s in statics)
    watch0 = [cat.snapshot(s.seller, s.slot, 0).watch_count == 0 for s in statics[:1000]]
    assert any(watch0) and not all(watch0)


def test_single_int_listings_and_unknown_ids():
    cfg = EmulatorConfig(sellers=("solo",), listings=201)
    assert len(active_item_ids("solo", 0, cfg)) == 201
    assert item_state("solo", "999999999999", 0, cfg) is None
    assert item_state("solo", "not-an-id", 0, cfg) is None
    first = active_item_ids("solo", 0, cfg)[0]
    assert item_state("solo", first, 0, cfg)["item_id"] == first
    # an id from the future is not known yet
    future = get_catalog(cfg).started_item_ids("solo", 30)
    if future:
        assert item_state("solo", future[0], 0, cfg) is None


def test_traffic_truth_matches_item_state():
    cat = get_catalog()
    iid = cat.active_item_ids("seller_a", 3)[7]
    st = cat.item_state("seller_a", iid, 3)
    tr = cat.traffic("seller_a", iid, 3)
    assert tr == {"views": st["views"], "impressions": st["impressions"], "transactions": st["transactions"]}

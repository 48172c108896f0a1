"""GetSellerList over real HTTP: windows, paging, items identical to GetItem's, errors,
call limit, latency, faults.  Expected values come from the catalogue's truth functions."""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
import requests
import xmltodict

from include.ebay_emulator.catalog import iso_z
from include.ebay_emulator.config import DEFAULT_LATENCIES, EmulatorConfig
from include.ebay_trends import trading          # the project's GetItem parser (read-only use)
from include.ebay_trends.records import BadItem, ItemDetails

from .helpers import NS, Api, get_item_body, page_items, seller_list_body, seller_list_items, selling_body

DAY = 86400
GTC = 30 * DAY


def _now(srv) -> int:
    return srv.catalog.now_ts(srv.state.day)


def _win(lo: int, hi: int) -> tuple[str, str]:
    return iso_z(lo), iso_z(hi)


def _ts(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp())


def _seconds(duration: str) -> int:
    d, h, m, s = map(int, re.fullmatch(r"P(\d+)DT(\d+)H(\d+)M(\d+)S", duration).groups())
    return ((d * 24 + h) * 60 + m) * 60 + s


def _walk(api: Api, *, end=None, start=None, epp: int = 200) -> tuple[list[dict], list[dict]]:
    """Every page 1..TotalNumberOfPages (as page 1 reports it): (items in order, responses)."""
    first = api.seller_list(1, epp, end=end, start=start)
    assert first["Ack"] == "Success", first.get("Errors")
    pr = first["PaginationResult"]
    resps = [first]
    for p in range(2, int(pr["TotalNumberOfPages"]) + 1):
        r = api.seller_list(p, epp, end=end, start=start)
        assert r["Ack"] == "Success" and r["PaginationResult"] == pr
        resps.append(r)
    return [i for r in resps for i in seller_list_items(r)], resps


def _ids(items: list[dict]) -> list[str]:
    return [i["ItemID"] for i in items]


def _parsed_items(raw: bytes, call: str) -> list[dict]:
    """Items the way the project parses Trading XML (repeating elements always lists)."""
    content = xmltodict.parse(raw, force_list=trading.FORCE_LIST)[f"{call}Response"]
    node = content["ItemArray"]["Item"] if call == "GetSellerList" else content["Item"]
    return node


# --------------------------------------------------------------------------- selection and paging
@pytest.mark.parametrize("seller", ["seller_a", "seller_b"])
def test_window_now_to_120_days_returns_every_active_listing_exactly_once(emulator, make_api, seller):
    api = make_api(emulator, seller)
    now = _now(emulator)
    items, resps = _walk(api, end=_win(now, now + 120 * DAY))
    ids = _ids(items)
    truth = emulator.catalog.active_item_ids(seller, 0)
    assert len(ids) == len(set(ids))                       # no duplicates across pages
    assert set(ids) == set(truth) and len(ids) == len(truth)
    n, pages = len(truth), math.ceil(len(truth) / 200)
    assert len(resps) == pages
    for k, r in enumerate(resps, 1):
        assert r["PaginationResult"] == {"TotalNumberOfPages": str(pages), "TotalNumberOfEntries": str(n)}
        assert r["HasMoreItems"] == ("true" if k < pages else "false")
        assert (r["PageNumber"], r["ItemsPerPage"]) == (str(k), "200")
        assert int(r["ReturnedItemCountActual"]) == len(seller_list_items(r)) == min(200, n - (k - 1) * 200)
    assert {i["SellingStatus"]["ListingStatus"] for i in items} == {"Active"}
    # EndTime ascending, then ItemID (numeric) ascending; active listings end at their next
    # GTC renewal, never more than 30 days ahead
    keys = [(_ts(i["ListingDetails"]["EndTime"]), int(i["ItemID"])) for i in items]
    assert keys == sorted(keys)
    assert all(now < end <= now + GTC for end, _ in keys)


def test_response_elements_in_ebays_order(emulator, api):
    now = _now(emulator)
    raw = api.trading_raw("GetSellerList", seller_list_body(1, 3, end=_win(now, now + 120 * DAY))).content
    root = ET.fromstring(raw)
    assert root.tag == f"{{{NS}}}GetSellerListResponse"
    assert [c.tag.split("}")[1] for c in root] == [
        "Timestamp", "Ack", "Version", "Build", "PaginationResult", "HasMoreItems", "ItemArray",
        "ItemsPerPage", "PageNumber", "ReturnedItemCountActual"]
    assert len(root.find(f"{{{NS}}}ItemArray")) == 3


def test_pages_are_stable_within_a_day_and_independent_of_page_size(emulator, api):
    now = _now(emulator)
    w = _win(now, now + 120 * DAY)
    by_200, _ = _walk(api, end=w)
    by_37, resps = _walk(api, end=w, epp=37)
    assert _ids(by_37) == _ids(by_200)
    assert len(resps) == math.ceil(2400 / 37) and resps[0]["ItemsPerPage"] == "37"
    body = seller_list_body(4, end=w)
    assert api.trading_raw("GetSellerList", body).content == api.trading_raw("GetSellerList", body).content
    # EntriesPerPage omitted: 200
    default = api.seller_list(1, None, end=w)
    assert default["ItemsPerPage"] == "200" and _ids(seller_list_items(default)) == _ids(by_200)[:200]


def test_each_item_is_get_items_item_and_parses_with_the_project_parser(emulator, api):
    cat = emulator.catalog
    now = _now(emulator)
    raw = api.trading_raw("GetSellerList", seller_list_body(2, end=_win(now, now + 120 * DAY))).content
    items = _parsed_items(raw, "GetSellerList")
    assert len(items) == 200
    auctions = no_hit_counter = 0
    for it in items[::4]:
        iid = it["ItemID"]
        gi = _parsed_items(api.trading_raw("GetItem", get_item_body(iid)).content, "GetItem")
        assert gi == [it]                                  # the very same Item content
        details = trading.parse_item_details(it)
        assert isinstance(details, ItemDetails), details
        assert details == trading.parse_item_details(gi[0])
        t = cat.item_state("seller_a", iid, 0)
        assert (details.category_id, details.category_name) == (t["category_id"], t["category_name"])
        assert details.listing_status == "Active"
        assert (details.start_time, details.end_time) == (t["start_time"], t["end_time"])
        assert (details.price, details.currency) == (t["price"], "USD")
        assert (details.watch_count, details.hit_count) == (t["watch_count"], t["hit_count"])
        assert (details.quantity, details.quantity_sold, details.bid_count) == \
            (t["quantity"], t["quantity_sold"], t["bid_count"])
        auctions += details.listing_type == "Chinese"
        no_hit_counter += details.hit_count is None
    assert auctions and no_hit_counter
    no_watch = api.seller_list(2, end=_win(now, now + 120 * DAY), watch=False)
    assert not any("WatchCount" in i for i in seller_list_items(no_watch))


def test_end_time_is_the_next_gtc_renewal_and_agrees_with_time_left(emulator, api):
    cat = emulator.catalog
    now = _now(emulator)
    items, _ = _walk(api, end=_win(now, now + 120 * DAY))
    by_id = {i["ItemID"]: i for i in items}
    selling = page_items(api.page(1))                      # GetMyeBaySelling: TimeLeft only
    for s in selling:
        it = by_id[s["ItemID"]]
        end, start = _ts(it["ListingDetails"]["EndTime"]), _ts(it["ListingDetails"]["StartTime"])
        assert end - now == _seconds(s["TimeLeft"]) == _seconds(it["TimeLeft"])
        assert (end - start) % GTC == 0                    # a whole number of 30-day periods
    # one listing over 31 days: EndTime holds until the renewal, then moves on 30 days
    iid = next(i for i in cat.active_item_ids("seller_a", 0) if cat.item_state("seller_a", i, 0)["end_day"] > 40)
    first_end = cat.item_state("seller_a", iid, 0)["end_time"]
    for day in range(0, 32):
        api.admin_post("state", {"day": day})
        end = datetime.fromisoformat(api.get_item(iid)["Item"]["ListingDetails"]["EndTime"].replace("Z", "+00:00"))
        day_now = datetime.fromtimestamp(cat.now_ts(day), timezone.utc)
        assert end == (first_end if day_now < first_end else first_end + timedelta(days=30)), day


def test_listings_ended_inside_the_window_come_back_ended_or_completed(emulator, api):
    cat = emulator.catalog
    api.admin_post("state", {"day": 5})
    now = cat.now_ts(5)
    ended = [i for d in range(1, 6) for i in cat.ended_item_ids("seller_a", d)]
    assert ended
    items, _ = _walk(api, end=_win(now - 10 * DAY, now + 110 * DAY))
    by_id = {i["ItemID"]: i for i in items}
    assert len(items) == len(by_id)
    assert set(by_id) == set(cat.active_item_ids("seller_a", 5)) | set(ended)
    for iid in ended:
        it, t = by_id[iid], cat.item_state("seller_a", iid, 5)
        assert it["SellingStatus"]["ListingStatus"] == ("Completed" if t["quantity_sold"] else "Ended")
        end = datetime.fromisoformat(it["ListingDetails"]["EndTime"].replace("Z", "+00:00"))
        assert end == t["end_time"] == t["final_end_time"] and end.timestamp() < now
        assert api.get_item(iid)["Item"] == it
    # a window starting now holds the active listings only
    later, _ = _walk(api, end=_win(now, now + 120 * DAY))
    assert set(_ids(later)) == set(cat.active_item_ids("seller_a", 5))


def test_start_time_window_alone_and_with_an_end_time_window(emulator, api):
    cat = emulator.catalog
    api.admin_post("state", {"day": 6})
    now = cat.now_ts(6)
    midnight_day2 = cat.now_ts(2) - DAY // 2
    started = [i for d in range(2, 7) for i in cat.started_item_ids("seller_a", d)]
    assert started
    items, _ = _walk(api, start=_win(midnight_day2, now))
    assert sorted(_ids(items), key=int) == started          # ended ones too: they started in the window
    active = set(cat.active_item_ids("seller_a", 6))
    assert set(started) - active                            # some of them ended already
    both, _ = _walk(api, start=_win(midnight_day2, now), end=_win(now, now + 120 * DAY))
    assert set(_ids(both)) == set(started) & active
    # listings of day 0 started during the year before it
    api.admin_post("state", {"day": 0})
    t0 = cat.now_ts(0) - DAY // 2
    lo, hi = t0 - 100 * DAY, t0 - 1
    expected = [i for i in cat.active_item_ids("seller_a", 0)
                if lo <= cat.item_state("seller_a", i, 0)["start_time"].timestamp() <= hi]
    old, _ = _walk(api, start=_win(lo, hi))
    assert 0 < len(old) < 2400 and sorted(_ids(old), key=int) == expected


def test_any_window_equals_a_brute_force_over_the_truth(emulator, api):
    """Day 40: renewed listings, listings started since day 0 and 40 days of ended ones."""
    cat = emulator.catalog
    api.admin_post("state", {"day": 40})
    now = cat.now_ts(40)
    existing = cat.active_item_ids("seller_a", 40) + [
        i for d in range(1, 41) for i in cat.ended_item_ids("seller_a", d)]
    truth = {i: cat.item_state("seller_a", i, 40) for i in existing}
    lo, hi = now - 50 * DAY, now + 70 * DAY
    s_lo, s_hi = cat.now_ts(0) - 100 * DAY, cat.now_ts(20)      # exactly 120 days
    expected = sorted(((t["end_time"].timestamp(), int(i)) for i, t in truth.items()
                       if lo <= t["end_time"].timestamp() <= hi and s_lo <= t["start_time"].timestamp() <= s_hi))
    assert 200 < len(expected) < len(existing)
    items, _ = _walk(api, end=_win(lo, hi), start=_win(s_lo, s_hi), epp=150)
    assert [(_ts(i["ListingDetails"]["EndTime"]), int(i["ItemID"])) for i in items] == expected
    for it in items[::97]:
        t = truth[it["ItemID"]]
        assert it["SellingStatus"]["ListingStatus"] == (
            "Active" if t["active"] else "Completed" if t["quantity_sold"] else "Ended")


def test_without_gtc_renewal_end_time_is_the_real_end(emulator_factory):
    srv = emulator_factory(gtc_period_days=0)
    cat, api = srv.catalog, Api(srv.url)
    now = _now(srv)
    items, _ = _walk(api, end=_win(now, now + 120 * DAY))
    truth = {i: cat.item_state("seller_a", i, 0) for i in cat.active_item_ids("seller_a", 0)}
    expected = [i for i, t in truth.items() if t["end_time"].timestamp() <= now + 120 * DAY]
    assert 0 < len(expected) < len(truth)                   # most listings end later than 120 days
    assert sorted(_ids(items), key=int) == expected
    for it in items[::50]:
        end = datetime.fromisoformat(it["ListingDetails"]["EndTime"].replace("Z", "+00:00"))
        assert end == truth[it["ItemID"]]["final_end_time"] == truth[it["ItemID"]]["end_time"]
        assert api.get_item(it["ItemID"])["Item"] == it


def test_page_past_the_end_is_an_empty_success(emulator, api):
    now = _now(emulator)
    w = _win(now, now + 120 * DAY)
    r = api.seller_list(13, end=w)
    assert r["Ack"] == "Success" and seller_list_items(r) == []
    assert r["PaginationResult"] == {"TotalNumberOfPages": "12", "TotalNumberOfEntries": "2400"}
    assert (r["HasMoreItems"], r["PageNumber"], r["ReturnedItemCountActual"]) == ("false", "13", "0")
    far = now + 900 * DAY                                   # nothing ends then
    r = api.seller_list(1, end=_win(far, far + DAY))
    assert r["Ack"] == "Success" and seller_list_items(r) == []
    assert r["PaginationResult"] == {"TotalNumberOfPages": "0", "TotalNumberOfEntries": "0"}


# --------------------------------------------------------------------------- request errors
def _raw_request(fields: str, pagination: str = "<EntriesPerPage>200</EntriesPerPage><PageNumber>1</PageNumber>"):
    return (f'<?xml version="1.0" encoding="utf-8"?><GetSellerListRequest xmlns="{NS}">'
            f"<DetailLevel>ReturnAll</DetailLevel>{fields}<Pagination>{pagination}</Pagination>"
            "</GetSellerListRequest>")


A, B = "2026-11-01T12:00:00.000Z", "2027-02-28T12:00:00.000Z"      # exactly 119 days apart
BAD_REQUESTS = {
    "no window": _raw_request(""),
    "EndTimeFrom alone": _raw_request(f"<EndTimeFrom>{A}</EndTimeFrom>"),
    "StartTimeTo alone": _raw_request(f"<StartTimeTo>{A}</StartTimeTo>"),
    "half a pair beside a whole one": _raw_request(
        f"<EndTimeFrom>{A}</EndTimeFrom><EndTimeTo>{B}</EndTimeTo><StartTimeFrom>{A}</StartTimeFrom>"),
    "To before From": _raw_request(f"<EndTimeFrom>{B}</EndTimeFrom><EndTimeTo>{A}</EndTimeTo>"),
    "120 days and a second": _raw_request(
        f"<EndTimeFrom>{A}</EndTimeFrom><EndTimeTo>2027-03-01T12:00:01.000Z</EndTimeTo>"),
    "start window over 120 days": _raw_request(
        f"<StartTimeFrom>2026-01-01T00:00:00.000Z</StartTimeFrom><StartTimeTo>{A}</StartTimeTo>"),
    "month 13": _raw_request(f"<EndTimeFrom>2026-13-01T00:00:00.000Z</EndTimeFrom><EndTimeTo>{B}</EndTimeTo>"),
    "not a date": _raw_request(f"<EndTimeFrom>yesterday</EndTimeFrom><EndTimeTo>{B}</EndTimeTo>"),
    "date without time": _raw_request(f"<EndTimeFrom>2026-11-01</EndTimeFrom><EndTimeTo>{B}</EndTimeTo>"),
    "EntriesPerPage 0": _raw_request(f"<EndTimeFrom>{A}</EndTimeFrom><EndTimeTo>{B}</EndTimeTo>",
                                     "<EntriesPerPage>0</EntriesPerPage><PageNumber>1</PageNumber>"),
    "EntriesPerPage 201": _raw_request(f"<EndTimeFrom>{A}</EndTimeFrom><EndTimeTo>{B}</EndTimeTo>",
                                       "<EntriesPerPage>201</EntriesPerPage><PageNumber>1</PageNumber>"),
    "PageNumber 0": _raw_request(f"<EndTimeFrom>{A}</EndTimeFrom><EndTimeTo>{B}</EndTimeTo>",
                                 "<EntriesPerPage>200</EntriesPerPage><PageNumber>0</PageNumber>"),
    "PageNumber x": _raw_request(f"<EndTimeFrom>{A}</EndTimeFrom><EndTimeTo>{B}</EndTimeTo>",
                                 "<EntriesPerPage>200</EntriesPerPage><PageNumber>x</PageNumber>"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_invalid_requests_fail_with_37(api, case):
    r = api.trading("GetSellerList", BAD_REQUESTS[case])
    assert r["Ack"] == "Failure"
    err = r["Errors"]
    assert (err["ErrorCode"], err["ShortMessage"], err["SeverityCode"], err["ErrorClassification"]) == \
        ("37", "Input data is invalid.", "Error", "RequestError")
    assert err["LongMessage"] and err["LongMessage"] != err["ShortMessage"]
    assert "ItemArray" not in r and "PaginationResult" not in r


def test_window_limits_and_time_formats_that_are_accepted(emulator, api):
    now = _now(emulator)
    exact = api.seller_list(1, 5, end=_win(now, now + 120 * DAY))       # exactly 120 days: allowed
    assert exact["Ack"] == "Success"
    same = [api.seller_list(1, 5, end=w) for w in (
        ("2026-11-01T12:00:00Z", "2027-02-01T12:00:00Z"),
        ("2026-11-01T13:00:00.000+01:00", "2027-02-01T07:00:00-05:00"),
        ("2026-11-01T12:00:00", "2027-02-01T12:00:00.0000000"),        # no zone: GMT
    )]
    assert all(r["Ack"] == "Success" for r in same)
    assert len({tuple(_ids(seller_list_items(r))) for r in same}) == 1
    assert same[0]["PaginationResult"]["TotalNumberOfEntries"] == "2400"


# --------------------------------------------------------------------------- limits and latency
def test_call_limit_518_counts_get_seller_list(emulator_factory):
    srv = emulator_factory(call_limit=4)
    api = Api(srv.url)
    now = _now(srv)
    w = _win(now, now + 120 * DAY)
    assert [api.seller_list(p, end=w)["Ack"] for p in (1, 2, 3)] == ["Success"] * 3
    iid = srv.catalog.active_item_ids("seller_a", 0)[0]
    assert api.get_item(iid)["Ack"] == "Success"
    r = api.seller_list(4, end=w)
    assert r["Ack"] == "Failure" and "ItemArray" not in r
    assert r["Errors"]["ErrorCode"] == "518" and r["Errors"]["ErrorClassification"] == "RequestError"
    calls = api.admin_get("calls")
    assert calls["by_call"]["GetSellerList"] == 4
    assert calls["trading_quota"]["emulator-client-id"]["2026-11-01"] == 5
    assert calls["outcomes"]["GetSellerList:ok"] == 3 and calls["outcomes"]["GetSellerList:error:518"] == 1
    api.admin_post("advance_day", {"days": 1})
    assert api.seller_list(1, 5, end=_win(now + DAY, now + 100 * DAY))["Ack"] == "Success"


def test_latency_is_configured_twice_get_my_ebay_selling_and_applied(emulator, api):
    assert DEFAULT_LATENCIES["GetSellerList"] == 0.60 == 2 * DEFAULT_LATENCIES["GetMyeBaySelling"]
    assert EmulatorConfig().latencies["GetSellerList"] == 0.60
    assert api.admin_get("state")["latencies"]["GetSellerList"] == 0.60
    api.admin_post("state", {"latencies": {"GetSellerList": 0.25}, "latency_scale": 2.0})
    assert emulator.state.latency("GetSellerList") == 0.5
    api.admin_post("state", {"latency_scale": 0.0})
    api.token                                              # noqa: B018  (OAuth call before watching)
    asked: list[str] = []
    emulator.state.latency = lambda call: asked.append(call) or 0.0     # instance attribute shadows the method
    try:
        now = _now(emulator)
        assert api.seller_list(1, 5, end=_win(now, now + 120 * DAY))["Ack"] == "Success"
    finally:
        del emulator.state.latency
    assert asked == ["GetSellerList"]


def test_cli_and_admin_state_name_the_call_and_the_gtc_period(api):
    from include.ebay_emulator.__main__ import build_parser

    assert "GetSellerList" in build_parser().description
    assert api.admin_get("state")["gtc_period_days"] == 30


def test_100k_listing_seller(emulator_factory):
    srv = emulator_factory(sellers=("big",), listings=100_000, marketplaces={"big": ("EBAY_US", "USD")})
    api = Api(srv.url, "big")
    now = _now(srv)
    w = _win(now, now + 120 * DAY)
    pages = [api.seller_list(p, end=w) for p in (1, 250, 500)]
    for r in pages:
        assert r["PaginationResult"] == {"TotalNumberOfPages": "500", "TotalNumberOfEntries": "100000"}
        assert len(seller_list_items(r)) == 200
    assert [r["HasMoreItems"] for r in pages] == ["true", "true", "false"]
    items = [i for r in pages for i in seller_list_items(r)]
    ids = _ids(items)
    assert len(set(ids)) == 600 and set(ids) <= set(srv.catalog.active_item_ids("big", 0))
    keys = [(_ts(i["ListingDetails"]["EndTime"]), int(i["ItemID"])) for i in items]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------- faults
@pytest.mark.faults
def test_fail_pages_can_name_get_seller_list(emulator, api):
    now = _now(emulator)
    w = _win(now, now + 120 * DAY)
    api.admin_post("state", {"faults": {"fail_pages": [
        {"seller": "seller_a", "page": 2, "kind": "http503", "call": "GetSellerList"}]}})
    for _ in range(2):
        assert api.trading_raw("GetSellerList", seller_list_body(2, end=w)).status_code == 503
    assert api.seller_list(1, end=w)["Ack"] == "Success" and api.seller_list(3, end=w)["Ack"] == "Success"
    assert api.page(2)["Ack"] == "Success"                   # GetMyeBaySelling's page 2 is fine
    # an entry without "call" keeps meaning GetMyeBaySelling
    api.admin_post("state", {"faults": {"fail_pages": [{"seller": "seller_a", "page": 2}]}})
    assert api.trading_raw("GetMyeBaySelling", selling_body(2)).status_code == 500
    assert api.seller_list(2, end=w)["Ack"] == "Success"
    api.admin_post("state", {"faults": {"fail_pages": [{"seller": "seller_a", "page": 2, "call": "GetItem"}]}},
                   expect=400)


@pytest.mark.faults
@pytest.mark.parametrize("kind", ["http500", "10007", "malformed", "truncated"])
def test_random_errors_apply_to_get_seller_list(emulator, api, kind):
    assert "GetSellerList" in api.admin_get("state")["faults"]["error_calls"]      # in the default mix
    now = _now(emulator)
    body = seller_list_body(1, end=_win(now, now + 120 * DAY))
    api.token                                              # noqa: B018
    api.admin_post("state", {"faults": {"error_rate": 1.0, "error_kinds": [kind], "error_calls": ["GetSellerList"]}})
    if kind == "truncated":
        with pytest.raises(requests.exceptions.RequestException):
            api.trading_raw("GetSellerList", body)
    else:
        r = api.trading_raw("GetSellerList", body)
        if kind == "http500":
            assert r.status_code == 500
        elif kind == "10007":
            doc = xmltodict.parse(r.content)["GetSellerListResponse"]
            assert doc["Errors"]["ErrorCode"] == "10007" and doc["Errors"]["ErrorClassification"] == "SystemError"
        else:
            with pytest.raises(Exception):
                xmltodict.parse(r.content)
    assert api.get_item(emulator.catalog.active_item_ids("seller_a", 0)[0])["Ack"] == "Success"
    assert api.admin_get("calls")["outcomes"][f"GetSellerList:fault:{kind}"] == 1


@pytest.mark.faults
def test_corrupt_and_duplicate_items_on_seller_list_pages(emulator, api):
    now = _now(emulator)
    w = _win(now, now + 120 * DAY)
    clean = [_ids(seller_list_items(api.seller_list(p, end=w))) for p in (1, 2)]
    api.admin_post("state", {"faults": {"corrupt_items": [
        {"seller": "seller_a", "page": 1, "kind": "bad_price", "call": "GetSellerList"},
        {"seller": "seller_a", "page": 1, "kind": "duplicate_item", "call": "GetSellerList"}]}})
    items = _parsed_items(api.trading_raw("GetSellerList", seller_list_body(1, end=w)).content, "GetSellerList")
    parsed = [trading.parse_item_details(i) for i in items]
    assert [i for i, p in enumerate(parsed) if isinstance(p, BadItem)] == [100]
    assert items[100]["SellingStatus"]["CurrentPrice"]["#text"] == "12,34x"
    page2 = api.seller_list(2, end=w)
    assert _ids(seller_list_items(page2)) == [clean[0][-1]] + clean[1]
    assert page2["ReturnedItemCountActual"] == "201"
    assert all("CurrentPrice" in i["SellingStatus"] for i in page_items(api.page(1)))   # GetMyeBaySelling untouched


@pytest.mark.faults
def test_not_found_items_are_left_out(emulator, api):
    now = _now(emulator)
    w = _win(now, now + 120 * DAY)
    gone = emulator.catalog.active_item_ids("seller_a", 0)[7]
    api.admin_post("state", {"faults": {"not_found_items": [gone]}})
    items, resps = _walk(api, end=w)
    assert gone not in _ids(items) and len(items) == 2399
    assert resps[0]["PaginationResult"]["TotalNumberOfEntries"] == "2399"


@pytest.mark.faults
def test_drift_ended_and_started_listings(emulator, api):
    api.admin_post("state", {"faults": {"drift": {"seller": "seller_a", "end_per_call": 2, "start_per_call": 1}}})
    api.page(1)                                            # one GetMyeBaySelling call: 2 end, 1 starts
    served = api.admin_get("catalog", seller="seller_a", day=0, ids=1)
    ended, started = served["ended"], served["started"]
    assert len(ended) == 2 and len(started) == 1
    now = _now(emulator)
    items, _ = _walk(api, end=_win(now - DAY, now + 119 * DAY))
    by_id = {i["ItemID"]: i for i in items}
    assert len(items) == len(by_id) == 2401
    assert set(by_id) == set(served["active_ids"]) | set(ended)
    for iid in ended:
        assert by_id[iid]["SellingStatus"]["ListingStatus"] in ("Ended", "Completed")
        assert _ts(by_id[iid]["ListingDetails"]["EndTime"]) < now
    assert by_id[started[0]]["SellingStatus"]["ListingStatus"] == "Active"
    for iid in ended + started:
        assert api.get_item(iid)["Item"] == by_id[iid]
    active_only, _ = _walk(api, end=_win(now, now + 120 * DAY))
    assert set(_ids(active_only)) == set(served["active_ids"])

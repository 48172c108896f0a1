"""Trading API over real HTTP: paging, fields, errors, call limit."""
from __future__ import annotations

from decimal import Decimal

import pytest
import xmltodict

from .helpers import Api, as_list, get_item_body, page_items, selling_body


def _ids_via_http(api: Api, epp: int = 200, sort: str = "ItemID") -> tuple[list[str], int, int]:
    first = api.page(1, epp, sort)
    pr = first["ActiveList"]["PaginationResult"]
    pages, entries = int(pr["TotalNumberOfPages"]), int(pr["TotalNumberOfEntries"])
    ids = [i["ItemID"] for i in page_items(first)]
    for p in range(2, pages + 1):
        ids += [i["ItemID"] for i in page_items(api.page(p, epp, sort))]
    return ids, pages, entries


def test_paging_both_sellers_yields_4311_distinct_ids_matching_truth(emulator, make_api):
    all_ids: list[str] = []
    for seller in ("seller_a", "seller_b"):
        api = make_api(emulator, seller)
        ids, pages, entries = _ids_via_http(api)
        assert ids == emulator.catalog.active_item_ids(seller, 0)
        assert entries == len(ids) and pages == -(-entries // 200)
        all_ids += ids
    assert len(all_ids) == len(set(all_ids)) == 4311


def test_same_seed_same_bytes_for_a_page(emulator_factory):
    bodies = []
    for _ in range(2):
        srv = emulator_factory(seed=42)
        api = Api(srv.url)
        bodies.append(api.trading_raw("GetMyeBaySelling", selling_body(3)).content)
    assert bodies[0] == bodies[1]
    other = Api(emulator_factory(seed=43).url).trading_raw("GetMyeBaySelling", selling_body(3)).content
    assert other != bodies[0]


def test_item_fields_match_truth_and_escape_round_trips(emulator, api):
    cat = emulator.catalog
    seen_special = seen_watch_omitted = seen_auction = seen_no_sku = 0
    for p in range(1, 13):
        for it in page_items(api.page(p)):
            truth = cat.item_state("seller_a", it["ItemID"], 0)
            assert it["Title"] == truth["title"]
            assert it.get("SKU") == truth["sku"]
            assert it["ListingType"] == truth["listing_type"]
            price = it["SellingStatus"]["CurrentPrice"]
            assert Decimal(price["#text"]) == truth["price"] and price["@currencyID"] == "USD"
            assert int(it["SellingStatus"]["QuantitySold"]) == truth["quantity_sold"]
            assert int(it["Quantity"]) == truth["quantity"]
            assert int(it["QuantityAvailable"]) == truth["quantity_available"]
            assert int(it.get("WatchCount", 0)) == truth["watch_count"]
            assert it["ListingDetails"]["StartTime"].endswith(".000Z")
            assert it["ListingDetails"]["ViewItemURL"] == f"https://www.ebay.com/itm/{it['ItemID']}"
            assert it["PictureDetails"]["GalleryURL"].endswith("/s-l140.jpg")
            assert it["TimeLeft"].startswith("P") and "T" in it["TimeLeft"]
            assert "PrimaryCategory" not in it and "HitCount" not in it
            if truth["listing_type"] == "Chinese":
                seen_auction += 1
                assert int(it["SellingStatus"]["BidCount"]) == truth["bid_count"]
            seen_special += any(c in truth["title"] for c in "&<>\"'")
            seen_watch_omitted += "WatchCount" not in it
            seen_no_sku += "SKU" not in it
    assert seen_special and seen_watch_omitted and seen_auction and seen_no_sku


def test_other_marketplace_currency_and_site_id(emulator, make_api):
    api = make_api(emulator, "seller_b")
    it = page_items(api.page(1, 5))[0]
    assert it["SellingStatus"]["CurrentPrice"]["@currencyID"] == "GBP"
    assert it["ListingDetails"]["ViewItemURL"].startswith("https://www.ebay.co.uk/itm/")
    # the US site id for a GB account is refused (a client must derive it, not hard-code 0)
    r = api.trading("GetMyeBaySelling", selling_body(1, 5), headers={"X-EBAY-API-SITEID": "0"})
    assert r["Ack"] == "Failure" and r["Errors"]["ErrorCode"] == "37"


@pytest.mark.parametrize("mode", ["empty", "last"])
def test_page_past_the_last_page(emulator_factory, mode):
    srv = emulator_factory(past_last_page=mode)
    api = Api(srv.url)
    last = api.page(12)
    past = api.page(13)
    assert past["Ack"] == "Success"
    assert past["ActiveList"]["PaginationResult"] == last["ActiveList"]["PaginationResult"]
    if mode == "empty":
        assert page_items(past) == []
    else:
        assert page_items(past) == page_items(last) and len(page_items(past)) == 200


def test_switch_past_last_page_at_runtime(emulator, api):
    api.admin_post("state", {"past_last_page": "last"})
    assert len(page_items(api.page(99))) == 200
    api.admin_post("state", {"past_last_page": "empty"})
    assert page_items(api.page(99)) == []


def test_one_item_last_page(emulator_factory):
    srv = emulator_factory(sellers=("solo",), listings=201, marketplaces={"solo": ("EBAY_US", "USD")})
    api = Api(srv.url, "solo")
    resp = api.page(2)
    assert resp["ActiveList"]["PaginationResult"] == {"TotalNumberOfPages": "2", "TotalNumberOfEntries": "201"}
    item = resp["ActiveList"]["ItemArray"]["Item"]
    assert isinstance(item, dict)            # one <Item>: xmltodict gives a dict, not a list
    assert item["ItemID"] == srv.catalog.active_item_ids("solo", 0)[-1]


def test_sort_orders_and_entries_per_page_bounds(emulator, api):
    truth = emulator.catalog.active_item_ids("seller_a", 0)
    assert [i["ItemID"] for i in page_items(api.page(1, 10, "ItemIDDescending"))] == truth[::-1][:10]
    assert [i["ItemID"] for i in page_items(api.page(1, 10, "StartTime"))] == truth[:10]
    assert [i["ItemID"] for i in page_items(api.page(1, 10, None))] == truth[:10]     # default ItemID
    for bad in (201, 0):
        r = api.page(1, bad)
        assert r["Ack"] == "Failure" and r["Errors"]["ErrorCode"] == "37"
        assert r["Errors"]["ErrorClassification"] == "RequestError"
    r = api.page(0)
    assert r["Ack"] == "Failure"
    r = api.page(1, 10, "Bogus")
    assert r["Ack"] == "Failure" and r["Errors"]["SeverityCode"] == "Error"


@pytest.mark.parametrize("missing", ["X-EBAY-API-SITEID", "X-EBAY-API-COMPATIBILITY-LEVEL", "Content-Type"])
def test_missing_headers_rejected(api, missing):
    r = api.trading("GetMyeBaySelling", selling_body(1, 5), headers={missing: None})
    assert r["Ack"] == "Failure" and r["Errors"]["ErrorClassification"] == "RequestError"
    assert "ActiveList" not in r


def test_unknown_call_and_token_errors(emulator, api):
    r = api.trading_raw("GetSellerEvents", "<GetSellerEventsRequest/>")
    doc = xmltodict.parse(r.content)["GetSellerEventsResponse"]
    assert doc["Ack"] == "Failure" and doc["Errors"]["ErrorClassification"] == "RequestError"
    assert doc["Errors"]["ErrorCode"] == "2"
    for tok in ("", "no-such-token"):
        r = api.trading("GetMyeBaySelling", selling_body(1, 5), token=tok)
        assert r["Errors"]["ErrorCode"] == "21916984"
    good = api.token
    assert api.page(1, 5)["Ack"] == "Success"
    assert api.admin_post("expire_tokens")["expired"] >= 1
    r = api.trading("GetMyeBaySelling", selling_body(1, 5), token=good)
    assert r["Errors"]["ErrorCode"] == "21917053" and "ActiveList" not in r
    fresh = api.token_response().json()["access_token"]
    assert api.trading("GetMyeBaySelling", selling_body(1, 5), token=fresh)["Ack"] == "Success"
    api.admin_post("revoke", {"seller": "seller_a"})
    r = api.trading("GetMyeBaySelling", selling_body(1, 5), token=fresh)
    assert r["Errors"]["ErrorCode"] == "932"
    assert api.token_response().status_code == 400
    api.admin_post("unrevoke", {"seller": "seller_a"})
    assert api.trading("GetMyeBaySelling", selling_body(1, 5), token=fresh)["Ack"] == "Success"


def test_token_lifetime_is_wall_clock(emulator, api):
    api.admin_post("state", {"token_lifetime_s": 0})
    tok = api.token_response().json()
    assert tok["expires_in"] == 0
    r = api.trading("GetItem", get_item_body(emulator.catalog.active_item_ids("seller_a", 0)[0]),
                    token=tok["access_token"])
    assert r["Errors"]["ErrorCode"] == "21917053"


def test_request_with_doctype_or_broken_xml_is_rejected(api):
    evil = ('<?xml version="1.0"?><!DOCTYPE GetItemRequest [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<GetItemRequest xmlns="urn:ebay:apis:eBLBaseComponents"><ItemID>&x;</ItemID></GetItemRequest>')
    r = api.trading("GetItem", evil)
    assert r["Ack"] == "Failure" and r["Errors"]["ErrorCode"] == "5"
    r = api.trading("GetItem", "<GetItemRequest><ItemID>1</ItemID>")
    assert r["Errors"]["ErrorCode"] == "5"
    r = api.trading("GetItem", selling_body(1))       # root does not match the call name
    assert r["Errors"]["ErrorCode"] == "5"


def test_get_item_fields(emulator, api):
    cat = emulator.catalog
    ids = cat.active_item_ids("seller_a", 0)
    with_hit = without_hit = 0
    for iid in ids[:60]:
        r = api.get_item(iid)
        assert r["Ack"] == "Success"
        it, truth = r["Item"], cat.item_state("seller_a", iid, 0)
        assert it["ItemID"] == iid and it["Title"] == truth["title"]
        assert it["PrimaryCategory"] == {"CategoryID": truth["category_id"], "CategoryName": truth["category_name"]}
        ss = it["SellingStatus"]
        assert ss["ListingStatus"] == "Active"
        assert Decimal(ss["CurrentPrice"]["#text"]) == truth["price"]
        assert int(ss["QuantitySold"]) == truth["quantity_sold"] and int(ss["BidCount"]) == truth["bid_count"]
        assert int(it["Quantity"]) == truth["quantity"]
        assert int(it["WatchCount"]) == truth["watch_count"]
        assert it["ListingDetails"]["EndTime"].endswith("Z")
        assert as_list(it["PictureDetails"]["PictureURL"])
        if "HitCount" in it:
            with_hit += 1
            assert int(it["HitCount"]) == truth["hit_count"]
        else:
            without_hit += 1
            assert truth["hit_count"] is None
    assert with_hit and without_hit
    no_watch = api.trading("GetItem", get_item_body(ids[0], watch=False))
    assert "WatchCount" not in no_watch["Item"]


def test_get_item_unknown_and_ended_listings(emulator, api):
    r = api.get_item("123")
    assert r["Ack"] == "Failure" and r["Errors"]["ErrorCode"] == "17"
    cat = emulator.catalog
    ended = cat.ended_item_ids("seller_a", 2)
    assert ended
    api.admin_post("state", {"day": 2})
    r = api.get_item(ended[0])
    assert r["Ack"] == "Success"
    assert r["Item"]["SellingStatus"]["ListingStatus"] in ("Completed", "Ended")
    assert ended[0] not in {i["ItemID"] for p in range(1, 13) for i in page_items(api.page(p))}
    api.admin_post("state", {"day": 2 + emulator.config.ended_visible_days})
    assert api.get_item(ended[0])["Errors"]["ErrorCode"] == "17"
    # listings of a future day are unknown today
    api.admin_post("state", {"day": 0})
    future = cat.started_item_ids("seller_a", 5)
    assert future and api.get_item(future[0])["Errors"]["ErrorCode"] == "17"


def test_call_limit_518(emulator_factory):
    srv = emulator_factory(call_limit=5)
    api = Api(srv.url)
    iid = srv.catalog.active_item_ids("seller_a", 0)[0]
    acks = [api.get_item(iid)["Ack"] for _ in range(3)] + [api.page(1, 5)["Ack"] for _ in range(2)]
    assert acks == ["Success"] * 5
    r = api.page(1, 5)
    assert r["Ack"] == "Failure" and "ActiveList" not in r
    assert r["Errors"]["ErrorCode"] == "518" and r["Errors"]["ErrorClassification"] == "RequestError"
    assert api.get_item(iid)["Errors"]["ErrorCode"] == "518"
    # token and traffic calls do not count; the next eBay day resets the quota
    assert api.token_response().status_code == 200
    calls = api.admin_get("calls")
    assert calls["trading_quota"]["emulator-client-id"]["2026-11-01"] == 7
    api.admin_post("advance_day", {"days": 1})
    assert api.get_item(iid)["Ack"] == "Success"


def test_day_advance_changes_pages_deterministically(emulator, api):
    cat = emulator.catalog
    day0 = [i["ItemID"] for i in page_items(api.page(12))]
    api.admin_post("advance_day", {"days": 3})
    ids3, _, entries = _ids_via_http(api)
    assert ids3 == cat.active_item_ids("seller_a", 3) and entries == len(ids3)
    assert day0 != [i["ItemID"] for i in page_items(api.page(12))]
    summary = api.admin_get("catalog", seller="seller_a", day=3)
    assert summary["active_count"] == entries
    assert summary["started"] == cat.started_item_ids("seller_a", 3)
    assert summary["ended"] == cat.ended_item_ids("seller_a", 3)

"""Admin API and fault injection over real HTTP."""
from __future__ import annotations

import threading

import pytest
import requests
import xmltodict
from xml.parsers.expat import ExpatError

from .helpers import Api, get_item_body, page_items, selling_body

pytestmark = pytest.mark.faults


def _outcome(r: requests.Response) -> str:
    if r.status_code != 200:
        return f"http{r.status_code}"
    doc = xmltodict.parse(r.content)["GetItemResponse"]
    return doc["Ack"] if doc["Ack"] == "Success" else doc["Errors"]["ErrorCode"]


def test_healthz_and_state(api):
    assert requests.get(api.url + "/healthz", timeout=5).json()["status"] == "ok"
    st = api.admin_get("state")
    assert st["day"] == 0 and st["today"] == "2026-11-01" and st["call_limit"] == 5000
    assert st["sellers"]["seller_a"]["marketplace"] == "EBAY_US"
    assert st["sellers"]["seller_b"]["currency"] == "GBP"
    assert st["faults"]["error_rate"] == 0


def test_admin_rejects_bad_input(api):
    assert api.admin_post("state", {"nope": 1}, expect=400)["error"] == "bad_request"
    api.admin_post("state", {"faults": {"error_kinds": ["meteor"]}}, expect=400)
    api.admin_post("state", {"faults": {"error_rate": 2}}, expect=400)
    api.admin_post("state", {"faults": {"corrupt_items": [{"seller": "seller_a", "page": 1, "kind": "x"}]}}, expect=400)
    api.admin_post("state", {"day": -1}, expect=400)
    api.admin_post("revoke", {"seller": "ghost"}, expect=400)
    r = requests.get(api.url + "/admin/nothing", timeout=5)
    assert r.status_code == 404


def test_error_rate_is_reproducible_and_switchable(emulator, api):
    iid = emulator.catalog.active_item_ids("seller_a", 0)[0]
    faults = {"error_rate": 0.5, "error_kinds": ["http500", "http503", "10007"], "error_seed": 1}
    runs = []
    for _ in range(2):
        api.admin_post("state", {"faults": faults})
        runs.append([_outcome(api.trading_raw("GetItem", get_item_body(iid))) for _ in range(40)])
    assert runs[0] == runs[1]
    assert {"Success", "http500", "http503", "10007"} <= set(runs[0])
    outcomes = api.admin_get("calls")["outcomes"]
    assert outcomes.get("GetItem:fault:http500", 0) > 0
    api.admin_post("state", {"faults": {}})
    assert {_outcome(api.trading_raw("GetItem", get_item_body(iid))) for _ in range(10)} == {"Success"}


@pytest.mark.parametrize("kind", ["http500", "http503", "html", "10007", "malformed", "truncated", "reset", "timeout"])
def test_each_error_kind(api, kind):
    api.admin_post("state", {"faults": {"error_rate": 1.0, "error_kinds": [kind], "hang_s": 3}})
    body = selling_body(1, 20)
    if kind in ("truncated", "reset"):
        with pytest.raises(requests.exceptions.ConnectionError if kind == "reset"
                           else requests.exceptions.RequestException):
            api.trading_raw("GetMyeBaySelling", body)
    elif kind == "timeout":
        with pytest.raises(requests.exceptions.ReadTimeout):
            api.trading_raw("GetMyeBaySelling", body, timeout=0.3)
    else:
        r = api.trading_raw("GetMyeBaySelling", body)
        if kind == "http500":
            assert r.status_code == 500
        elif kind == "http503":
            assert r.status_code == 503
        elif kind == "html":
            assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html")
        elif kind == "10007":
            doc = xmltodict.parse(r.content)["GetMyeBaySellingResponse"]
            assert doc["Ack"] == "Failure" and doc["Errors"]["ErrorCode"] == "10007"
            assert doc["Errors"]["ErrorClassification"] == "SystemError"
        elif kind == "malformed":
            assert r.status_code == 200
            with pytest.raises(ExpatError):
                xmltodict.parse(r.content)
    # switched off at runtime, the same request works on a fresh connection
    api.admin_post("state", {"faults": {}})
    fresh = Api(api.url)
    assert page_items(fresh.page(1, 20))[0]["ItemID"]


def test_traffic_report_faults(emulator, api):
    ids = emulator.catalog.active_item_ids("seller_a", 0)[:3]
    from datetime import date
    day = date(2026, 10, 31)
    api.token  # noqa: B018  fetch the token before faults apply
    api.admin_post("state", {"faults": {"error_rate": 1.0, "error_kinds": ["10007"], "error_calls": ["TrafficReport"]}})
    r = api.traffic_raw(ids, day, day)
    assert r.status_code == 500 and r.json()["errors"][0]["category"] == "APPLICATION"
    api.admin_post("state", {"faults": {"error_rate": 1.0, "error_kinds": ["malformed"], "error_calls": ["TrafficReport"]}})
    r = api.traffic_raw(ids, day, day)
    with pytest.raises(ValueError):
        r.json()
    # GetItem is not in error_calls: unaffected
    assert api.get_item(ids[0])["Ack"] == "Success"


def test_fail_pages_are_permanent(emulator, api):
    api.admin_post("state", {"faults": {"fail_pages": [{"seller": "seller_a", "page": 3}]}})
    for _ in range(3):
        assert api.trading_raw("GetMyeBaySelling", selling_body(3)).status_code == 500
    assert api.page(2)["Ack"] == "Success" and api.page(4)["Ack"] == "Success"
    # another seller's page 3 is fine
    other = Api(api.url, "seller_b", "EBAY_GB")
    assert other.page(3)["Ack"] == "Success"


@pytest.mark.parametrize("kind", ["missing_fields", "bad_price", "unknown_currency", "negative_quantity", "huge_title"])
def test_corrupt_item_kinds(emulator, api, kind):
    api.admin_post("state", {"faults": {"corrupt_items": [{"seller": "seller_a", "page": 2, "kind": kind}]}})
    items = page_items(api.page(2))
    assert len(items) == 200
    victim = items[100]
    others = items[:100] + items[101:]
    assert all("CurrentPrice" in it["SellingStatus"] for it in others)
    if kind == "missing_fields":
        assert "CurrentPrice" not in victim["SellingStatus"]
    elif kind == "bad_price":
        assert victim["SellingStatus"]["CurrentPrice"]["#text"] == "12,34x"
    elif kind == "unknown_currency":
        assert victim["SellingStatus"]["CurrentPrice"]["@currencyID"] == "XXX"
    elif kind == "negative_quantity":
        assert victim["Quantity"] == "-3" and victim["QuantityAvailable"] == "-3"
    elif kind == "huge_title":
        assert len(victim["Title"]) == 10 * 1024 * 1024
    # page 1 untouched
    assert all("CurrentPrice" in it["SellingStatus"] for it in page_items(api.page(1)))


@pytest.mark.parametrize("kind,marker", [("entity_expansion", b"<!ENTITY lol9"),
                                         ("external_entity", b'SYSTEM "file:///etc/passwd"')])
def test_hostile_doctype_responses(api, kind, marker):
    api.admin_post("state", {"faults": {"corrupt_items": [{"seller": "seller_a", "page": 1, "kind": kind}]}})
    raw = api.trading_raw("GetMyeBaySelling", selling_body(1)).content
    assert b"<!DOCTYPE GetMyeBaySellingResponse" in raw and marker in raw
    with pytest.raises(ValueError):          # a safe parser refuses; it must never expand
        xmltodict.parse(raw, disable_entities=True)


def test_duplicate_item_on_next_page(emulator, api):
    api.admin_post("state", {"faults": {"corrupt_items": [{"seller": "seller_a", "page": 2, "kind": "duplicate_item"}]}})
    p2, p3 = page_items(api.page(2)), page_items(api.page(3))
    assert len(p3) == 201 and p3[0]["ItemID"] == p2[-1]["ItemID"]
    assert [i["ItemID"] for i in p3[1:]] == emulator.catalog.active_item_ids("seller_a", 0)[400:600]


def test_not_found_items(emulator, api):
    iid = emulator.catalog.active_item_ids("seller_a", 0)[10]
    api.admin_post("state", {"faults": {"not_found_items": [iid]}})
    r = api.get_item(iid)
    assert r["Ack"] == "Failure" and r["Errors"]["ErrorCode"] == "17"
    api.admin_post("reset")
    assert api.get_item(iid)["Ack"] == "Success"


def test_drift_shifts_items_between_page_calls(emulator, api):
    truth = emulator.catalog.active_item_ids("seller_a", 0)
    api.admin_post("state", {"faults": {"drift": {"seller": "seller_a", "end_per_call": 2, "start_per_call": 1}}})
    p1 = api.page(1)
    assert p1["ActiveList"]["PaginationResult"]["TotalNumberOfEntries"] == "2400"
    p2 = api.page(2)
    assert p2["ActiveList"]["PaginationResult"]["TotalNumberOfEntries"] == "2399"
    ids2 = [i["ItemID"] for i in page_items(p2)]
    assert ids2 == truth[202:402]        # two page-1 listings ended after call 1: shifted left by 2
    summary = api.admin_get("catalog", seller="seller_a", day=0, ids=1)
    assert len(summary["ended"]) == 4 and len(summary["started"]) == 2     # two calls so far
    assert summary["active_count"] == 2398
    new_id = summary["started"][-1]
    assert summary["active_ids"][-1] == new_id and int(new_id) > int(truth[-1])
    ended = summary["ended"][0]
    assert ended in truth[:200]
    r = api.get_item(ended)
    assert r["Item"]["SellingStatus"]["ListingStatus"] in ("Completed", "Ended")
    assert api.get_item(new_id)["Item"]["SellingStatus"]["ListingStatus"] == "Active"
    # the drift persists on that day; reset returns to the pure catalogue
    api.admin_post("reset")
    assert api.page(1)["ActiveList"]["PaginationResult"]["TotalNumberOfEntries"] == "2400"


def test_calls_counters_and_reset(emulator, make_api):
    a, b = make_api(emulator, "seller_a"), make_api(emulator, "seller_b")
    a.page(1, 5)
    a.page(2, 5)
    b.get_item(emulator.catalog.active_item_ids("seller_b", 0)[0])
    calls = a.admin_get("calls")
    assert calls["by_seller"]["seller_a"] == {"OAuthToken": 1, "GetMyeBaySelling": 2}
    assert calls["by_seller"]["seller_b"] == {"OAuthToken": 1, "GetItem": 1}
    assert calls["by_day"]["2026-11-01"]["GetMyeBaySelling"] == 2
    assert calls["trading_quota"]["emulator-client-id"]["2026-11-01"] == 3
    assert calls["total"] == 5
    a.admin_post("reset")
    assert a.admin_get("calls")["total"] == 0


def test_64_concurrent_requests_overlap(emulator, api):
    api.admin_post("state", {"latency_scale": 1.0, "latencies": {"GetItem": 2.0}})
    api.admin_post("reset")
    token = api.token
    ids = emulator.catalog.active_item_ids("seller_a", 0)[:64]
    barrier = threading.Barrier(64)
    results: list[str | None] = [None] * 64

    def worker(n: int) -> None:
        barrier.wait()
        try:
            r = requests.post(api.url + "/ws/api.dll", data=get_item_body(ids[n]).encode(), timeout=30, headers={
                "X-EBAY-API-CALL-NAME": "GetItem", "X-EBAY-API-SITEID": "0",
                "X-EBAY-API-COMPATIBILITY-LEVEL": "1451", "X-EBAY-API-IAF-TOKEN": token,
                "Content-Type": "text/xml"})
            results[n] = xmltodict.parse(r.content)["GetItemResponse"]["Item"]["ItemID"]
        except Exception as exc:   # recorded, asserted below
            results[n] = repr(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ids
    assert api.admin_get("state")["max_in_flight"] == 64


def test_100k_listing_seller(emulator_factory):
    srv = emulator_factory(sellers=("big",), listings=100_000, marketplaces={"big": ("EBAY_US", "USD")})
    api = Api(srv.url, "big")
    first = api.page(1)
    assert first["ActiveList"]["PaginationResult"] == {"TotalNumberOfPages": "500", "TotalNumberOfEntries": "100000"}
    last = api.page(500)
    truth = srv.catalog.active_item_ids("big", 0)
    assert [i["ItemID"] for i in page_items(last)] == truth[-200:]
    assert len(set(truth)) == 100_000

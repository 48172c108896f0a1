"""OAuth token endpoint and the Sell Analytics traffic report over real HTTP."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from .helpers import Api

D0 = date(2026, 11, 1)            # simulated day 0
YESTERDAY = date(2026, 10, 31)


def test_token_success_and_failures(api):
    r = api.token_response()
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "User Access Token" and body["expires_in"] == 7200
    assert len(body["access_token"]) > 40 and body["access_token"] != api.token_response().json()["access_token"]
    r = api.token_response(client=("emulator-client-id", "wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = api.token_response(refresh="emu-refresh-nobody")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant" and r.json()["error_description"]
    r = api.token_response(grant_type="client_credentials")
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = api.token_response(scope="https://evil.example/scope")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    calls = api.admin_get("calls")
    assert calls["by_call"]["OAuthToken"] == 6
    assert "emulator-client-id" not in calls["trading_quota"]


def _records(resp) -> dict[str, list]:
    body = resp.json()
    keys = [m["key"] for m in body["header"]["metrics"]]
    return {r["dimensionValues"][0]["value"]: dict(zip(keys, [v["value"] for v in r["metricValues"]]))
            for r in body["records"]}


def test_traffic_complete_day_matches_truth(emulator, api):
    cat = emulator.catalog
    ids = cat.active_item_ids("seller_a", 0)[:200]
    r = api.traffic_raw(ids, YESTERDAY, YESTERDAY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["header"]["dimensionKeys"][0]["key"] == "LISTING_ID"
    assert body["lastUpdatedDate"] == "2026-10-31T23:59:59.000Z"
    assert body["startDate"].startswith("2026-10-31") and body["endDate"].startswith("2026-10-31")
    recs = _records(r)
    assert set(recs) == set(ids)
    for iid in ids:
        t = cat.traffic("seller_a", iid, -1)
        rec = recs[iid]
        assert rec["LISTING_VIEWS_TOTAL"] == t["views"] > 0
        assert rec["LISTING_IMPRESSION_TOTAL"] == t["impressions"]
        assert rec["TRANSACTION"] == t["transactions"]
        ctr = (Decimal(t["views"] * 100) / t["impressions"]).quantize(Decimal("0.01"))
        assert Decimal(str(rec["CLICK_THROUGH_RATE"])) == ctr
        conv = (Decimal(t["transactions"] * 100) / t["views"]).quantize(Decimal("0.01"))
        assert Decimal(str(rec["SALES_CONVERSION_RATE"])) == conv


def test_traffic_lag_days_after_last_updated_are_partial(emulator, api):
    cat = emulator.catalog
    ids = cat.active_item_ids("seller_a", 0)[:50]
    today = _records(api.traffic_raw(ids, D0, D0))
    for iid in ids:
        assert today[iid]["LISTING_VIEWS_TOTAL"] == cat.traffic("seller_a", iid, 0)["views"] // 2
    api.admin_post("state", {"traffic_lag_days": 2})
    r = api.traffic_raw(ids, YESTERDAY, YESTERDAY)
    assert r.json()["lastUpdatedDate"] == "2026-10-30T23:59:59.000Z"
    recs = _records(r)
    assert any(recs[i]["LISTING_VIEWS_TOTAL"] < cat.traffic("seller_a", i, -1)["views"] for i in ids)
    # once the simulated day moves on, the same day is final
    api.admin_post("advance_day", {"days": 2})
    recs = _records(api.traffic_raw(ids, YESTERDAY, YESTERDAY))
    assert all(recs[i]["LISTING_VIEWS_TOTAL"] == cat.traffic("seller_a", i, -1)["views"] for i in ids)


def test_traffic_range_is_a_total(emulator, api):
    cat = emulator.catalog
    api.admin_post("state", {"day": 5})
    ids = cat.active_item_ids("seller_a", 5)[:20]
    recs = _records(api.traffic_raw(ids, date(2026, 11, 2), date(2026, 11, 4)))
    for iid in ids:
        assert recs[iid]["LISTING_VIEWS_TOTAL"] == sum(cat.traffic("seller_a", iid, d)["views"] for d in (1, 2, 3))


def test_traffic_request_errors(emulator, api):
    ids = emulator.catalog.active_item_ids("seller_a", 0)
    r = api.traffic_raw(ids[:201], YESTERDAY, YESTERDAY)
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["domain"] == "API_ANALYTICS" and err["category"] == "REQUEST" and err["errorId"] and err["message"]
    assert api.traffic_raw(ids[:5], YESTERDAY, YESTERDAY, marketplace="EBAY_GB").status_code == 400
    assert api.traffic_raw(ids[:5], D0, YESTERDAY).status_code == 400
    assert api.traffic_raw(ids[:5], YESTERDAY, YESTERDAY, metric="NOPE").status_code == 400
    r = api.traffic_raw(ids[:5], YESTERDAY, YESTERDAY, token="bogus")
    assert r.status_code == 401 and r.json()["errors"][0]["errorId"] == 1001
    tok = api.token
    api.admin_post("expire_tokens")
    assert api.traffic_raw(ids[:5], YESTERDAY, YESTERDAY, token=tok).status_code == 401
    # another seller's listings are not reported
    other = emulator.catalog.active_item_ids("seller_b", 0)[:3]
    fresh = api.token_response().json()["access_token"]
    assert _records(api.traffic_raw(other + ids[:2], YESTERDAY, YESTERDAY, token=fresh)).keys() == set(ids[:2])


def test_traffic_for_gb_seller(emulator, make_api):
    api: Api = make_api(emulator, "seller_b")
    ids = emulator.catalog.active_item_ids("seller_b", 0)[:3]
    r = api.traffic_raw(ids, YESTERDAY, YESTERDAY)
    assert r.status_code == 200 and set(_records(r)) == set(ids)

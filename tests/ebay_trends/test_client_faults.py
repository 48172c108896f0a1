"""EbayClient under injected faults (emulator admin API), over real HTTP.

Each fault must map to its typed error, transient ones must be retried a bounded
number of times (counted both by the client and by the emulator), and no secret may
appear in any log line or exception text.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
import requests

from include.ebay_trends import settings
from include.ebay_trends.client import AccountConfig, EbayClient
from include.ebay_trends.errors import (
    AuthRevoked, BadItemError, CallLimitReached, EbayError, ItemNotFound, MalformedResponse, TransientError,
)

pytestmark = pytest.mark.faults

CLIENT_ID, CLIENT_SECRET = "emulator-client-id", "emulator-client-secret"
ATTEMPTS = settings.MAX_TRANSIENT_RETRIES + 1


def account_for(srv, seller: str = "seller_a", **kw) -> AccountConfig:
    kw.setdefault("marketplace_id", srv.catalog.sellers[seller].marketplace)
    kw.setdefault("refresh_token", f"emu-refresh-{seller}")
    kw.setdefault("client_secret", CLIENT_SECRET)
    return AccountConfig(account_id=seller, client_id=CLIENT_ID, api_base_url=srv.url, **kw)


def admin(srv, path: str, body: dict | None = None) -> dict:
    r = requests.post(f"{srv.url}/admin/{path}", json=body or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def served(srv) -> dict:
    return requests.get(f"{srv.url}/admin/calls", timeout=10).json()


class Sleeps(list):
    """Injectable ``sleep`` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def srv(emulator):
    return emulator


def client_for(srv, seller: str = "seller_a", sleeps: Sleeps | None = None, **kw) -> EbayClient:
    return EbayClient(account_for(srv, seller), sleep=sleeps if sleeps is not None else Sleeps(), **kw)


# --------------------------------------------------------------------------- transient faults
@pytest.mark.parametrize("kind, expected, needle", [
    ("http500", TransientError, "HTTP 500"),
    ("http503", TransientError, "HTTP 503"),
    ("html", TransientError, "HTML error page"),
    ("reset", TransientError, "connection"),
    ("10007", TransientError, "eBay error 10007"),
    ("truncated", TransientError, "truncated transfer"),
    ("malformed", MalformedResponse, "malformed or truncated XML"),
])
def test_transient_faults_are_retried_a_bounded_number_of_times(srv, kind, expected, needle):
    admin(srv, "state", {"faults": {"fail_pages": [{"seller": "seller_a", "page": 3, "kind": kind}]}})
    sleeps = Sleeps()
    with client_for(srv, sleeps=sleeps) as client:
        assert len(client.get_my_ebay_selling(2).items) == 200          # other pages unaffected
        with pytest.raises(expected) as info:
            client.get_my_ebay_selling(3)
        calls = client.calls
    err = info.value
    assert type(err) is expected
    msg = str(err)
    assert msg.startswith("GetMyeBaySelling page 3 of seller_a: ") and needle in msg
    assert f"gave up after {ATTEMPTS} attempts" in msg
    assert (err.call, err.account, err.page) == ("GetMyeBaySelling", "seller_a", 3)
    assert calls["GetMyeBaySelling"] == 1 + ATTEMPTS                    # page 2 + every attempt of page 3
    assert served(srv)["outcomes"][f"GetMyeBaySelling:fault:{kind}"] == ATTEMPTS
    # Exponential backoff with full jitter: one sleep per retry, each within its cap
    # (503 carries Retry-After: 1, which is honoured as a floor).
    assert len(sleeps) == ATTEMPTS - 1
    for i, delay in enumerate(sleeps):
        cap = min(settings.BACKOFF_MAX_S, settings.BACKOFF_BASE_S * 2 ** i)
        assert 0 <= delay <= max(cap, 1.0 if kind == "http503" else cap)
        if kind == "http503":
            assert delay >= 1.0


def test_a_read_timeout_is_transient_and_bounded(srv):
    admin(srv, "state", {"faults": {"hang_s": 3,
                                    "fail_pages": [{"seller": "seller_a", "page": 2, "kind": "timeout"}]}})
    with client_for(srv, timeout=(2.0, 0.2), max_retries=1) as client:
        with pytest.raises(TransientError, match=r"GetMyeBaySelling page 2 of seller_a: .*timed out") as info:
            client.get_my_ebay_selling(2)
        assert client.calls["GetMyeBaySelling"] == 2
    assert "gave up after 2 attempts" in str(info.value)


def test_a_transient_fault_that_clears_is_survived(srv):
    admin(srv, "state", {"faults": {"fail_pages": [{"seller": "seller_a", "page": 3, "kind": "http503"}]}})
    cleared = []

    def sleep_and_heal(seconds: float) -> None:        # the outage ends while we back off
        cleared.append(seconds)
        admin(srv, "state", {"faults": {}})

    with EbayClient(account_for(srv), sleep=sleep_and_heal) as client:
        page = client.get_my_ebay_selling(3)
        assert len(page.items) == 200 and client.calls["GetMyeBaySelling"] == 2
    assert len(cleared) == 1


def test_get_item_and_traffic_report_faults_are_retried_too(srv):
    admin(srv, "state", {"faults": {"error_rate": 1.0, "error_kinds": ["10007"],
                                    "error_calls": ["GetItem", "TrafficReport"]}})
    item_id = srv.catalog.active_item_ids("seller_a", 0)[0]
    today = srv.catalog.date_of(0)
    with client_for(srv) as client:
        with pytest.raises(TransientError, match=f"GetItem item {item_id} of seller_a: eBay error 10007"):
            client.get_item(item_id)
        with pytest.raises(TransientError, match="TrafficReport 2026-11-01 of seller_a: HTTP 500"):
            client.traffic_report([item_id], today, today)
        assert client.calls == {"GetItem": ATTEMPTS, "TrafficReport": ATTEMPTS, "OAuthToken": 1}
    outcomes = served(srv)["outcomes"]
    assert outcomes["GetItem:fault:10007"] == ATTEMPTS and outcomes["TrafficReport:fault:10007"] == ATTEMPTS


def test_token_endpoint_outage_is_retried_then_transient(srv):
    admin(srv, "state", {"faults": {"error_rate": 1.0, "error_kinds": ["http503"], "error_calls": ["OAuthToken"]}})
    with client_for(srv) as client:
        with pytest.raises(TransientError, match="OAuthToken of seller_a: HTTP 503"):
            client.get_my_ebay_selling(1)
        assert client.calls == {"OAuthToken": ATTEMPTS}      # no Trading call without a token
    assert served(srv)["outcomes"]["OAuthToken:fault:http503"] == ATTEMPTS


# --------------------------------------------------------------------------- never retried
def test_518_raises_call_limit_reached_after_exactly_one_call(srv):
    sleeps = Sleeps()
    with client_for(srv, sleeps=sleeps) as client:
        client.get_my_ebay_selling(1, 10)
        admin(srv, "state", {"call_limit": 1})
        with pytest.raises(CallLimitReached) as info:
            client.get_my_ebay_selling(2, 10)
        assert client.calls["GetMyeBaySelling"] == 2
        with pytest.raises(CallLimitReached):
            client.get_item(srv.catalog.active_item_ids("seller_a", 0)[0])
        assert client.calls["GetItem"] == 1
    assert sleeps == []
    err = info.value
    assert err.code == "518" and err.page == 2
    # The emulator's clock is noon UTC of 2026-11-01 (04:00 PST): reset at 2 Nov 00:00 PST.
    assert err.resets_at == datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
    assert served(srv)["outcomes"]["GetMyeBaySelling:error:518"] == 1


def test_item_not_found(srv):
    ids = srv.catalog.active_item_ids("seller_a", 0)
    admin(srv, "state", {"faults": {"not_found_items": [ids[5]]}})
    with client_for(srv) as client:
        with pytest.raises(ItemNotFound) as info:
            client.get_item(ids[5])
        with pytest.raises(ItemNotFound):
            client.get_item("999999999999")
        assert client.get_item(ids[6]).item_id == ids[6]
        assert client.calls["GetItem"] == 3
    assert info.value.code == "17" and str(info.value).startswith(f"GetItem item {ids[5]} of seller_a: eBay error 17")


# --------------------------------------------------------------------------- tokens
def test_expired_access_token_is_refreshed_once(srv):
    with client_for(srv) as client:
        client.get_my_ebay_selling(1, 10)
        assert admin(srv, "expire_tokens")["expired"] == 1
        page = client.get_my_ebay_selling(2, 10)
        assert len(page.items) == 10
        assert client.calls == {"GetMyeBaySelling": 3, "OAuthToken": 2}

        # Same for the traffic report (HTTP 401) and GetItem.
        admin(srv, "expire_tokens")
        day = srv.catalog.date_of(0)
        assert client.traffic_report([page.items[0].item_id], day, day).rows
        admin(srv, "expire_tokens")
        assert client.get_item(page.items[0].item_id).item_id == page.items[0].item_id
        assert client.calls == {"GetMyeBaySelling": 3, "OAuthToken": 4, "TrafficReport": 2, "GetItem": 2}
    assert served(srv)["outcomes"]["GetMyeBaySelling:error:21917053"] == 1


def test_a_token_rejected_again_after_refresh_means_reauthorise(srv):
    admin(srv, "state", {"token_lifetime_s": 0})        # every token is born expired
    with client_for(srv) as client:
        with pytest.raises(AuthRevoked, match="re-authorise account seller_a"):
            client.get_my_ebay_selling(1, 10)
        assert client.calls == {"GetMyeBaySelling": 2, "OAuthToken": 2}


def test_revoked_refresh_token_is_auth_revoked_without_retries(srv):
    admin(srv, "revoke", {"seller": "seller_a"})
    with client_for(srv) as client:
        with pytest.raises(AuthRevoked) as info:
            client.get_my_ebay_selling(1)
        assert client.calls == {"OAuthToken": 1}
    assert "invalid_grant" in str(info.value) and "re-authorise account seller_a" in str(info.value)
    assert info.value.account == "seller_a"


def test_revocation_while_holding_a_token_is_932_and_not_retried(srv):
    with client_for(srv) as client:
        client.get_my_ebay_selling(1, 10)
        admin(srv, "revoke", {"seller": "seller_a"})
        with pytest.raises(AuthRevoked, match="eBay error 932") as info:
            client.get_my_ebay_selling(2, 10)
        assert client.calls == {"GetMyeBaySelling": 2, "OAuthToken": 1}
    assert "re-authorise account seller_a" in str(info.value)


# --------------------------------------------------------------------------- bad data
@pytest.mark.parametrize("kind, error_class", [
    ("missing_fields", "missing_field"),
    ("bad_price", "invalid_price"),
    ("unknown_currency", "unknown_currency"),
    ("negative_quantity", "negative_quantity"),
    ("huge_title", "oversized_field"),
])
def test_corrupt_items_become_bad_items_and_the_page_goes_on(srv, kind, error_class):
    admin(srv, "state", {"faults": {"corrupt_items": [{"seller": "seller_a", "page": 2, "kind": kind}]}})
    truth = srv.catalog.active_item_ids("seller_a", 0)[200:400]
    with client_for(srv) as client:
        page = client.get_my_ebay_selling(2)
        assert client.calls["GetMyeBaySelling"] == 1
    [bad] = page.bad_items
    assert bad.error_class == error_class and bad.item_id == truth[100]
    assert [i.item_id for i in page.items] == truth[:100] + truth[101:]
    excerpt = bad.raw_excerpt.encode("utf-8")
    assert 0 < len(excerpt) <= settings.RAW_EXCERPT_MAX_BYTES
    assert bad.raw_excerpt.startswith(f"<Item><ItemID>{truth[100]}</ItemID>")


@pytest.mark.parametrize("kind", ["entity_expansion", "external_entity"])
def test_dtd_responses_are_refused_without_expansion(srv, kind):
    admin(srv, "state", {"faults": {"corrupt_items": [{"seller": "seller_a", "page": 2, "kind": kind}]}})
    with client_for(srv, max_retries=1) as client:
        with pytest.raises(MalformedResponse) as info:
            client.get_my_ebay_selling(2)
        assert client.calls["GetMyeBaySelling"] == 2
    assert str(info.value).startswith("GetMyeBaySelling page 2 of seller_a: response contains a DOCTYPE/ENTITY")
    assert "root:" not in str(info.value) and "lol" not in str(info.value)


def test_get_item_bad_data_raises_bad_item_error_not_retried(emulator_factory):
    srv = emulator_factory(marketplaces={"seller_a": ("EBAY_US", "XXX"), "seller_b": ("EBAY_GB", "GBP")})
    item_id = srv.catalog.active_item_ids("seller_a", 0)[0]
    with client_for(srv) as client:
        with pytest.raises(BadItemError) as info:
            client.get_item(item_id)
        assert client.calls["GetItem"] == 1
    assert info.value.bad_item.error_class == "unknown_currency" and info.value.bad_item.item_id == item_id


def test_responses_over_the_size_cap_are_refused(srv):
    with client_for(srv, max_response_bytes=20_000, max_retries=0) as client:
        assert len(client.get_my_ebay_selling(1, 5).items) == 5       # small page: fine
        with pytest.raises(MalformedResponse, match="exceeds the 20000-byte cap"):
            client.get_my_ebay_selling(1, 200)


# --------------------------------------------------------------------------- secrets
def test_no_secret_reaches_a_log_line_or_an_exception(srv, caplog):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    faults = [{"seller": "seller_a", "page": p, "kind": k} for p, k in
              ((2, "http503"), (3, "malformed"), (4, "html"), (5, "10007"))]
    admin(srv, "state", {"faults": {"fail_pages": faults}})
    with client_for(srv, max_retries=1) as client:
        client.get_my_ebay_selling(1, 10)
        admin(srv, "expire_tokens")
        for page in (2, 3, 4, 5):
            with pytest.raises(EbayError) as info:
                client.get_my_ebay_selling(page)
            texts += [str(info.value), repr(info.value)]
        admin(srv, "revoke", {"seller": "seller_a"})
        with pytest.raises(AuthRevoked) as info:
            client.get_my_ebay_selling(6)
        texts += [str(info.value), repr(info.value), repr(client), repr(client.account)]
    wrong = EbayClient(account_for(srv, "seller_b", client_secret="not-the-secret-123456"), sleep=Sleeps())
    with pytest.raises(EbayError) as info:
        wrong.get_my_ebay_selling(1)
    texts += [str(info.value), repr(wrong.account)]

    access_tokens = list(srv.state.tokens)
    assert len(access_tokens) >= 2
    secrets = [CLIENT_SECRET, "emu-refresh-seller_a", "emu-refresh-seller_b", "not-the-secret-123456",
               *access_tokens]
    logged = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    assert any("retry 1/1" in line for line in logged)           # the retries were logged...
    for text in texts + logged:
        for secret in secrets:
            assert secret not in text                            # ...without a single secret
        assert "Authorization" not in text and "IAF-TOKEN" not in text

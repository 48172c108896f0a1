"""TokenProvider against the emulator's token endpoint: caching, refresh ahead of
expiry, one refresh for many threads, and the error mapping of the refresh grant."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from include.ebay_trends import settings
from include.ebay_trends.errors import AuthRevoked, MalformedResponse, RequestError
from include.ebay_trends.oauth import TokenProvider
from include.ebay_trends.transport import Transport

CLIENT_ID, CLIENT_SECRET = "emulator-client-id", "emulator-client-secret"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def admin(srv, path: str, body: dict | None = None) -> dict:
    r = requests.post(f"{srv.url}/admin/{path}", json=body or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def provider(srv, *, seller: str = "seller_a", secret: str = CLIENT_SECRET, scopes=settings.OAUTH_SCOPES,
             clock: Clock | None = None, transport: Transport | None = None) -> TokenProvider:
    transport = transport or Transport(sleep=lambda s: None)
    return TokenProvider(transport=transport, token_url=srv.url + settings.OAUTH_TOKEN_PATH, account_id=seller,
                         client_id=CLIENT_ID, client_secret=secret, refresh_token=f"emu-refresh-{seller}",
                         scopes=scopes, clock=clock or Clock())


def test_token_is_cached_and_refreshed_ahead_of_expiry(emulator):
    clock = Clock()
    tp = provider(emulator, clock=clock)
    t1 = tp.get_token()
    assert tp.get_token() == t1 and tp.get_token() == t1
    assert tp._transport.calls == {"OAuthToken": 1}
    assert t1 in emulator.state.tokens                       # a real token the emulator issued

    clock.now += 7200 - settings.TOKEN_REFRESH_MARGIN_S - 1    # just inside the margin: still cached
    assert tp.get_token() == t1 and tp._transport.calls["OAuthToken"] == 1
    clock.now += 2                                             # within 5 minutes of expiry: refresh now
    t2 = tp.get_token()
    assert t2 != t1 and tp._transport.calls["OAuthToken"] == 2


def test_short_lived_tokens_keep_a_proportional_margin(emulator):
    admin(emulator, "state", {"token_lifetime_s": 60})
    clock = Clock()
    tp = provider(emulator, clock=clock)
    t1 = tp.get_token()
    clock.now += 44                                            # margin is a quarter of 60 s
    assert tp.get_token() == t1
    clock.now += 2
    assert tp.get_token() != t1 and tp._transport.calls["OAuthToken"] == 2


def test_many_threads_cause_one_refresh(emulator):
    tp = provider(emulator)
    barrier = threading.Barrier(8)

    def get(_):
        barrier.wait()
        return tp.get_token()

    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(get, range(8)))
    assert len(tokens) == 1 and tp._transport.calls == {"OAuthToken": 1}


def test_invalidate_only_drops_the_rejected_token(emulator):
    tp = provider(emulator)
    t1 = tp.get_token()
    tp.invalidate("some-older-token")                          # another thread already replaced it
    assert tp.get_token() == t1 and tp._transport.calls["OAuthToken"] == 1
    tp.invalidate(t1)
    assert tp.get_token() != t1 and tp._transport.calls["OAuthToken"] == 2


def test_invalid_grant_is_auth_revoked_naming_the_account(emulator):
    admin(emulator, "revoke", {"seller": "seller_b"})
    tp = provider(emulator, seller="seller_b")
    with pytest.raises(AuthRevoked) as info:
        tp.get_token()
    assert str(info.value).startswith("OAuthToken of seller_b: refresh token rejected (invalid_grant); "
                                      "re-authorise account seller_b")
    assert info.value.code == "invalid_grant" and tp._transport.calls == {"OAuthToken": 1}
    assert "emu-refresh" not in str(info.value)
    # Every later caller (another thread of the same page) gets the same answer without
    # asking eBay again: a revoked refresh token does not come back by retrying.
    barrier = threading.Barrier(4)

    def get(_):
        barrier.wait()
        with pytest.raises(AuthRevoked, match="re-authorise account seller_b"):
            tp.get_token()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(get, range(4)))
    assert tp._transport.calls == {"OAuthToken": 1}


def test_wrong_client_secret_and_bad_scope_are_request_errors(emulator):
    tp = provider(emulator, secret="wrong-secret-value")
    with pytest.raises(RequestError, match="client credentials rejected") as info:
        tp.get_token()
    assert "wrong-secret-value" not in str(info.value) and tp._transport.calls == {"OAuthToken": 1}

    tp = provider(emulator, scopes=("https://example.com/not-an-ebay-scope",))
    with pytest.raises(RequestError, match="invalid_scope"):
        tp.get_token()


def test_an_unreadable_token_response_is_retried_then_malformed(emulator):
    admin(emulator, "state", {"faults": {"error_rate": 1.0, "error_kinds": ["malformed"],
                                         "error_calls": ["OAuthToken"]}})
    sleeps: list[float] = []
    tp = provider(emulator, transport=Transport(sleep=sleeps.append))
    with pytest.raises(MalformedResponse, match="OAuthToken of seller_a: token response is not a JSON object"):
        tp.get_token()
    assert tp._transport.calls == {"OAuthToken": settings.MAX_TRANSIENT_RETRIES + 1}
    assert len(sleeps) == settings.MAX_TRANSIENT_RETRIES


def test_repr_shows_no_secret(emulator):
    tp = provider(emulator)
    tp.get_token()
    assert CLIENT_SECRET not in repr(tp) and "emu-refresh" not in repr(tp) and tp._token not in repr(tp)

"""Bad input from eBay, through the whole DAG: every item-level defect is quarantined in
``ebay.item_errors`` while its page goes on; every unreadable page fails with a clear
error after a bounded number of attempts; no entity is ever expanded.

One run, pages of 50 so each defect has a page of its own:

* seller_a (12 pages, all succeed): a listing without price, a non-numeric price, an
  unknown currency, a negative quantity, a 10 MiB title, a listing GetItem says does not
  exist, and the same listing on two pages;
* seller_b (7 pages): page 1 clean (planning reads it), pages 2-7 unreadable -- a
  billion-laughs DTD, an external entity pointing at /etc/passwd, malformed XML, a body
  cut in half, an HTML error page, XML under a JSON content type.

Parsing rules themselves are unit-tested in tests/ebay_trends/test_trading_parse.py and
tests/ebay_trends/test_client_faults.py; tests/ebay_trends/test_sync.py covers
quarantine without Airflow.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from include.ebay_trends.client import AccountConfig, EbayClient
from include.ebay_trends.errors import MalformedResponse

from .helpers import CLIENT_ID, CLIENT_SECRET, MAX_CLIENT_ATTEMPTS, PAGE_RETRIES, START, label_page, page_chunks

pytestmark = [pytest.mark.faults, pytest.mark.airflow]

PER_PAGE = 50
TRIES = PAGE_RETRIES + 1
# seller_a page -> (emulator corruption, the error class the parser must record)
ITEM_FAULTS = {1: ("missing_fields", "missing_field"), 2: ("bad_price", "invalid_price"),
               3: ("unknown_currency", "unknown_currency"), 4: ("negative_quantity", "negative_quantity"),
               5: ("huge_title", "oversized_field")}
DUPLICATE_PAGE = 6              # its last listing is served again at the start of page 7
NOT_FOUND_PAGE = 8
# seller_b page -> (how the emulator breaks it, exception type, what the message must say)
PAGE_FAULTS = {
    2: ("corrupt", "entity_expansion", "MalformedResponse", "DOCTYPE/ENTITY declaration; refused unparsed"),
    3: ("corrupt", "external_entity", "MalformedResponse", "DOCTYPE/ENTITY declaration; refused unparsed"),
    4: ("fail", "malformed", "MalformedResponse", "malformed or truncated XML"),
    5: ("fail", "truncated", "TransientError", "truncated transfer"),
    6: ("fail", "html", "TransientError", "HTTP 502 from eBay (an HTML error page)"),
    7: ("fail", "wrong_ctype", "MalformedResponse", "wrong content-type 'application/json'"),
}


def _passwd_marker() -> str:
    first = Path("/etc/passwd").read_text().splitlines()[0]
    return first.split(":")[0] + ":" + first.split(":")[1] + ":0:0"      # "root:x:0:0"


def test_bad_items_are_quarantined_and_unreadable_pages_fail_clearly(fx):
    truth = fx.truth(fx.day)
    a_pages = page_chunks(truth["seller_a"], PER_PAGE)
    b_pages = page_chunks(truth["seller_b"], PER_PAGE)
    assert (len(a_pages), len(b_pages)) == (12, 7)
    victims = {p: a_pages[p - 1][len(a_pages[p - 1]) // 2] for p in ITEM_FAULTS}
    missing = a_pages[NOT_FOUND_PAGE - 1][10]
    duplicate = a_pages[DUPLICATE_PAGE - 1][-1]
    fx.emu("POST", "state", {"faults": {
        "corrupt_items": [{"seller": "seller_a", "page": p, "kind": k} for p, (k, _) in ITEM_FAULTS.items()]
        + [{"seller": "seller_a", "page": DUPLICATE_PAGE, "kind": "duplicate_item"}]
        + [{"seller": "seller_b", "page": p, "kind": k} for p, (how, k, _, _) in PAGE_FAULTS.items() if how == "corrupt"],
        "fail_pages": [{"seller": "seller_b", "page": p, "kind": k} for p, (how, k, _, _) in PAGE_FAULTS.items()
                       if how == "fail"],
        "not_found_items": [missing]}})

    # GetItem per listing: its "not found" answer is one of the defects under test.
    run_id, state = fx.run(fx.day, {"page_size": PER_PAGE, "bulk_details": False})
    assert state == "failed"                      # seller_b's unreadable pages make the day red

    pages = {label_page(t["rendered_map_index"]): t for t in fx.tis(run_id) if t["task_id"] == "sync_page"}
    assert len(pages) == 12 + 7
    # seller_a: every page succeeded at the first try despite its bad listings
    assert all(pages[("seller_a", p)]["state"] == "success" and pages[("seller_a", p)]["try_number"] == 1
               for p in range(1, 13))
    # the quarantine: exactly one row per defect, excerpt <= 4 KB
    rows = fx.sql("SELECT account_id, page, item_id, error_class, message, raw_excerpt, "
                  "octet_length(raw_excerpt) AS excerpt_bytes FROM ebay.item_errors WHERE run_id = :r", r=run_id)
    got = {(r.account_id, r.page, r.item_id, r.error_class) for r in rows}
    want = {("seller_a", p, victims[p], cls) for p, (_, cls) in ITEM_FAULTS.items()}
    want.add(("seller_a", NOT_FOUND_PAGE, missing, "ItemNotFound"))
    assert got == want
    for r in rows:
        assert 0 < len(r.message) <= 1000
        assert r.excerpt_bytes is None or r.excerpt_bytes <= 4096
        if r.error_class != "ItemNotFound":
            assert r.item_id in r.raw_excerpt                 # enough to find the listing on eBay
    huge = next(r for r in rows if r.error_class == "oversized_field")
    assert 4000 <= huge.excerpt_bytes <= 4096 and "Title is 10485760 characters" in huge.message
    # the listing seen on two pages is stored once
    assert fx.scalar("SELECT items_seen FROM ebay.sync_pages WHERE run_id = :r AND account_id = 'seller_a' "
                     "AND page = :p", r=run_id, p=DUPLICATE_PAGE + 1) == len(a_pages[DUPLICATE_PAGE]) + 1
    assert fx.scalar("SELECT count(*) FROM ebay.listings WHERE item_id = :i", i=duplicate) == 1

    # seller_b: each unreadable page failed with its own clear message, after exactly
    # TRIES task tries of MAX_CLIENT_ATTEMPTS requests each -- no crash loop.
    for p, (_, kind, exc_type, phrase) in PAGE_FAULTS.items():
        t = pages[("seller_b", p)]
        assert (t["state"], t["try_number"]) == ("failed", TRIES), (p, kind)
        for attempt in range(1, TRIES + 1):
            log = fx.page_log(run_id, t["map_index"], attempt)
            err = fx.task_error(log)
            assert err is not None and err[0] == exc_type and phrase in err[1], (kind, err)
            assert f"gave up after {MAX_CLIENT_ATTEMPTS} attempts" in err[1]
        assert not fx.page_log(run_id, t["map_index"], TRIES + 1).exists()
        summary = fx.scalar("SELECT error_summary FROM ebay.sync_pages WHERE run_id = :r "
                            "AND account_id = 'seller_b' AND page = :p", r=run_id, p=p)
        assert phrase in summary and summary.startswith(exc_type)
    assert pages[("seller_b", 1)]["state"] == "success"
    calls = fx.calls()
    for _, kind, _, _ in (v for v in PAGE_FAULTS.values() if v[0] == "fail"):
        assert calls["outcomes"][f"GetMyeBaySelling:fault:{kind}"] == TRIES * MAX_CLIENT_ATTEMPTS
    # planning + page 1 + 6 unreadable pages x 3 tries x 4 requests; nothing else
    assert calls["by_seller"]["seller_b"]["GetMyeBaySelling"] == 2 + 6 * TRIES * MAX_CLIENT_ATTEMPTS

    # exact contents: everything but the quarantined listings and seller_b's unreadable pages
    quarantined = set(victims.values()) | {missing}
    fx.assert_exact(fx.day, {"seller_a": set(truth["seller_a"]) - quarantined, "seller_b": set(b_pages[0])})
    assert fx.scalar("SELECT count(*) FROM ebay.listings WHERE item_id = ANY(:q)", q=sorted(quarantined)) == 0
    # seller_a's day is complete (quarantine does not block it), seller_b's is not
    assert dict(fx.sql("SELECT account_id, last_sync_date FROM ebay.accounts WHERE account_id LIKE 'seller_%'")) == {
        "seller_a": START + timedelta(days=fx.day), "seller_b": None}

    # entities were never expanded: no /etc/passwd line, no laughs, anywhere
    marker = _passwd_marker()
    dump = " ".join(str(r) for t in ("listings", "listing_snapshots", "item_errors", "sync_pages", "api_calls")
                    for r in fx.sql(f"SELECT * FROM ebay.{t}"))
    assert marker not in dump and "lollollol" not in dump
    for path in fx.log_files(run_id):
        text = path.read_text(errors="replace")
        assert marker not in text and "lollollol" not in text, path


def test_wrong_content_type_is_a_malformed_response(fx):
    """The emulator's new ``wrong_ctype`` fault, at the client: a well-formed body under a
    wrong media type is refused (Trading and REST), then retried like any malformed answer."""
    fx.emu("POST", "state", {"faults": {"error_rate": 1.0, "error_kinds": ["wrong_ctype"]}})
    account = AccountConfig(account_id="seller_a", marketplace_id="EBAY_US", client_id=CLIENT_ID,
                            client_secret=CLIENT_SECRET, refresh_token="emu-refresh-seller_a",
                            api_base_url=fx.emulator.url)
    with EbayClient(account, sleep=lambda s: None) as client:
        with pytest.raises(MalformedResponse, match="wrong content-type 'application/json'"):
            client.get_my_ebay_selling(1)
        with pytest.raises(MalformedResponse, match="wrong content-type 'text/plain'"):
            client.traffic_report([fx.truth(fx.day)["seller_a"][0]], START, START)
        assert client.calls["GetMyeBaySelling"] == MAX_CLIENT_ATTEMPTS
        assert client.calls["TrafficReport"] == MAX_CLIENT_ATTEMPTS

"""The trends page and its JSON/CSV endpoints, over real HTTP to a real ``airflow api-server``.

Fixture data: tests/webapp/conftest.py (``LISTINGS`` / ``SNAPSHOTS``).  Hand-computed
expectations for seller_a on 2026-03-03 (D3; traffic for D3 not reported yet, so
the view term uses D2 vs D1):

  1002  views 10 -> 40 (+300 %), watchers 2 -> 6 (+200 %), price flat
        score = 0.4 x 300 + 0.4 x 200 + 0.2 x 0 = 200.00; sold 0 -> 1: 1 unit, $500.00
  1001  views 100 -> 150 (+50 %), watchers 12 -> 15 (+25 %), price 1200 -> 1150 (-4.1667 %)
        score = 20 + 10 - 0.8333 = 29.17; sold 3 -> 5: 2 units, 2 x 1150 = $2,300.00
  1003  new on D2, no D1 views, watchers 1 -> 1: score 0.00
  1004  views 20 -> 10 (-50 %), watchers 4 -> 2 (-50 %), price 50 -> 60 (+20 %)
        score = max(0, -20 - 20 + 4) = 0.00; ties with 1003 broken by item id
  1005  ended on D3: no row.
  account: 4 active (D2: 5), 3 units (D2: 1 + 1 = 2), USD 2,800.00 (D2: 1,200 + 30 = 1,230),
  views of D2 = 150 + 40 + 5 + 10 + 7 = 212 (D1: 133), watchers 15 + 6 + 1 + 2 = 24 (D2: 22).
"""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
import requests
import sqlalchemy as sa

PREFIX = "/ebay-trends"
TITLE = "Canon \"EOS\" <R6> & Lens 'Kit' — キヤノン ミラーレス"       # as in conftest.LISTINGS
TITLE_ESCAPED = "Canon &#34;EOS&#34; &lt;R6&gt; &amp; Lens &#39;Kit&#39; — キヤノン ミラーレス"

# Every route of the app, with valid parameters.
ROUTES = [
    "/",
    "/?account=seller_b&date=2026-03-02",
    "/listing/1001?account=seller_a",
    "/categories?account=seller_a",
    "/export/top-movers.csv?account=seller_a",
    "/export/listing/1001.csv?account=seller_a",
    "/api/accounts",
    "/api/kpis?account=seller_a",
    "/api/top-movers?account=seller_a",
    "/api/listing/1001/history?account=seller_a",
    "/api/categories?account=seller_a",
]


def url(server, path: str) -> str:
    return f"{server.base_url}{PREFIX}{path}"


def mint(server, *, secret: str | None = None, role: str | None = "viewer", valid_for: float = 300) -> str:
    """A JWT made the way Airflow makes them (JWTGenerator, HS512, audience apache-airflow)."""
    from airflow.api_fastapi.auth.tokens import JWTGenerator

    gen = JWTGenerator(secret_key=secret or server.jwt_secret, valid_for=valid_for,
                       audience="apache-airflow", issuer=None, algorithm="HS512")
    return gen.generate({"sub": server.username, "role": role})


def snapshot_of_tables(engine) -> dict[str, int]:
    with engine.connect() as c:
        return {t: c.execute(sa.text(f"SELECT count(*) FROM ebay.{t}")).scalar_one()
                for t in ("accounts", "listings", "listing_snapshots", "listing_trends",
                          "account_daily", "category_daily", "sync_pages")}


# --------------------------------------------------------------------------- authentication
@pytest.mark.parametrize("path", ROUTES)
def test_no_credentials_is_401(airflow_server, path):
    r = requests.get(url(airflow_server, path), timeout=30)
    assert r.status_code == 401
    assert "seller_a" not in r.text and "1001" not in r.text


@pytest.mark.parametrize("path", ROUTES)
def test_bad_credentials_are_403_or_401(airflow_server, path):
    u = url(airflow_server, path)
    garbage = requests.get(u, headers={"Authorization": "Bearer not-a-jwt"}, timeout=30)
    assert garbage.status_code == 403
    forged = requests.get(u, headers={"Authorization": f"Bearer {mint(airflow_server, secret='x' * 64)}"},
                          timeout=30)
    assert forged.status_code == 403
    expired = requests.get(u, headers={"Authorization": f"Bearer {mint(airflow_server, valid_for=-120)}"},
                           timeout=30)
    assert expired.status_code == 401
    bad_cookie = requests.get(u, cookies={"_token": "not-a-jwt"}, timeout=30)
    assert bad_cookie.status_code == 403


def test_authenticated_user_without_a_role_is_403(airflow_server):
    r = requests.get(url(airflow_server, "/api/accounts"),
                     headers={"Authorization": f"Bearer {mint(airflow_server, role='')}"}, timeout=30)
    assert r.status_code == 403


def test_auth_is_checked_before_parameters(airflow_server):
    r = requests.get(url(airflow_server, "/api/top-movers?date=not-a-date&limit=-5"), timeout=30)
    assert r.status_code == 401


@pytest.mark.parametrize("path", ROUTES)
def test_server_issued_token_works_as_bearer_and_cookie(airflow_server, token, path):
    assert requests.get(url(airflow_server, path), headers={"Authorization": f"Bearer {token}"},
                        timeout=30).status_code == 200
    assert requests.get(url(airflow_server, path), cookies={"_token": token}, timeout=30).status_code == 200


def test_token_minted_with_jwt_generator_works(airflow_server):
    r = requests.get(url(airflow_server, "/api/accounts"),
                     headers={"Authorization": f"Bearer {mint(airflow_server)}"}, timeout=30)
    assert r.status_code == 200
    assert [a["account_id"] for a in r.json()["accounts"]] == ["seller_a", "seller_b", "seller_c"]


def test_no_unauthenticated_docs(airflow_server):
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert requests.get(url(airflow_server, path), timeout=30).status_code in (401, 404)


def test_plugin_is_registered_with_nav_entry(airflow_server, authed):
    plugins = authed.get(f"{airflow_server.base_url}/api/v2/plugins", timeout=30).json()["plugins"]
    ours = [p for p in plugins if p["name"] == "ebay_trends"]
    assert len(ours) == 1
    assert ours[0]["fastapi_apps"][0]["url_prefix"] == "/ebay-trends"
    view = ours[0]["external_views"][0]
    assert (view["name"], view["href"], view["destination"], view["url_route"]) == (
        "eBay Trends", "/ebay-trends/", "nav", "ebay-trends")


# --------------------------------------------------------------------------- numbers
def test_top_movers_match_the_hand_check(airflow_server, authed, web_engine):
    r = authed.get(url(airflow_server, "/api/top-movers?account=seller_a&date=2026-03-03"), timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["date"] == "2026-03-03"
    got = [(m["rank"], m["item_id"], m["score"], m["units_sold"], m["revenue"], m["watchers"],
            m["watchers_change"], m["trending"]) for m in body["top_movers"]]
    assert got == [
        (1, "1002", 200.0, 1, "500.00", 6, 4, True),
        (2, "1001", 29.17, 2, "2300.00", 15, 3, True),
        (3, "1003", 0.0, 0, "0.00", 1, 0, False),
        (4, "1004", 0.0, 0, "0.00", 2, -2, False),
    ]
    m1001 = body["top_movers"][1]
    assert (m1001["price"], m1001["currency"], m1001["title"]) == ("1150.00", "USD", TITLE)
    assert (m1001["view_growth_pct"], m1001["view_growth_date"], m1001["watch_growth_pct"]) == (50.0, "2026-03-02", 25.0)
    assert m1001["price_change_7d_pct"] == -4.17 and m1001["traffic_pending"] is True
    # seller_b (GBP and EUR): 2001 views 30 -> 45 (+50 %), watchers 7 -> 8 (+14.2857 %):
    # 0.4 x 50 + 0.4 x 14.2857 = 25.71, sold 1 -> 1; 2002 flat everywhere, sold 3 -> 5 (2 x EUR 350).
    b = authed.get(url(airflow_server, "/api/top-movers?account=seller_b&date=2026-03-03"), timeout=30).json()
    assert [(m["rank"], m["item_id"], m["score"], m["units_sold"], m["revenue"], m["currency"], m["trending"])
            for m in b["top_movers"]] == [
        (1, "2001", 25.71, 0, "0.00", "GBP", True),
        (2, "2002", 0.0, 2, "700.00", "EUR", False),
    ]
    # The same units / watcher changes / revenue straight from the snapshots (D3 vs D2).
    with web_engine.connect() as c:
        naive = c.execute(sa.text("""
            SELECT s3.account_id, s3.item_id, s3.quantity_sold - s2.quantity_sold AS units,
                   s3.watch_count - s2.watch_count AS dw,
                   (s3.quantity_sold - s2.quantity_sold) * s3.price AS revenue
            FROM ebay.listing_snapshots s3
            JOIN ebay.listing_snapshots s2 ON s2.account_id = s3.account_id AND s2.item_id = s3.item_id
                                          AND s2.snapshot_date = s3.snapshot_date - 1
            WHERE s3.snapshot_date = DATE '2026-03-03'
        """)).all()
    by_item = {m["item_id"]: m for m in body["top_movers"] + b["top_movers"]}
    assert len(naive) == 6 and set(by_item) == {r.item_id for r in naive}
    for _, item, units, dw, revenue in naive:
        assert (by_item[item]["units_sold"], by_item[item]["watchers_change"]) == (units, dw)
        assert Decimal(by_item[item]["revenue"]) == revenue


def test_limit_and_default_date(airflow_server, authed):
    body = authed.get(url(airflow_server, "/api/top-movers?account=seller_a&limit=2"), timeout=30).json()
    assert body["date"] == "2026-03-03" and [m["item_id"] for m in body["top_movers"]] == ["1002", "1001"]


def test_kpis_with_day_over_day_change(airflow_server, authed):
    body = authed.get(url(airflow_server, "/api/kpis?account=seller_a"), timeout=30).json()
    k = body["kpis"]
    assert (k["day"], k["previous_day"]) == ("2026-03-03", "2026-03-02")
    assert k["active_listings"] == {"value": 4, "previous": 5, "change": -1}
    assert k["units_sold"] == {"value": 3, "previous": 2, "change": 1}
    assert k["watchers"] == {"value": 24, "previous": 22, "change": 2}
    assert k["revenue"] == [{"currency": "USD", "value": "2800.00", "previous": "1230.00", "change": "1570.00"}]
    assert k["views"] == {"day": "2026-03-02", "value": 212, "previous_day": "2026-03-01", "previous": 133,
                          "change": 79, "pending_listings": 4}
    assert (k["new_listings"], k["ended_listings"]) == (0, 1)
    sync = body["sync"]
    assert sync["last_sync_at"] == "2026-03-03T06:14:00+00:00"
    assert sync["last_run"]["status"] == "success" and sync["last_run"]["pages_ok"] == 2
    assert sync["latest_run"] is None


def test_kpis_keep_currencies_apart(airflow_server, authed):
    k = authed.get(url(airflow_server, "/api/kpis?account=seller_b&date=2026-03-03"), timeout=30).json()
    # 2002 sold 2 x EUR 350; 2001 sold nothing on D3 (it sold 1 x GBP 2,400 on D2)
    assert k["kpis"]["revenue"] == [
        {"currency": "EUR", "value": "700.00", "previous": "0.00", "change": "700.00"},
        {"currency": "GBP", "value": "0.00", "previous": "2400.00", "change": "-2400.00"},
    ]
    assert k["sync"]["last_run"]["status"] == "success"          # the finalised D2 run
    assert k["sync"]["latest_run"]["status"] == "failed"         # the newer D3 run


def test_listing_history_has_three_points(airflow_server, authed):
    body = authed.get(url(airflow_server, "/api/listing/1001/history?account=seller_a"), timeout=30).json()
    h = body["history"]
    assert [r["trend_date"] for r in h] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert [r["price"] for r in h] == ["1200.00", "1200.00", "1150.00"]
    assert [r["units_sold"] for r in h] == [None, 1, 2]
    assert [r["views"] for r in h] == [100, 150, None]
    assert [r["watchers"] for r in h] == [10, 12, 15]
    assert body["listing"]["title"] == TITLE
    html = authed.get(url(airflow_server, "/listing/1001?account=seller_a"), timeout=30).text
    price_chart = html.split('id="chart-price"', 1)[1].split("</svg>", 1)[0]
    assert price_chart.count('class="pt"') == 3
    assert 'data-date="2026-03-03" data-value="1150.00"' in price_chart


def test_categories(airflow_server, authed):
    body = authed.get(url(airflow_server, "/api/categories?account=seller_a&date=2026-03-03"), timeout=30).json()
    got = [(c["category_id"], c["active_listings"], c["ended_listings"], c["units_sold"], c["revenue"],
            c["trending"]) for c in body["categories"]]
    assert got == [
        ("31388", 2, 0, 2, {"USD": "2300.00"}, 1),
        ("3323", 1, 1, 1, {"USD": "500.00"}, 1),
        ("78997", 1, 0, 0, {"USD": "0.00"}, 0),
    ]
    html = authed.get(url(airflow_server, "/categories?account=seller_a"), timeout=30).text
    assert 'data-category-id="31388" data-units="2"' in html


# --------------------------------------------------------------------------- HTML safety
def test_html_escapes_titles_and_drops_unsafe_links(airflow_server, authed):
    r = authed.get(url(airflow_server, "/?account=seller_a"), timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert TITLE_ESCAPED in html
    assert "<R6>" not in html and "\"EOS\"" not in html
    assert "Sony α7 IV ボディ" in html
    assert "javascript:" not in html                      # 1003's view_item_url is dropped
    assert "<script" not in html
    assert 'href="https://www.ebay.com/itm/1001"' in html
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_page_shows_warehouse_numbers(airflow_server, authed):
    html = authed.get(url(airflow_server, "/?account=seller_a"), timeout=30).text
    assert 'data-item-id="1002" data-score="200.00" data-units="1"' in html
    assert 'data-item-id="1001" data-score="29.17" data-units="2"' in html
    for text in ("$2,800.00", "212", "2026-03-03 06:14 UTC", "$2,300.00"):
        assert text in html


def test_account_without_data_shows_an_empty_state(airflow_server, authed):
    r = authed.get(url(airflow_server, "/?account=seller_c"), timeout=30)
    assert r.status_code == 200 and "No trends computed yet" in r.text and "Last sync: <b" in r.text
    assert 'class="mover"' not in r.text
    assert authed.get(url(airflow_server, "/api/top-movers?account=seller_c"), timeout=30).json() == {
        "account": "seller_c", "date": None, "top_movers": []}
    k = authed.get(url(airflow_server, "/api/kpis?account=seller_c"), timeout=30).json()
    assert k["kpis"] is None and k["sync"]["last_sync_at"] is None and k["sync"]["last_run"] is None
    assert authed.get(url(airflow_server, "/categories?account=seller_c"), timeout=30).status_code == 200
    assert _csv(authed.get(url(airflow_server, "/export/top-movers.csv?account=seller_c"), timeout=30)) == []


def test_unknown_account_and_listing_are_404(airflow_server, authed):
    r = authed.get(url(airflow_server, "/?account=<b>nobody</b>"), timeout=30)
    assert r.status_code == 404 and "<b>nobody" not in r.text
    assert authed.get(url(airflow_server, "/api/kpis?account=nobody"), timeout=30).status_code == 404
    assert authed.get(url(airflow_server, "/listing/999999?account=seller_a"), timeout=30).status_code == 404
    assert authed.get(url(airflow_server, "/api/listing/2001/history?account=seller_a"),
                      timeout=30).status_code == 404            # another account's listing


# --------------------------------------------------------------------------- validation and injection
@pytest.mark.parametrize("path", [
    "/api/top-movers?date=2026-13-01",
    "/api/top-movers?date=yesterday",
    "/api/top-movers?limit=0",
    "/api/top-movers?limit=501",
    "/api/top-movers?limit=ten",
    "/api/listing/1001/history?days=0",
    "/api/listing/1001/history?days=99999",
    "/api/listing/abc/history",
    "/listing/1001x",
    "/?date=03/03/2026",
    "/api/kpis?account=",
    "/api/kpis?account=seller_a%00",
    "/api/kpis?account=" + "a" * 129,
])
def test_invalid_parameters_are_422(airflow_server, authed, path):
    assert authed.get(url(airflow_server, path), timeout=30).status_code == 422


INJECTIONS = [
    "' OR '1'='1",
    "seller_a' --",
    "seller_a'; DROP TABLE ebay.listing_trends; --",
    "x' UNION SELECT account_id, NULL FROM ebay.accounts --",
    "seller_a\\'; SELECT pg_sleep(5); --",
    "1); DELETE FROM ebay.listings; --",
    "%' OR 1=1 --",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_in_every_parameter_is_harmless(airflow_server, authed, web_engine, payload):
    before = snapshot_of_tables(web_engine)
    q = requests.utils.quote(payload, safe="")
    for path in ("/", "/categories", "/api/kpis", "/api/top-movers", "/api/categories",
                 "/export/top-movers.csv", "/listing/1001", "/api/listing/1001/history",
                 "/export/listing/1001.csv"):
        r = authed.get(url(airflow_server, f"{path}?account={q}"), timeout=30)
        assert r.status_code == 404, (path, r.status_code, r.text[:200])     # just an unknown account
        assert "seller_a" not in r.text and "1001<" not in r.text             # no data leaked
    for path in (f"/api/top-movers?account=seller_a&date={q}", f"/api/top-movers?account=seller_a&limit={q}",
                 f"/api/listing/1001/history?account=seller_a&days={q}", f"/?account=seller_a&date={q}"):
        assert authed.get(url(airflow_server, path), timeout=30).status_code == 422, path
    for path in (f"/api/listing/{q}/history?account=seller_a", f"/listing/{q}?account=seller_a",
                 f"/export/listing/{q}.csv?account=seller_a"):
        assert authed.get(url(airflow_server, path), timeout=30).status_code in (404, 422), path
    assert snapshot_of_tables(web_engine) == before


# --------------------------------------------------------------------------- CSV
def _csv(resp) -> list[dict[str, str]]:
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))


def test_top_movers_csv(airflow_server, authed):
    rows = _csv(authed.get(url(airflow_server, "/export/top-movers.csv?account=seller_a&date=2026-03-03"),
                           timeout=30))
    assert [(r["rank"], r["item_id"], r["score"], r["units_sold"], r["revenue"]) for r in rows] == [
        ("1", "1002", "200.00", "1", "500.00"),
        ("2", "1001", "29.17", "2", "2300.00"),
        ("3", "1003", "0.00", "0", "0.00"),
        ("4", "1004", "0.00", "0", "0.00"),
    ]
    assert rows[1]["title"] == TITLE
    assert rows[3]["title"] == "'=SUM(A1) Speedlite flash"      # no formula in a spreadsheet


def test_listing_csv(airflow_server, authed):
    rows = _csv(authed.get(url(airflow_server, "/export/listing/1001.csv?account=seller_a"), timeout=30))
    assert [(r["trend_date"], r["price"], r["units_sold"], r["views"], r["traffic_pending"]) for r in rows] == [
        ("2026-03-01", "1200.00", "", "100", "False"),
        ("2026-03-02", "1200.00", "1", "150", "False"),
        ("2026-03-03", "1150.00", "2", "", "True"),
    ]

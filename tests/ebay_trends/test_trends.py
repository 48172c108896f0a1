"""Trend math on small hand-computed fixtures (rules: docs/TRENDS.md).

Fixture rows are inserted with plain SQL; expected numbers in the comments are worked
out by hand from those rows, never by re-running the production SQL.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from include.ebay_trends import warehouse
from include.ebay_trends.trends import TrendWeights, compute_trends, refresh_trends

D1, D2, D3, D4 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture
def engine(fresh_pg_url):
    eng = warehouse.make_engine(fresh_pg_url)
    warehouse.migrate(eng)
    yield eng
    eng.dispose()


def add_account(conn, account_id: str) -> None:
    conn.execute(
        sa.text("INSERT INTO ebay.accounts (account_id, conn_id) VALUES (:a, :c)"),
        {"a": account_id, "c": f"ebay_{account_id}"},
    )


def add_listing(conn, account_id: str, item_id: str, *, currency="USD", price="10.00",
                category=("100", "Cameras"), first_seen=D1, ended_date=None, title=None) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO ebay.listings (account_id, item_id, title, category_id, category_name, currency,"
            " current_price, first_seen_date, last_seen_date, ended_date)"
            " VALUES (:a, :i, :t, :cid, :cname, :cur, :p, :fs, :fs, :ed)"
        ),
        {"a": account_id, "i": item_id, "t": title or f"Item {item_id}", "cid": category[0],
         "cname": category[1], "cur": currency, "p": Decimal(price), "fs": first_seen, "ed": ended_date},
    )


def snap(conn, account_id: str, item_id: str, day: date, *, price="10.00", sold=0, avail=5, watch=0,
         views=None, impressions=None, traffic_date="same", currency="USD") -> None:
    """One snapshot; traffic numbers cover ``day`` unless ``views`` is None (not reported)."""
    if traffic_date == "same":
        traffic_date = day if views is not None else None
    conn.execute(
        sa.text(
            "INSERT INTO ebay.listing_snapshots (account_id, item_id, snapshot_date, currency, price,"
            " quantity_available, quantity_sold, watch_count, views, impressions, traffic_date)"
            " VALUES (:a, :i, :d, :cur, :p, :qa, :qs, :w, :v, :imp, :td)"
        ),
        {"a": account_id, "i": item_id, "d": day, "cur": currency, "p": Decimal(price), "qa": avail,
         "qs": sold, "w": watch, "v": views, "imp": impressions, "td": traffic_date},
    )


def trend(engine, account_id: str, item_id: str, day: date) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT * FROM ebay.listing_trends WHERE account_id = :a AND item_id = :i AND trend_date = :d"),
            {"a": account_id, "i": item_id, "d": day},
        ).mappings().first()
    return dict(row) if row else None


def account_day(engine, account_id: str, day: date) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT * FROM ebay.account_daily WHERE account_id = :a AND day = :d"),
            {"a": account_id, "d": day},
        ).mappings().first()
    return dict(row) if row else None


def all_rows(engine, table: str) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT * FROM ebay.{table}")).mappings().all()
    return sorted(tuple((k, v) for k, v in r.items() if k != "computed_at") for r in rows)


@pytest.fixture
def three_days(engine):
    """Account seller_a, three days.  Expected values are worked out in the tests."""
    with engine.begin() as c:
        add_account(c, "seller_a")
        add_listing(c, "seller_a", "101", price="9.00")
        add_listing(c, "seller_a", "102", price="5.00", first_seen=D2, category=("200", "Lenses"))
        # 101: steady seller; price cut on D3; D3 traffic not reported yet
        snap(c, "seller_a", "101", D1, price="10.00", sold=5, avail=10, watch=4, views=20, impressions=200)
        snap(c, "seller_a", "101", D2, price="10.00", sold=7, avail=8, watch=6, views=30, impressions=300)
        snap(c, "seller_a", "101", D3, price="9.00", sold=10, avail=5, watch=6)
        # 102: new on D2, first watchers on D3
        snap(c, "seller_a", "102", D2, price="5.00", sold=0, avail=3, watch=0, views=0, impressions=10)
        snap(c, "seller_a", "102", D3, price="5.00", sold=0, avail=3, watch=2)
    for d in (D1, D2, D3):
        compute_trends(engine, d)
    return engine


# --------------------------------------------------------------------------- basic math
def test_day_two_deltas_growth_and_score(three_days):
    t = trend(three_days, "seller_a", "101", D2)
    assert t["prev_snapshot_date"] == D1 and t["gap_days"] == 1 and t["is_new"] is False
    assert t["units_sold"] == 2                       # 7 - 5
    assert t["revenue"] == Decimal("20.00")           # 2 x 10.00
    assert t["watchers"] == 6 and t["watchers_change"] == 2
    assert t["views"] == 30 and t["impressions"] == 300
    assert t["views_source"] == "traffic" and t["traffic_pending"] is False
    assert t["view_growth_pct"] == Decimal("50.00")   # (30 - 20) / 20
    assert t["watch_growth_pct"] == Decimal("50.00")  # (6 - 4) / 4
    assert t["price_ref_date"] == D1 and t["price_change_7d_pct"] == Decimal("0.00")
    assert t["score"] == Decimal("40.00")             # 0.4 x 50 + 0.4 x 50 + 0.2 x 0
    assert t["sell_through_pct"] == Decimal("46.67")  # 7 / (7 + 8)
    assert t["units_7d"] == 2 and t["units_7d_avg"] == Decimal("2.0000")
    assert t["views_7d"] == 50 and t["views_7d_avg"] == Decimal("25.00")   # (20 + 30) / 2 days
    assert t["watchers_7d_avg"] == Decimal("5.00")    # (4 + 6) / 2


def test_day_three_pending_traffic_and_price_cut(three_days):
    t = trend(three_days, "seller_a", "101", D3)
    assert t["units_sold"] == 3 and t["revenue"] == Decimal("27.00")   # 3 x 9.00 (D3 price)
    assert t["views"] is None and t["traffic_pending"] is True and t["views_source"] is None
    # D3 not reported yet: the view term uses the latest reported pair, D2 vs D1
    assert (t["view_growth_date"], t["view_growth_pct"]) == (D2, Decimal("50.00"))
    assert t["watch_growth_pct"] == Decimal("0.00")
    assert t["price_change_7d_pct"] == Decimal("-10.00")   # 10.00 (D1) -> 9.00
    assert t["score"] == Decimal("18.00")             # 0.4 x 50 + 0.4 x 0 + 0.2 x -10
    assert t["units_7d"] == 5 and t["units_30d"] == 5 # 2 + 3
    assert t["units_7d_avg"] == Decimal("2.5000")     # 5 units over 2 covered days
    assert t["views_7d"] == 50                        # pending D3 adds nothing
    assert t["views_7d_avg"] == Decimal("25.00")      # average over reported days only


def test_new_listing_has_no_deltas_and_zero_base_counts_100(three_days):
    t2 = trend(three_days, "seller_a", "102", D2)
    assert t2["is_new"] is True and t2["prev_snapshot_date"] is None and t2["gap_days"] is None
    assert t2["units_sold"] is None and t2["revenue"] is None   # not counted as sales
    assert t2["watchers_change"] is None and t2["watch_growth_pct"] is None
    assert t2["price_ref_date"] is None and t2["price_change_7d_pct"] is None
    assert t2["score"] == Decimal("0.00")
    t3 = trend(three_days, "seller_a", "102", D3)
    assert t3["units_sold"] == 0
    assert t3["watch_growth_pct"] == Decimal("100.00")          # 0 -> 2 counts as 100 %
    assert t3["score"] == Decimal("40.00")                      # 0.4 x 100


def test_rank_and_trending(three_days):
    a, b = trend(three_days, "seller_a", "102", D3), trend(three_days, "seller_a", "101", D3)
    assert (a["score"], a["rank"], a["trending"]) == (Decimal("40.00"), 1, True)
    assert (b["score"], b["rank"], b["trending"]) == (Decimal("18.00"), 2, True)
    d2 = trend(three_days, "seller_a", "101", D2), trend(three_days, "seller_a", "102", D2)
    assert [(t["rank"], t["trending"]) for t in d2] == [(1, True), (2, False)]   # score 0: never
    compute_trends(three_days, D3, top_n=1)
    assert trend(three_days, "seller_a", "101", D3)["trending"] is False
    assert trend(three_days, "seller_a", "102", D3)["trending"] is True


def test_account_daily_three_days(three_days):
    d1, d2, d3 = (account_day(three_days, "seller_a", d) for d in (D1, D2, D3))
    assert (d1["active_listings"], d1["new_listings"], d1["units_sold"]) == (1, 1, 0)
    assert d1["revenue"] == {"USD": 0}
    assert (d2["active_listings"], d2["new_listings"], d2["units_sold"]) == (2, 1, 2)
    assert d2["revenue"] == {"USD": 20}
    assert d2["views"] == 30 and d2["impressions"] == 310 and d2["traffic_pending"] == 0
    assert d2["watchers"] == 6 and d2["watchers_change"] == 2   # new 102 has no change
    assert (d3["units_sold"], d3["revenue"]) == (3, {"USD": 27})
    assert d3["views"] is None and d3["traffic_pending"] == 2
    assert d3["watchers"] == 8 and d3["watchers_change"] == 2 and d3["trending"] == 2


def test_category_daily(three_days):
    with three_days.connect() as c:
        rows = c.execute(sa.text(
            "SELECT category_id, category_name, active_listings, units_sold, revenue, watchers, trending"
            " FROM ebay.category_daily WHERE account_id = 'seller_a' AND day = :d ORDER BY category_id"
        ), {"d": D3}).all()
    assert [tuple(r) for r in rows] == [
        ("100", "Cameras", 1, 3, {"USD": 27}, 6, 1),
        ("200", "Lenses", 1, 0, {"USD": 0}, 2, 1),
    ]


# --------------------------------------------------------------------------- edge cases
def test_gap_deltas_over_the_gap_and_growth_per_day(engine):
    with engine.begin() as c:
        add_account(c, "s")
        add_listing(c, "s", "201")
        snap(c, "s", "201", D1, sold=1, watch=10, views=8)
        snap(c, "s", "201", D4, sold=7, watch=16, views=12)    # D2, D3 missing
    compute_trends(engine, D4)
    t = trend(engine, "s", "201", D4)
    assert t["prev_snapshot_date"] == D1 and t["gap_days"] == 3
    assert t["units_sold"] == 6                       # all sales over the gap, once
    assert t["watchers_change"] == 6
    assert t["watch_growth_pct"] == Decimal("20.00")  # (16 - 10) / 10 = 60 %, / 3 days
    assert t["view_growth_pct"] is None               # no views for D3: no day-over-day
    assert t["score"] == Decimal("8.00")              # 0.4 x 20
    assert t["units_7d"] == 6 and t["units_7d_avg"] == Decimal("2.0000")   # 6 over 3 days
    assert account_day(engine, "s", D4)["gaps"] == 1


def test_lifetime_total_going_down_is_a_reset(engine):
    with engine.begin() as c:
        add_account(c, "s")
        add_listing(c, "s", "301")
        snap(c, "s", "301", D1, sold=10)
        snap(c, "s", "301", D2, sold=4)      # correction / relist: lifetime went down
        snap(c, "s", "301", D3, sold=6)
    for d in (D1, D2, D3):
        compute_trends(engine, d)
    t2, t3 = trend(engine, "s", "301", D2), trend(engine, "s", "301", D3)
    assert (t2["units_sold"], t2["sold_reset"], t2["revenue"]) == (0, True, Decimal("0.00"))
    assert (t3["units_sold"], t3["sold_reset"]) == (2, False)   # counts from the new base
    assert t3["units_7d"] == 2
    assert account_day(engine, "s", D2)["resets"] == 1


def test_view_zero_base_and_clamps(engine):
    with engine.begin() as c:
        add_account(c, "s")
        for item in ("401", "402", "403", "404"):
            add_listing(c, "s", item)
        snap(c, "s", "401", D1, views=0)
        snap(c, "s", "401", D2, views=5)                  # 0 -> 5: 100 %
        snap(c, "s", "402", D1, views=0)
        snap(c, "s", "402", D2, views=0)                  # 0 -> 0: 0 %
        snap(c, "s", "403", D1, views=1, watch=1)
        snap(c, "s", "403", D2, views=50, watch=10)       # 4900 % and 900 %: clamped to 500
        snap(c, "s", "404", D1, price="10.00", views=10)
        snap(c, "s", "404", D2, price="25.00", views=10)  # +150 % price: clamped to 100
    compute_trends(engine, D2)
    t = {i: trend(engine, "s", i, D2) for i in ("401", "402", "403", "404")}
    assert (t["401"]["view_growth_pct"], t["401"]["score"]) == (Decimal("100.00"), Decimal("40.00"))
    assert (t["402"]["view_growth_pct"], t["402"]["score"]) == (Decimal("0.00"), Decimal("0.00"))
    assert t["403"]["view_growth_pct"] == Decimal("4900.00")    # stored unclamped
    assert t["403"]["watch_growth_pct"] == Decimal("900.00")
    assert t["403"]["score"] == Decimal("400.00")               # 0.4 x 500 + 0.4 x 500
    assert t["404"]["price_change_7d_pct"] == Decimal("150.00")
    assert t["404"]["score"] == Decimal("20.00")                # 0.2 x 100
    ranks = {i: t[i]["rank"] for i in t}
    assert ranks == {"403": 1, "401": 2, "404": 3, "402": 4}


def test_ties_break_by_item_id_in_numeric_order(engine):
    with engine.begin() as c:
        add_account(c, "s")
        for item in ("1000", "999", "20"):
            add_listing(c, "s", item)
            snap(c, "s", item, D1, watch=1)
            snap(c, "s", item, D2, watch=2)               # all score 40
    compute_trends(engine, D2, top_n=2)
    got = {i: (trend(engine, "s", i, D2)["rank"], trend(engine, "s", i, D2)["trending"])
           for i in ("20", "999", "1000")}
    assert got == {"20": (1, True), "999": (2, True), "1000": (3, False)}


def test_currencies_are_never_summed(engine):
    with engine.begin() as c:
        add_account(c, "b")
        add_listing(c, "b", "501", currency="USD")
        add_listing(c, "b", "502", currency="GBP")
        add_listing(c, "b", "503", currency="EUR")
        snap(c, "b", "501", D1, price="10.00", sold=0)
        snap(c, "b", "501", D2, price="10.00", sold=2)
        snap(c, "b", "502", D1, price="8.50", sold=1, currency="GBP")
        snap(c, "b", "502", D2, price="8.50", sold=4, currency="GBP")
        # 503 was listed in USD, now in EUR: no price comparison across currencies
        snap(c, "b", "503", D1, price="10.00", currency="USD")
        snap(c, "b", "503", D2, price="12.00", currency="EUR")
    compute_trends(engine, D2)
    assert trend(engine, "b", "502", D2)["revenue"] == Decimal("25.50")     # 3 x 8.50 GBP
    assert trend(engine, "b", "502", D2)["currency"] == "GBP"
    t503 = trend(engine, "b", "503", D2)
    assert t503["price_change_7d_pct"] is None and t503["score"] == Decimal("0.00")
    day = account_day(engine, "b", D2)
    assert day["revenue"] == {"EUR": 0, "GBP": Decimal("25.5"), "USD": 20}
    assert day["units_sold"] == 5


def test_ended_listing_has_no_rows_after_it_ended(engine):
    with engine.begin() as c:
        add_account(c, "s")
        add_listing(c, "s", "601", ended_date=D2)
        add_listing(c, "s", "602")
        snap(c, "s", "601", D1, sold=1)
        snap(c, "s", "601", D2, sold=2)      # stray rows on/after the end day: ignored
        snap(c, "s", "601", D3, sold=2)
        snap(c, "s", "602", D1)
        snap(c, "s", "602", D2)
        snap(c, "s", "602", D3)
    for d in (D1, D2, D3):
        compute_trends(engine, d)
    assert trend(engine, "s", "601", D1) is not None
    assert trend(engine, "s", "601", D2) is None and trend(engine, "s", "601", D3) is None
    assert account_day(engine, "s", D2)["ended_listings"] == 1
    assert account_day(engine, "s", D2)["active_listings"] == 1
    assert account_day(engine, "s", D3)["ended_listings"] == 0


def test_late_traffic_report_fills_in_on_rerun(three_days):
    assert trend(three_days, "seller_a", "101", D3)["traffic_pending"] is True
    with three_days.begin() as c:   # the report for D3 arrives with the D4 sync
        c.execute(sa.text(
            "UPDATE ebay.listing_snapshots SET views = 60, impressions = 400, traffic_date = :d"
            " WHERE account_id = 'seller_a' AND item_id = '101' AND snapshot_date = :d"), {"d": D3})
    compute_trends(three_days, D3)
    t = trend(three_days, "seller_a", "101", D3)
    assert (t["views"], t["traffic_pending"]) == (60, False)
    assert (t["view_growth_date"], t["view_growth_pct"]) == (D3, Decimal("100.00"))   # (60 - 30) / 30
    assert t["score"] == Decimal("38.00")               # 0.4 x 100 + 0.4 x 0 + 0.2 x -10
    assert t["views_7d"] == 110
    assert account_day(three_days, "seller_a", D3)["views"] == 60
    with three_days.connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM ebay.listing_trends WHERE trend_date = :d"), {"d": D3}).scalar()
    assert n == 2


def test_view_growth_looks_back_at_most_three_days(engine):
    with engine.begin() as c:
        add_account(c, "s")
        add_listing(c, "s", "711")
        snap(c, "s", "711", D1, views=10)
        snap(c, "s", "711", D2, views=15)
        for i in range(2, 6):                                       # Mar 3 .. Mar 6 pending
            snap(c, "s", "711", D1 + timedelta(days=i))
    compute_trends(engine, date(2026, 3, 5))                        # T = D2 is 3 days back: used
    t = trend(engine, "s", "711", date(2026, 3, 5))
    assert (t["view_growth_date"], t["view_growth_pct"], t["score"]) == (D2, Decimal("50.00"), Decimal("20.00"))
    compute_trends(engine, date(2026, 3, 6))                        # 4 days back: too old
    t = trend(engine, "s", "711", date(2026, 3, 6))
    assert (t["view_growth_date"], t["view_growth_pct"], t["score"]) == (None, None, Decimal("0.00"))


def test_traffic_stored_on_a_later_snapshot_is_used(engine):
    """A day's numbers may sit on a later snapshot (traffic_date says which day): newest wins."""
    with engine.begin() as c:
        add_account(c, "s")
        add_listing(c, "s", "701")
        snap(c, "s", "701", D1, views=10)
        snap(c, "s", "701", D2)                                     # D2 not reported on D2 ...
        snap(c, "s", "701", D3, views=14, traffic_date=D2)          # ... but on D3's row
    compute_trends(engine, D2)
    t = trend(engine, "s", "701", D2)
    assert (t["views"], t["traffic_pending"], t["view_growth_pct"]) == (14, False, Decimal("40.00"))


def test_seven_day_window_and_price_reference(engine):
    """Nine daily snapshots; the 7-day window is D9-6..D9 and the price reference is D9-7."""
    days = [D1 + timedelta(days=i) for i in range(9)]           # Mar 1 .. Mar 9
    with engine.begin() as c:
        add_account(c, "s")
        add_listing(c, "s", "801")
        for i, d in enumerate(days):
            # sells i units on day i (lifetime 0,1,3,6,...); price 20.00 until Mar 2, then 16.00
            snap(c, "s", "801", d, sold=i * (i + 1) // 2, views=i, price="20.00" if i <= 1 else "16.00")
    compute_trends(engine, days[-1])
    t = trend(engine, "s", "801", days[-1])
    assert t["units_sold"] == 8
    assert t["units_7d"] == 2 + 3 + 4 + 5 + 6 + 7 + 8           # Mar 3 .. Mar 9
    assert t["units_30d"] == 36                                  # 1 + ... + 8
    assert t["units_30d_avg"] == Decimal("4.5000")               # 36 over 8 covered days
    assert t["views_7d"] == 35 and t["views_7d_avg"] == Decimal("5.00")
    assert t["price_ref_date"] == date(2026, 3, 2)               # Mar 9 - 7
    assert t["price_change_7d_pct"] == Decimal("-20.00")         # 20.00 -> 16.00
    assert t["view_growth_pct"] == Decimal("14.29")              # (8 - 7) / 7
    # 0.4 x 14.2857 + 0.4 x 0 + 0.2 x -20 = 1.714 -> 1.71
    assert t["score"] == Decimal("1.71")


def test_weights_are_configurable(three_days):
    compute_trends(three_days, D2, weights=TrendWeights(views=1, watchers=0, price=0))
    assert trend(three_days, "seller_a", "101", D2)["score"] == Decimal("50.00")
    compute_trends(three_days, D2, weights=TrendWeights(views=0, watchers=0, price=0))
    assert trend(three_days, "seller_a", "101", D2)["score"] == Decimal("0.00")
    assert trend(three_days, "seller_a", "101", D2)["trending"] is False


# --------------------------------------------------------------------------- idempotency
def test_rerun_replaces_and_never_duplicates(three_days):
    before = {t: all_rows(three_days, t) for t in ("listing_trends", "account_daily", "category_daily")}
    summary = compute_trends(three_days, D3)
    summary_again = compute_trends(three_days, D3)
    after = {t: all_rows(three_days, t) for t in before}
    assert after == before
    assert summary == summary_again
    assert summary["listings"] == 2 and summary["replaced_rows"] == 2 + 1 + 2
    assert summary["traffic_pending"] == 2 and summary["trending"] == 2 and summary["units_sold"] == 3


def test_accounts_subset_leaves_other_accounts_alone(three_days):
    with three_days.begin() as c:
        add_account(c, "seller_b")
        add_listing(c, "seller_b", "901")
        snap(c, "seller_b", "901", D3)
    compute_trends(three_days, D3, accounts=["seller_b"])
    assert trend(three_days, "seller_b", "901", D3) is not None
    assert trend(three_days, "seller_a", "101", D3) is not None          # untouched
    with three_days.begin() as c:       # seller_a's D3 data changes; only seller_b is recomputed
        c.execute(sa.text("UPDATE ebay.listing_snapshots SET quantity_sold = 11"
                          " WHERE item_id = '101' AND snapshot_date = :d"), {"d": D3})
    compute_trends(three_days, D3, accounts=["seller_b"])
    assert trend(three_days, "seller_a", "101", D3)["units_sold"] == 3
    compute_trends(three_days, D3, accounts=["seller_a"])
    assert trend(three_days, "seller_a", "101", D3)["units_sold"] == 4


def test_rerun_after_snapshots_removed_drops_rows(three_days):
    with three_days.begin() as c:
        c.execute(sa.text("DELETE FROM ebay.listing_snapshots WHERE snapshot_date = :d"), {"d": D3})
    summary = compute_trends(three_days, D3)
    assert summary["listings"] == 0
    assert account_day(three_days, "seller_a", D3) is None


def test_argument_validation(engine):
    with pytest.raises(TypeError):
        compute_trends(engine, "2026-03-01")
    with pytest.raises(TypeError):
        compute_trends(engine, D1, accounts="seller_a")
    with pytest.raises(ValueError):
        compute_trends(engine, D1, top_n=-1)
    with pytest.raises(ValueError):
        TrendWeights(views=float("nan"))
    with pytest.raises(ValueError):
        TrendWeights(growth_cap=0)


def test_refresh_trends_recomputes_the_lookback_days(three_days):
    # D3's report arrives with D4's sync; refreshing D4 with lookback 1 also redoes D3.
    with three_days.begin() as c:
        c.execute(sa.text(
            "UPDATE ebay.listing_snapshots SET views = 60, traffic_date = snapshot_date"
            " WHERE item_id = '101' AND snapshot_date = :d"), {"d": D3})
        snap(c, "seller_a", "101", D4, price="9.00", sold=10, avail=5, watch=6)
    result = refresh_trends(three_days, D4, lookback_days=1)
    assert [r["snapshot_date"] for r in result["dates"]] == ["2026-03-03", "2026-03-04"]
    assert trend(three_days, "seller_a", "101", D3)["views"] == 60
    t4 = trend(three_days, "seller_a", "101", D4)
    assert (t4["traffic_pending"], t4["view_growth_date"], t4["view_growth_pct"]) == (True, D3, Decimal("100.00"))
    with pytest.raises(ValueError):
        refresh_trends(three_days, D4, lookback_days=-1)

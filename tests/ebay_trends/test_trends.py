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


# --------------------------------------------------------------------------- refresh: what is recomputed when
D5, D6 = date(2026, 3, 5), date(2026, 3, 6)
TREND_TABLES = (("listing_trends", "trend_date"), ("account_daily", "day"), ("category_daily", "day"))


def fill_traffic(conn, day: date, views: dict[str, int | None], account: str = "seller_a") -> None:
    """What the sync's traffic pass does (sync._apply_traffic): numbers + traffic_date on that day's rows."""
    for item, v in views.items():
        conn.execute(sa.text(
            "UPDATE ebay.listing_snapshots SET views = :v, impressions = :imp, traffic_date = :d"
            " WHERE account_id = :a AND item_id = :i AND snapshot_date = :d"),
            {"v": v, "imp": None if v is None else v * 10, "d": day, "a": account, "i": item})


def trend_rows(engine, days, *, computed_at: bool = False, accounts=None) -> dict[str, list[tuple]]:
    """Every trend row of these days (optionally only some accounts), per table, sorted."""
    out = {}
    with engine.connect() as conn:
        for table, col in TREND_TABLES:
            rows = conn.execute(sa.text(f"SELECT * FROM ebay.{table} WHERE {col} = ANY(:ds)"),
                                {"ds": list(days)}).mappings().all()
            out[table] = sorted(
                tuple((k, v) for k, v in r.items() if computed_at or k != "computed_at")
                for r in rows if accounts is None or r["account_id"] in accounts)
    return out


def copy_inputs(src, dst) -> None:
    """The trends' inputs (accounts, listings, snapshots) of one warehouse into an empty one."""
    with src.connect() as s, dst.begin() as d:
        for table in ("accounts", "listings", "listing_snapshots"):
            rows = [dict(r) for r in s.execute(sa.text(f"SELECT * FROM ebay.{table}")).mappings()]
            if rows:
                cols = list(rows[0])
                d.execute(sa.text(f"INSERT INTO ebay.{table} ({', '.join(cols)})"
                                  f" VALUES ({', '.join(':' + c for c in cols)})"), rows)


def from_scratch(engine, make_pg_db, days) -> dict[str, list[tuple]]:
    """The trend rows of ``days`` computed by compute_trends in a fresh warehouse with the same inputs."""
    other = warehouse.make_engine(make_pg_db())
    try:
        warehouse.migrate(other)
        copy_inputs(engine, other)
        for d in sorted(days):
            compute_trends(other, d)
        return trend_rows(other, days)
    finally:
        other.dispose()


@pytest.fixture
def window(engine):
    """Two accounts, Mar 1..4, traffic reported through Mar 3 (102's Mar 2 still missing),
    refreshed on Mar 4 with the default 3-day lookback: Mar 1..4 computed."""
    with engine.begin() as c:
        add_account(c, "seller_a")
        add_account(c, "seller_b")
        add_listing(c, "seller_a", "101")
        add_listing(c, "seller_a", "102", category=("200", "Lenses"))
        add_listing(c, "seller_a", "103", ended_date=D4)
        add_listing(c, "seller_b", "201")
        for i, d in enumerate((D1, D2, D3, D4)):
            snap(c, "seller_a", "101", d, sold=2 * i, watch=3 + i, views=None if d == D4 else 10 + 5 * i)
            snap(c, "seller_a", "102", d, sold=i, watch=1, views=None if d in (D2, D4) else 4 + i)
            if d != D4:
                snap(c, "seller_a", "103", d, sold=i, watch=2, views=7)
            snap(c, "seller_b", "201", d, price="20.00", sold=i // 2, watch=i, views=None if d == D4 else 30 - i,
                 currency="GBP")
    result = refresh_trends(engine, D4)
    assert result["computed"] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert {r["reason"] for r in result["dates"][:3]} == {"seller_a: never computed; seller_b: never computed"}
    return engine


def next_day(conn, day: date) -> None:
    """A sync of ``day``: new snapshots (traffic pending) and yesterday's report filled in."""
    for item, sold in (("101", 9), ("102", 4)):
        snap(conn, "seller_a", item, day, sold=sold, watch=6)
    snap(conn, "seller_b", "201", day, price="20.00", sold=3, watch=5, currency="GBP")
    fill_traffic(conn, day - timedelta(days=1), {"101": 40, "102": 8})
    fill_traffic(conn, day - timedelta(days=1), {"201": 25}, account="seller_b")


def test_refresh_twice_without_changes_computes_only_the_run_date(window):
    earlier = (D1, D2, D3)
    before = trend_rows(window, earlier, computed_at=True)
    with window.connect() as c:
        inputs_before = c.execute(sa.text("SELECT * FROM ebay.trend_inputs WHERE trend_date < :d"
                                          " ORDER BY 1, 2"), {"d": D4}).all()
    result = refresh_trends(window, D4)
    assert result["computed"] == ["2026-03-04"]
    assert sorted(result["skipped"]) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert all(why.startswith("inputs unchanged since computed at ") for why in result["skipped"].values())
    assert [r["computed"] for r in result["dates"]] == [False, False, False, True]
    assert result["dates"][-1]["reason"] == "the run's own date: always computed"
    assert result["dates"][-1]["listings"] == 3     # 103 ended on Mar 4
    # not rewritten at all: same rows, same computed_at, same recorded inputs
    assert trend_rows(window, earlier, computed_at=True) == before
    with window.connect() as c:
        assert c.execute(sa.text("SELECT * FROM ebay.trend_inputs WHERE trend_date < :d ORDER BY 1, 2"),
                         {"d": D4}).all() == inputs_before


def test_traffic_filled_in_recomputes_that_date_and_equals_a_fresh_compute(window, make_pg_db):
    with window.begin() as c:
        next_day(c, D5)                               # Mar 4's report arrives with Mar 5's sync
    result = refresh_trends(window, D5)
    assert result["computed"] == ["2026-03-04", "2026-03-05"]
    assert sorted(result["skipped"]) == ["2026-03-02", "2026-03-03"]
    why = result["dates"][2]["reason"]
    assert "seller_a: traffic filled in on snapshots dated 2026-02-02..2026-03-04 (8 -> 10 rows with traffic)" in why
    assert "seller_b: traffic filled in" in why
    t = trend(window, "seller_a", "101", D4)
    assert (t["views"], t["traffic_pending"], t["view_growth_date"]) == (40, False, D4)
    assert t["view_growth_pct"] == Decimal("100.00")     # (40 - 20) / 20
    window_days = (D2, D3, D4, D5)
    assert trend_rows(window, window_days) == from_scratch(window, make_pg_db, window_days)


def test_an_older_hole_filled_recomputes_every_date_that_depends_on_it(window, make_pg_db):
    with window.begin() as c:
        next_day(c, D5)
        fill_traffic(c, D2, {"102": 50})              # a hole two days back, filled late
    old_d3 = trend(window, "seller_a", "102", D3)
    result = refresh_trends(window, D5)
    # Mar 3's and Mar 4's 7-day view sums include Mar 2: they change too
    assert result["computed"] == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
    assert result["dates"][0]["recomputed_accounts"] == ["seller_a"]    # seller_b: nothing changed
    assert "seller_b" not in result["dates"][1]["reason"]
    new_d3 = trend(window, "seller_a", "102", D3)
    assert new_d3["views_7d"] == old_d3["views_7d"] + 50
    assert trend(window, "seller_a", "102", D2)["views"] == 50
    window_days = (D2, D3, D4, D5)
    assert trend_rows(window, window_days) == from_scratch(window, make_pg_db, window_days)


def test_a_date_never_computed_is_computed(engine):
    with engine.begin() as c:
        add_account(c, "s")
        add_listing(c, "s", "1")
        for d in (D1, D2, D3, D4):
            snap(c, "s", "1", d, sold=1, views=5)
    refresh_trends(engine, D3, lookback_days=0)
    result = refresh_trends(engine, D4)
    assert result["computed"] == ["2026-03-01", "2026-03-02", "2026-03-04"]
    assert list(result["skipped"]) == ["2026-03-03"]
    assert result["dates"][0]["reason"] == "s: never computed"
    # a date of the window without any snapshot is computed once (nothing to write), then skipped
    result = refresh_trends(engine, D5)
    assert result["computed"] == ["2026-03-05"] and result["dates"][-1]["listings"] == 0
    assert refresh_trends(engine, D5)["computed"] == ["2026-03-05"]


def test_refresh_respects_the_accounts_argument(window):
    with window.begin() as c:                         # seller_a's Mar 2 data changes
        c.execute(sa.text("UPDATE ebay.listing_snapshots SET watch_count = 9"
                          " WHERE account_id = 'seller_a' AND item_id = '101' AND snapshot_date = :d"), {"d": D2})
    a_before = trend_rows(window, (D1, D2, D3, D4), computed_at=True, accounts={"seller_a"})
    result = refresh_trends(window, D4, accounts=["seller_b"])
    assert result["computed"] == ["2026-03-04"] and len(result["skipped"]) == 3
    assert trend_rows(window, (D1, D2, D3, D4), computed_at=True, accounts={"seller_a"}) == a_before
    b_before = trend_rows(window, (D1, D2, D3, D4), computed_at=True, accounts={"seller_b"})
    result = refresh_trends(window, D4, accounts=["seller_a"])
    assert result["computed"] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert result["dates"][1]["reason"] == "seller_a: snapshot values dated 2026-01-31..2026-03-02 changed"
    assert result["dates"][1]["recomputed_accounts"] == ["seller_a"]
    assert trend(window, "seller_a", "101", D2)["watchers"] == 9
    assert trend_rows(window, (D1, D2, D3, D4), computed_at=True, accounts={"seller_b"}) == b_before
    with window.connect() as c:
        rows = c.execute(sa.text("SELECT account_id, count(*) FROM ebay.trend_inputs GROUP BY 1 ORDER BY 1")).all()
    assert [tuple(r) for r in rows] == [("seller_a", 4), ("seller_b", 4)]


def test_listing_end_and_category_changes_are_inputs(window, make_pg_db):
    with window.begin() as c:
        # 103 was marked ended on Mar 4 by mistake and comes back; 102 gets its real category
        c.execute(sa.text("UPDATE ebay.listings SET ended_date = NULL WHERE item_id = '103'"))
        c.execute(sa.text("UPDATE ebay.listings SET category_id = '300', category_name = 'Bags'"
                          " WHERE item_id = '102'"))
    result = refresh_trends(window, D4)
    assert result["computed"] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert result["dates"][0]["reason"] == "seller_a: end dates or categories of its listings changed"
    assert result["dates"][0]["recomputed_accounts"] == ["seller_a"]
    assert account_day(window, "seller_a", D4)["ended_listings"] == 0
    days = (D1, D2, D3, D4)
    assert trend_rows(window, days) == from_scratch(window, make_pg_db, days)
    # a listing ending today changes no earlier date
    with window.begin() as c:
        c.execute(sa.text("UPDATE ebay.listings SET ended_date = :d WHERE item_id = '103'"), {"d": D5})
    assert refresh_trends(window, D4)["computed"] == ["2026-03-04"]


def test_traffic_stored_on_a_later_snapshot_recomputes_the_day_it_covers(window, make_pg_db):
    with window.begin() as c:
        # Mar 2's numbers for 102 arrive on its Mar 4 row (traffic_date says which day)
        c.execute(sa.text("UPDATE ebay.listing_snapshots SET views = 70, traffic_date = :d2"
                          " WHERE item_id = '102' AND snapshot_date = :d4"), {"d2": D2, "d4": D4})
    result = refresh_trends(window, D4)
    assert result["computed"] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert "traffic for 2026-03-02 or earlier stored on a later snapshot changed" in result["dates"][1]["reason"]
    assert trend(window, "seller_a", "102", D2)["views"] == 70
    days = (D1, D2, D3, D4)
    assert trend_rows(window, days) == from_scratch(window, make_pg_db, days)


def test_the_snapshot_before_the_window_is_an_input(engine, make_pg_db):
    """Across a long gap the previous snapshot and the 7-day price reference are older than
    the 30-day window: the latest such row is an input, older ones are not."""
    old, older = D1 - timedelta(days=40), D1 - timedelta(days=50)
    with engine.begin() as c:
        add_account(c, "s")
        add_listing(c, "s", "1", first_seen=older)
        snap(c, "s", "1", older, sold=1, price="30.00")
        snap(c, "s", "1", old, sold=2, price="20.00", watch=4)
        for d in (D1, D2, D3, D4):
            snap(c, "s", "1", d, sold=5, price="10.00", watch=4, views=3)
    refresh_trends(engine, D4)
    t = trend(engine, "s", "1", D1)
    assert (t["prev_snapshot_date"], t["units_sold"], t["price_ref_date"]) == (old, 3, old)
    with engine.begin() as c:       # not the latest row before the window: no date reads it
        c.execute(sa.text("UPDATE ebay.listing_snapshots SET quantity_sold = 0 WHERE snapshot_date = :d"),
                  {"d": older})
    assert refresh_trends(engine, D4)["computed"] == ["2026-03-04"]
    with engine.begin() as c:       # the latest one: every date of the window reads it
        c.execute(sa.text("UPDATE ebay.listing_snapshots SET quantity_sold = 4, price = 40.00"
                          " WHERE snapshot_date = :d"), {"d": old})
    result = refresh_trends(engine, D4)
    assert result["computed"] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert result["dates"][0]["reason"] == "s: an older previous snapshot / price reference changed"
    t = trend(engine, "s", "1", D1)
    assert (t["units_sold"], t["price_change_7d_pct"]) == (1, Decimal("-75.00"))   # 40.00 -> 10.00
    assert trend(engine, "s", "1", D4)["units_30d"] == 1
    days = (D1, D2, D3, D4)
    assert trend_rows(engine, days) == from_scratch(engine, make_pg_db, days)


def test_other_weights_or_top_n_recompute_every_date(window):
    result = refresh_trends(window, D4, top_n=1)
    assert result["computed"] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert result["dates"][0]["reason"] == ("seller_a: weights, top_n or trend SQL changed; "
                                            "seller_b: weights, top_n or trend SQL changed")
    assert refresh_trends(window, D4, top_n=1)["computed"] == ["2026-03-04"]
    assert refresh_trends(window, D4, top_n=1, weights=TrendWeights(views=1))["computed"] == \
        ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]


def test_refresh_is_exact_under_random_changes(engine, make_pg_db):
    """Day after day of sync-like writes plus random edits anywhere in the window: every
    date refresh_trends skips or recomputes equals a from-scratch compute of the same inputs."""
    import random

    rnd = random.Random(20260301)
    items = [str(1000 + i) for i in range(12)]
    with engine.begin() as c:
        add_account(c, "seller_a")
        add_account(c, "seller_b")
        for n, i in enumerate(items):
            add_listing(c, "seller_a" if n % 3 else "seller_b", i, category=(str(n % 4), f"Cat {n % 4}"))
    acct = {i: "seller_a" if n % 3 else "seller_b" for n, i in enumerate(items)}
    ancient = (D1 - timedelta(days=45), D1 - timedelta(days=35))    # before every window below
    with engine.begin() as c:
        for i in items:
            for d in ancient:
                snap(c, acct[i], i, d, sold=0, watch=1, price="11.00", views=3)
    sold = dict.fromkeys(items, 0)
    skipped = 0
    for k in range(10):
        day = D1 + timedelta(days=k)
        with engine.begin() as c:
            for i in items:
                if rnd.random() < 0.9:                # some listings miss a day: gaps
                    sold[i] += rnd.choice((0, 0, 1, 2))
                    snap(c, acct[i], i, day, sold=sold[i], watch=rnd.randint(0, 9),
                         price=rnd.choice(("10.00", "12.00")))
            c.execute(sa.text("UPDATE ebay.listing_snapshots SET views = (abs(hashtext(item_id)) % 50)::int,"
                              " traffic_date = snapshot_date WHERE snapshot_date = :d"), {"d": day - timedelta(days=1)})
            for _ in range(rnd.choice((0, 1, 2, 3))):  # edits on the dates that would be skipped
                d = day - timedelta(days=rnd.randint(2, 3))
                i = rnd.choice(items)
                kind = rnd.choice(("views", "sold", "category", "ended", "late", "delete", "old"))
                if kind == "views":
                    c.execute(sa.text("UPDATE ebay.listing_snapshots SET views = :v, traffic_date = snapshot_date"
                                      " WHERE item_id = :i AND snapshot_date = :d"), {"v": rnd.randint(0, 99), "i": i, "d": d})
                elif kind == "sold":
                    c.execute(sa.text("UPDATE ebay.listing_snapshots SET quantity_sold = quantity_sold + 1"
                                      " WHERE item_id = :i AND snapshot_date = :d"), {"i": i, "d": d})
                elif kind == "category":
                    c.execute(sa.text("UPDATE ebay.listings SET category_id = :c WHERE item_id = :i"),
                              {"c": str(rnd.randint(0, 5)), "i": i})
                elif kind == "old":
                    c.execute(sa.text("UPDATE ebay.listing_snapshots SET quantity_sold = quantity_sold + 1,"
                                      " price = price + 1 WHERE item_id = :i AND snapshot_date = :d"),
                              {"i": i, "d": rnd.choice(ancient)})
                elif kind == "delete":
                    c.execute(sa.text("DELETE FROM ebay.listing_snapshots WHERE item_id = :i AND snapshot_date = :d"),
                              {"i": i, "d": d})
                elif kind == "ended":
                    c.execute(sa.text("UPDATE ebay.listings SET ended_date = CASE WHEN ended_date IS NULL"
                                      " THEN CAST(:d AS date) END WHERE item_id = :i"), {"d": d, "i": i})
                else:
                    c.execute(sa.text("UPDATE ebay.listing_snapshots SET views = 77, traffic_date = :d"
                                      " WHERE item_id = :i AND snapshot_date = :today"), {"d": d, "i": i, "today": day})
        result = refresh_trends(engine, day)
        skipped += len(result["skipped"])
        days = [day - timedelta(days=n) for n in range(4)]
        assert trend_rows(engine, days) == from_scratch(engine, make_pg_db, days), (day, result["dates"])
    assert skipped >= 5            # dates without edits were skipped, and were right to be


def test_concurrent_refreshes_of_one_date_are_serialised(window):
    import threading

    with window.begin() as c:
        next_day(c, D5)
    errors, results = [], []

    def run():
        try:
            results.append(refresh_trends(window, D5))
        except Exception as exc:   # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # the first to get a date's lock recomputes it; the others find its inputs recorded
    assert sorted(len(r["computed"]) for r in results) == [1, 1, 2]
    with window.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM ebay.listing_trends WHERE trend_date = :d"),
                         {"d": D4}).scalar() == 3


def test_a_failed_computation_changes_nothing_and_releases_the_lock(window, monkeypatch):
    from include.ebay_trends import trends

    with window.begin() as c:
        next_day(c, D5)
    before = trend_rows(window, (D2, D3, D4, D5), computed_at=True)
    monkeypatch.setattr(trends, "_INSERT_CATEGORY_DAILY", "SELECT no_such_column FROM ebay.listings")
    with pytest.raises(sa.exc.ProgrammingError):
        refresh_trends(window, D5)
    assert trend_rows(window, (D2, D3, D4, D5), computed_at=True) == before   # rolled back
    with window.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar() == 0
        assert c.execute(sa.text("SELECT count(*) FROM ebay.trend_inputs WHERE trend_date = :d"),
                         {"d": D5}).scalar() == 0
    monkeypatch.undo()
    assert refresh_trends(window, D5)["computed"] == ["2026-03-04", "2026-03-05"]

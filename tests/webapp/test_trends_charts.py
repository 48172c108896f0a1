"""SVG charts and HTML formatting helpers (no server needed)."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from include.ebay_trends.webapp.charts import _axis, chart
from include.ebay_trends.webapp.render import make_env, money, safe_url


def test_line_chart_points_gaps_and_escaping():
    svg = chart([(date(2026, 3, 1), Decimal("10.00")), (date(2026, 3, 2), None),
                 (date(2026, 3, 3), Decimal("12.50")), (date(2026, 3, 4), Decimal("11.00"))],
                title='Price <b>"x"</b> & co', chart_id="c1")
    assert svg.count('class="pt"') == 3                      # the None day is a gap, not a point
    assert svg.count("<polyline") == 1                       # only the run 3..4 has two points
    assert 'data-date="2026-03-03" data-value="12.50"' in svg
    assert "<b>" not in svg and "Price &lt;b&gt;&#34;x&#34;&lt;/b&gt; &amp; co" in svg


def test_bar_chart_marks_pending_days():
    svg = chart([(date(2026, 3, 1), 3), (date(2026, 3, 2), None)], title="Views", kind="bar")
    assert svg.count('class="pt"') == 1 and svg.count('class="pt pending"') == 1


def test_empty_chart_says_so():
    assert "No data yet" in chart([(date(2026, 3, 1), None)], title="t")
    with pytest.raises(ValueError):
        chart([], title="t", kind="pie")


@pytest.mark.parametrize("value, integral, expected", [
    (3, True, (3, 3)), (1, True, (2, 2)), (212, True, (250, 5)), (24, True, (25, 5)),
    (1200, False, (1250, 5)), (0, True, (5, 5)),
])
def test_axis_is_round_and_whole_for_counts(value, integral, expected):
    assert _axis(value, integral) == expected


def test_safe_url_allows_http_only():
    assert safe_url("https://www.ebay.com/itm/1") == "https://www.ebay.com/itm/1"
    for bad in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<script>", "//evil", "",
                None, "https://a b"):
        assert safe_url(bad) is None
    assert safe_url("data:image/png;base64,AAAA", image=True) == "data:image/png;base64,AAAA"
    assert safe_url("data:image/png;base64,AAAA") is None     # never as a link


def test_money_per_currency():
    assert money(Decimal("2800"), "USD") == "$2,800.00"
    assert money(Decimal("1234.5"), "JPY") == "¥1,234"  # zero-decimal currency (rounded half-even)
    assert money(Decimal("9.9"), "SEK") == "9.90 SEK"
    assert money(None, "USD") == "–"


def test_templates_autoescape_everything():
    env = make_env()
    html = env.from_string("{{ t }}").render(t="<img src=x onerror=alert(1)> & 'q' \"d\"")
    assert html == "&lt;img src=x onerror=alert(1)&gt; &amp; &#39;q&#39; &#34;d&#34;"
    assert not re.search(r"<img", html)

"""Call budget: the eBay day (US Pacific, DST-aware), counters, the guard."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from include.ebay_trends import budget
from include.ebay_trends.errors import CallBudgetExhausted


@pytest.mark.parametrize("at, day, reset", [
    # 07:59 UTC in winter is 23:59 PST the day before; reset at 08:00 UTC (PST = UTC-8)
    (datetime(2026, 1, 15, 7, 59, tzinfo=timezone.utc), date(2026, 1, 14), datetime(2026, 1, 15, 8, 0, tzinfo=timezone.utc)),
    (datetime(2026, 1, 15, 8, 0, tzinfo=timezone.utc), date(2026, 1, 15), datetime(2026, 1, 16, 8, 0, tzinfo=timezone.utc)),
    # summer: PDT = UTC-7
    (datetime(2026, 7, 1, 6, 30, tzinfo=timezone.utc), date(2026, 6, 30), datetime(2026, 7, 1, 7, 0, tzinfo=timezone.utc)),
    # the night DST starts (2026-03-08): the next midnight is already PDT
    (datetime(2026, 3, 8, 12, 0, tzinfo=timezone.utc), date(2026, 3, 8), datetime(2026, 3, 9, 7, 0, tzinfo=timezone.utc)),
])
def test_ebay_day_and_reset(at, day, reset):
    assert budget.ebay_day(at) == day
    assert budget.next_reset(at) == reset
    assert budget.next_reset(at).tzinfo is not None


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        budget.ebay_day(datetime(2026, 1, 1, 12, 0))


def test_record_calls_increments_and_only_trading_calls_count(engine):
    at = datetime(2026, 5, 5, 18, 0, tzinfo=timezone.utc)
    budget.record_calls(engine, "app-1", "seller_a", {"GetMyeBaySelling": 1, "GetItem": 200, "TrafficReport": 1,
                                                      "OAuthToken": 1}, at=at)
    budget.record_calls(engine, "app-1", "seller_b", {"GetMyeBaySelling": 1, "GetItem": 0}, at=at)
    budget.record_calls(engine, "app-1", "seller_a", {"GetItem": 5}, at=at)
    budget.record_calls(engine, "app-2", "seller_a", {"GetItem": 999}, at=at)   # another application
    day = budget.ebay_day(at)
    assert budget.calls_used(engine, "app-1", day=day) == 1 + 200 + 1 + 5
    assert budget.remaining(engine, "app-1", 5000, at=at) == 5000 - 207
    # the next Pacific day starts from zero
    assert budget.calls_used(engine, "app-1", day=date(2026, 5, 6)) == 0


def test_check_budget_raises_with_reset_time(engine):
    at = datetime(2026, 5, 5, 18, 0, tzinfo=timezone.utc)
    budget.record_calls(engine, "app", "seller_a", {"GetItem": 4990}, at=at)
    assert budget.check_budget(engine, "app", estimate=10, daily_budget=5000, at=at) == 10
    with pytest.raises(CallBudgetExhausted) as ei:
        budget.check_budget(engine, "app", estimate=11, daily_budget=5000, account="seller_a", page=3, at=at)
    assert ei.value.resets_at == datetime(2026, 5, 6, 7, 0, tzinfo=timezone.utc)
    assert "2026-05-06T07:00:00+00:00" in str(ei.value) and "page=3" in str(ei.value)

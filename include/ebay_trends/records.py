"""Typed records parsed from eBay responses.

eBay ids are strings, money is ``Decimal`` with its currency, datetimes are
timezone-aware UTC.  Records are small and flat so a page of 200 of them is the
largest thing a page task ever holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Pagination:
    total_pages: int
    total_entries: int


@dataclass(frozen=True, slots=True)
class SellingItem:
    """One ``ActiveList/ItemArray/Item`` of GetMyeBaySelling."""

    item_id: str
    title: str
    sku: str | None
    listing_type: str
    quantity: int | None            # Quantity (available + sold) when returned
    quantity_available: int | None
    price: Decimal                  # SellingStatus/CurrentPrice
    currency: str                   # CurrentPrice@currencyID
    bid_count: int
    quantity_sold: int              # lifetime total
    watch_count: int                # eBay omits WatchCount when 0 -> 0
    start_time: datetime | None
    view_item_url: str | None
    gallery_url: str | None
    time_left: str | None           # ISO 8601 duration, as sent


@dataclass(frozen=True, slots=True)
class ItemDetails:
    """GetItem's answer: what GetMyeBaySelling does not carry."""

    item_id: str
    title: str
    sku: str | None
    category_id: str | None
    category_name: str | None
    listing_type: str
    listing_status: str             # Active | Ended | Completed | Custom
    price: Decimal
    currency: str
    quantity: int | None
    quantity_sold: int
    bid_count: int
    watch_count: int
    hit_count: int | None           # optional, deprecated by eBay: never required
    start_time: datetime | None
    end_time: datetime | None
    view_item_url: str | None
    gallery_url: str | None


@dataclass(frozen=True, slots=True)
class BadItem:
    """An item that could not be parsed; it goes to ``ebay.item_errors``."""

    item_id: str | None
    error_class: str
    message: str
    raw_excerpt: str                # <= 4 KB, never contains credentials


@dataclass(slots=True)
class SellingPage:
    page_number: int
    entries_per_page: int
    pagination: Pagination
    items: list[SellingItem]
    bad_items: list[BadItem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timestamp: datetime | None = None   # eBay's clock (the response's Timestamp)

    @property
    def past_end(self) -> bool:
        """True when this page number is beyond the list's last page as eBay reported it.

        eBay's answer for such a page is undocumented (empty, or the last page again):
        callers must not treat its items as new.
        """
        return self.page_number > self.pagination.total_pages


@dataclass(slots=True)
class SellerListPage:
    """One page of GetSellerList (``DetailLevel=ReturnAll``): up to 200 full items.

    The same ``Item`` content GetItem returns, so each is an ``ItemDetails``.
    """

    page_number: int
    entries_per_page: int
    pagination: Pagination
    items: list[ItemDetails]
    bad_items: list[BadItem] = field(default_factory=list)
    has_more: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TrafficRow:
    listing_id: str
    day: date
    views: int | None
    impressions: int | None
    click_through_rate: Decimal | None   # percent, as eBay reports it
    conversion_rate: Decimal | None      # percent
    transactions: int | None


@dataclass(slots=True)
class TrafficReport:
    start_date: date | None
    end_date: date | None
    last_updated: datetime | None
    rows: list[TrafficRow]
    warnings: list[str] = field(default_factory=list)

    def complete_through(self) -> date | None:
        """Last day whose numbers are final (the report lags; see docs/DESIGN.md)."""
        if self.last_updated is None:
            return None
        from datetime import timedelta

        lu = self.last_updated
        # A day is complete when the report was updated at or after its last second.
        end_of_day = datetime.combine(lu.date(), datetime.max.time(), lu.tzinfo).replace(microsecond=0)
        return lu.date() if lu >= end_of_day else lu.date() - timedelta(days=1)

"""The sync loop of the system this project replaces, re-implemented as a baseline.

Source: ``backend/app/services/ebay_data_sync_service.py`` and
``docs/MEMORY_OPTIMIZATION_PLAN.md`` of 0ji3/my_trend_search (summarised in
/work/shared/reference/the-system-we-replace.md).  Two variants:

``original``  every GetMyeBaySelling page (200) is collected into **one in-memory list
              of every item**; then, one item at a time, **one GetItem per item** and an
              ORM query-then-add/update ("merge-style") upsert of the listing and of
              today's metric row, with **a commit after every item**.  The session is
              never cleared (no ``expunge``).
``plan_fix``  the plan's own fix: a page at a time, the same per-item GetItem and ORM
              upserts, ``commit()`` + ``expunge_all()`` every 100 items and after each page.

Deliberate differences from the original, none of which favours the new design:

* HTTP goes through the project's ``EbayClient`` (same wire, same emulator, same
  parsing) instead of the original ``requests`` + ElementTree client.
* One commit per item (listing + metric together).  The repository's code commits
  twice per item (in ``_upsert_listing`` and again in ``_insert_daily_metric``), which
  would make the baseline slower still; the plan counts "4,311 commits", so one it is.
* The metric date is the run's date (the original used ``date.today()``); the Redis
  "synced today" flag and the Redis call counter are left out (they cost a Redis
  round trip per call in the original, again only slowing it down).
* The driver is psycopg2, as in the original (``psycopg2-binary==2.9.9``); measured on
  2,400 items it makes no difference against psycopg 3 (both ~linear per item).
* ``account_id`` is the seller id string (the original: a UUID foreign key to
  ``ebay_accounts``); the models live in their own schema per variant
  (``schema_translate_map``) so both variants can share one database.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from include.ebay_trends.records import ItemDetails, SellingItem

VARIANTS = ("original", "plan_fix")
PLAN_FIX_BATCH = 100          # "100件ごとにコミット＆クリア"


def _utcnow() -> datetime:
    # The original used datetime.utcnow() (naive UTC) for its audit columns.
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Listing(Base):
    """``app/models/listing.py`` of the original (minus relationships to other tables)."""

    __tablename__ = "listings"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    account_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    item_id: Mapped[str] = mapped_column(sa.String(50), nullable=False, index=True)
    title: Mapped[str] = mapped_column(sa.Text, nullable=False)
    price: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD", nullable=False)
    category_id: Mapped[str | None] = mapped_column(sa.String(50), index=True)
    category_name: Mapped[str | None] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(sa.Boolean, default=True, nullable=False, index=True)
    image_url: Mapped[str | None] = mapped_column(sa.Text)
    item_specifics: Mapped[Any] = mapped_column(JSONB, nullable=True)
    listing_type: Mapped[str | None] = mapped_column(sa.String(50))
    listing_status: Mapped[str | None] = mapped_column(sa.String(50))
    quantity: Mapped[int | None] = mapped_column(sa.Integer, default=1)
    quantity_sold: Mapped[int | None] = mapped_column(sa.Integer, default=0)
    start_time: Mapped[datetime | None] = mapped_column(sa.DateTime)
    end_time: Mapped[datetime | None] = mapped_column(sa.DateTime)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=_utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime, default=_utcnow, onupdate=_utcnow, nullable=False)

    daily_metrics: Mapped[list[DailyMetric]] = relationship(
        back_populates="listing", cascade="all, delete-orphan", order_by="DailyMetric.recorded_date.desc()")

    __table_args__ = (
        sa.Index("ix_listings_account_item", "account_id", "item_id", unique=True),
        sa.Index("ix_listings_account_active", "account_id", "is_active"),
    )


class DailyMetric(Base):
    """``app/models/daily_metric.py`` of the original."""

    __tablename__ = "daily_metrics"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    listing_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), sa.ForeignKey("listings.id", ondelete="CASCADE"), nullable=False, index=True)
    recorded_date: Mapped[date] = mapped_column(sa.Date, nullable=False, index=True)
    view_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    watch_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    bid_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    current_price: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=_utcnow, nullable=False)

    listing: Mapped[Listing] = relationship(back_populates="daily_metrics")

    __table_args__ = (
        sa.Index("ix_daily_metrics_listing_date", "listing_id", "recorded_date", unique=True),
    )


# --------------------------------------------------------------------------- setup
def make_engine(url: str) -> Engine:
    """An engine on psycopg2, the original's driver, for any PostgreSQL URL."""
    return sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg2"))


def schema_engine(engine: Engine, schema: str) -> Engine:
    """The same engine with the models mapped into ``schema`` (one schema per variant)."""
    return engine.execution_options(schema_translate_map={None: schema})


def create_schema(engine: Engine, schema: str) -> Engine:
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    eng = schema_engine(engine, schema)
    Base.metadata.create_all(eng)
    return eng


# --------------------------------------------------------------------------- the loop
@dataclass
class LoopStats:
    variant: str
    account_id: str
    items_listed: int = 0            # entries collected from GetMyeBaySelling
    items_synced: int = 0
    items_failed: int = 0
    pages: int = 0
    commits: int = 0
    max_session_objects: int = 0     # most objects the session tracked before a commit (identity map + pending)
    errors: list[str] = field(default_factory=list)


Progress = Callable[[str, LoopStats], None]     # ("item" | "page", stats)


def _session_objects(session: Session) -> int:
    # The identity map holds persistent objects weakly; pending (added, unflushed) ones strongly.
    return len(session.identity_map) + len(session.new)


def _count_commits(session: Session, stats: LoopStats) -> None:
    def after_commit(_session: Session) -> None:
        stats.commits += 1

    event.listen(session, "after_commit", after_commit)


def _item_data(d: ItemDetails) -> dict[str, Any]:
    """``TradingAPIClient._parse_get_item_response`` of the original, from our parsed record.

    HitCount (lifetime) becomes ``view_count`` of the day, as in the original.
    """
    def naive(ts: datetime | None) -> datetime | None:
        return ts.astimezone(timezone.utc).replace(tzinfo=None) if ts is not None else None

    return {
        "item_id": d.item_id, "title": d.title, "current_price": d.price, "currency": d.currency,
        "view_count": d.hit_count or 0, "watch_count": d.watch_count or 0, "bid_count": d.bid_count or 0,
        "quantity": d.quantity or 0, "quantity_sold": d.quantity_sold or 0,
        "listing_type": d.listing_type, "listing_status": d.listing_status,
        "category_id": d.category_id, "category_name": d.category_name, "image_url": d.gallery_url,
        "start_time": naive(d.start_time), "end_time": naive(d.end_time),
    }


def _upsert_listing(session: Session, account_id: str, item_data: dict[str, Any]) -> Listing:
    """``EbayDataSyncService._upsert_listing``: query, then add or update (commit is the caller's)."""
    listing = session.query(Listing).filter(
        Listing.account_id == account_id, Listing.item_id == item_data["item_id"]).first()
    if not listing:
        listing = Listing(account_id=account_id, item_id=item_data["item_id"])
        session.add(listing)
    listing.title = item_data["title"]
    listing.price = item_data["current_price"]
    listing.currency = item_data["currency"]
    listing.category_id = item_data["category_id"]
    listing.category_name = item_data["category_name"]
    listing.image_url = item_data["image_url"]
    listing.listing_type = item_data["listing_type"]
    listing.listing_status = item_data["listing_status"]
    listing.quantity = item_data["quantity"]
    listing.quantity_sold = item_data["quantity_sold"]
    listing.is_active = item_data["listing_status"] == "Active"
    listing.start_time = item_data["start_time"]
    listing.end_time = item_data["end_time"]
    return listing


def _insert_daily_metric(session: Session, listing: Listing, item_data: dict[str, Any], day: date) -> None:
    """``EbayDataSyncService._insert_daily_metric``: query (autoflushes the listing), then add or update."""
    existing = session.query(DailyMetric).filter(
        DailyMetric.listing_id == listing.id, DailyMetric.recorded_date == day).first()
    if existing:
        existing.view_count = item_data["view_count"]
        existing.watch_count = item_data["watch_count"]
        existing.bid_count = item_data["bid_count"]
        existing.current_price = item_data["current_price"]
    else:
        session.add(DailyMetric(
            listing_id=listing.id, recorded_date=day, view_count=item_data["view_count"],
            watch_count=item_data["watch_count"], bid_count=item_data["bid_count"],
            current_price=item_data["current_price"]))


def _sync_item(session: Session, client, account_id: str, item: SellingItem, day: date) -> None:
    item_data = _item_data(client.get_item(item.item_id))
    listing = _upsert_listing(session, account_id, item_data)
    # The listing's id is a client-side default: the metric query's autoflush inserts it first.
    if listing.id is None:
        session.flush()
    _insert_daily_metric(session, listing, item_data, day)


def fetch_all_active_items(client, entries_per_page: int, stats: LoopStats) -> list[SellingItem]:
    """``_fetch_all_active_items``: every page into one list, ``while page < total_pages``."""
    all_items: list[SellingItem] = []
    page = 1
    while True:
        result = client.get_my_ebay_selling(page, entries_per_page)
        stats.pages += 1
        all_items.extend(result.items)
        if page >= result.pagination.total_pages:
            break
        page += 1
    return all_items


def sync_original(client, session_factory: sessionmaker, account_id: str, day: date, *,
                  entries_per_page: int = 200, progress: Progress | None = None) -> LoopStats:
    """Variant (a): the whole list in memory, one GetItem and one commit per item, no expunge."""
    stats = LoopStats("original", account_id)
    session = session_factory()
    _count_commits(session, stats)
    try:
        all_items = fetch_all_active_items(client, entries_per_page, stats)
        stats.items_listed = len(all_items)
        if progress:
            progress("page", stats)
        for item_summary in all_items:
            try:
                _sync_item(session, client, account_id, item_summary, day)
                stats.max_session_objects = max(stats.max_session_objects, _session_objects(session))
                session.commit()
                stats.items_synced += 1
            except Exception as exc:  # noqa: BLE001 - the original isolated every item like this
                session.rollback()
                stats.items_failed += 1
                stats.errors.append(f"Failed to sync item {item_summary.item_id}: {exc}")
            if progress and (stats.items_synced + stats.items_failed) % PLAN_FIX_BATCH == 0:
                progress("item", stats)
        session.commit()
    finally:
        session.close()
    return stats


def sync_plan_fix(client, session_factory: sessionmaker, account_id: str, day: date, *,
                  entries_per_page: int = 200, batch: int = PLAN_FIX_BATCH,
                  progress: Progress | None = None) -> LoopStats:
    """Variant (b): a page at a time; commit + ``expunge_all()`` every ``batch`` items and per page."""
    stats = LoopStats("plan_fix", account_id)
    session = session_factory()
    _count_commits(session, stats)
    try:
        page = 1
        while True:
            result = client.get_my_ebay_selling(page, entries_per_page)
            stats.pages += 1
            stats.items_listed += len(result.items)
            for item_summary in result.items:
                try:
                    _sync_item(session, client, account_id, item_summary, day)
                    stats.items_synced += 1
                    stats.max_session_objects = max(stats.max_session_objects, _session_objects(session))
                    if stats.items_synced % batch == 0:
                        session.commit()
                        session.expunge_all()
                except Exception as exc:  # noqa: BLE001
                    session.rollback()
                    stats.items_failed += 1
                    stats.errors.append(f"Failed to sync item {item_summary.item_id}: {exc}")
                if progress and (stats.items_synced + stats.items_failed) % batch == 0:
                    progress("item", stats)
            session.commit()
            session.expunge_all()
            if progress:
                progress("page", stats)
            if page >= result.pagination.total_pages:
                break
            page += 1
    finally:
        session.close()
    return stats


def run_variant(variant: str, client, engine: Engine, schema: str, account_id: str, day: date, *,
                entries_per_page: int = 200, progress: Progress | None = None) -> LoopStats:
    """Create the variant's schema if needed and sync one account with it."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    factory = sessionmaker(bind=create_schema(engine, schema))
    loop = sync_original if variant == "original" else sync_plan_fix
    return loop(client, factory, account_id, day, entries_per_page=entries_per_page, progress=progress)


__all__ = ["VARIANTS", "make_engine", "Listing", "DailyMetric", "LoopStats", "create_schema", "run_variant",
           "sync_original", "sync_plan_fix", "fetch_all_active_items"]

"""Trading API (XML): request bodies, response envelopes, and item parsing.

Pure functions, no I/O — ``client.py`` sends what is built here and hands the raw
answer back.  That keeps the XML rules testable on their own and in one place:

* **Requests** are built with ``xmltodict.unparse`` so every value is escaped; no
  string concatenation of values into XML.
* **Responses** are checked before parsing: the media type must be XML (an HTML
  error page from a proxy is a ``MalformedResponse``, retried), and any
  ``<!DOCTYPE``/``<!ENTITY`` declaration is refused *before* expat sees the body, so
  no entity is ever expanded (billion laughs, external entities).  The parser also
  refuses DTDs itself (``disable_entities=True`` plus a doctype handler) as a second
  line of defence.
* **Envelope**: ``Ack`` and ``Errors`` are checked on every call.  eBay error codes
  are mapped to the typed errors in ``errors.py`` (see ``classify_error``);
  warnings are logged at WARNING and the data kept.
* **Items** are parsed one by one.  An item that fails validation (missing
  ItemID/Title/CurrentPrice, unknown currency, non-numeric or negative numbers, a
  field far longer than eBay allows) becomes a ``BadItem`` with a ≤ 4 KB raw excerpt
  and the page goes on: one broken listing must not cost the other 199.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.parsers import expat

import xmltodict

from . import settings
from .errors import (
    AuthRevoked,
    CallLimitReached,
    EbayError,
    ItemNotFound,
    MalformedResponse,
    RequestError,
    TokenExpired,
    TransientError,
)
from .records import BadItem, ItemDetails, Pagination, SellerListPage, SellingItem, SellingPage
from .transport import CallContext, RawResponse, shorten

log = logging.getLogger(__name__)

GET_MY_EBAY_SELLING = "GetMyeBaySelling"
GET_ITEM = "GetItem"
GET_SELLER_LIST = "GetSellerList"
# eBay refuses a GetSellerList time window longer than this.
SELLER_LIST_MAX_WINDOW = timedelta(days=120)

# Elements that repeat: always lists, so one-item pages look like 200-item pages.
FORCE_LIST = (
    "Item", "Errors", "ErrorParameters", "PictureURL", "Variation", "NameValueList",
    "ShippingServiceOptions", "InternationalShippingServiceOption", "Value",
)

# eBay titles are at most 80 characters; 1,000 leaves room for any marketplace while
# refusing absurd values (a 10 MB title must never reach the warehouse).
MAX_TITLE_CHARS = 1000
MAX_SHORT_TEXT_CHARS = 1000     # SKU (eBay: 50), category name, listing type, status
MAX_URL_CHARS = 4096
MAX_INT = 2**31 - 1              # the warehouse's integer columns
MAX_PRICE = Decimal("999999999999.99")   # numeric(14,2)

ITEM_ID_RE = re.compile(r"^[0-9]{1,19}$")
_SORT_RE = re.compile(r"^[A-Za-z]{1,40}$")
_NUMBER_RE = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
_INT_RE = re.compile(r"^[+-]?[0-9]+$")

# Error codes -> behaviour (see docs/DESIGN.md and the reference notes).
TOKEN_EXPIRED_CODES = frozenset({"21917053", "21916984"})
AUTH_REVOKED_CODES = frozenset({"931", "932"})
CALL_LIMIT_CODES = frozenset({"518"})
TRANSIENT_CODES = frozenset({"21919144", "10007"})
ITEM_NOT_FOUND_CODES = frozenset({"17"})

# When one response carries several errors, the one that most changes what the
# caller must do wins.
_SEVERITY_ORDER: tuple[type[EbayError], ...] = (
    CallLimitReached, AuthRevoked, TokenExpired, ItemNotFound, RequestError, TransientError,
)


# =========================================================================== requests
def validate_item_id(item_id: str) -> str:
    if not isinstance(item_id, str) or not ITEM_ID_RE.match(item_id):
        raise ValueError("item_id must be a string of 1 to 19 digits")
    return item_id


def build_request(call: str, fields: Mapping[str, Any]) -> bytes:
    """``<{call}Request xmlns="urn:ebay:apis:eBLBaseComponents">…`` as UTF-8 bytes, escaped."""
    doc = {f"{call}Request": {"@xmlns": settings.TRADING_NS, **fields}}
    return xmltodict.unparse(doc, encoding="utf-8").encode("utf-8")


def get_my_ebay_selling_request(page: int, entries_per_page: int, sort: str = settings.DEFAULT_SORT) -> bytes:
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValueError("page must be an integer >= 1")
    if (isinstance(entries_per_page, bool) or not isinstance(entries_per_page, int)
            or not 1 <= entries_per_page <= settings.MAX_ENTRIES_PER_PAGE):
        raise ValueError(f"entries_per_page must be between 1 and {settings.MAX_ENTRIES_PER_PAGE}")
    if not isinstance(sort, str) or not _SORT_RE.match(sort):
        raise ValueError("sort must be an eBay ItemSortTypeCodeType value such as 'ItemID'")
    return build_request(GET_MY_EBAY_SELLING, {
        "ActiveList": {
            "Include": "true",
            "Sort": sort,
            "Pagination": {"EntriesPerPage": str(entries_per_page), "PageNumber": str(page)},
        },
    })


def get_item_request(item_id: str) -> bytes:
    return build_request(GET_ITEM, {
        "ItemID": validate_item_id(item_id),
        "IncludeWatchCount": "true",
        "DetailLevel": "ReturnAll",
    })


def _ebay_time(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("GetSellerList window times must be timezone-aware (UTC)")
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def get_seller_list_request(end_from: datetime, end_to: datetime, page: int, entries_per_page: int) -> bytes:
    """GetSellerList of the listings whose EndTime is in ``[end_from, end_to]``, full items.

    An EndTime window is the one that catches every active listing: none ends more
    than 30 days ahead (GTC listings renew every 30 days), so ``[now, now + 120 d]``
    covers them all, whenever they started.
    """
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValueError("page must be an integer >= 1")
    if (isinstance(entries_per_page, bool) or not isinstance(entries_per_page, int)
            or not 1 <= entries_per_page <= settings.MAX_ENTRIES_PER_PAGE):
        raise ValueError(f"entries_per_page must be between 1 and {settings.MAX_ENTRIES_PER_PAGE}")
    if not end_from < end_to or end_to - end_from > SELLER_LIST_MAX_WINDOW:
        raise ValueError("GetSellerList needs end_from < end_to within 120 days")
    return build_request(GET_SELLER_LIST, {
        "DetailLevel": "ReturnAll",
        "IncludeWatchCount": "true",
        "EndTimeFrom": _ebay_time(end_from),
        "EndTimeTo": _ebay_time(end_to),
        "Pagination": {"EntriesPerPage": str(entries_per_page), "PageNumber": str(page)},
    })


def headers(call: str, site_id: str, token: str) -> dict[str, str]:
    return {
        "X-EBAY-API-CALL-NAME": call,
        "X-EBAY-API-SITEID": site_id,
        "X-EBAY-API-COMPATIBILITY-LEVEL": settings.COMPATIBILITY_LEVEL,
        "X-EBAY-API-IAF-TOKEN": token,
        "Content-Type": "text/xml; charset=utf-8",
    }


# =========================================================================== XML safety
_XML_MEDIA_TYPES = frozenset({"text/xml", "application/xml", "application/soap+xml"})
_DECL_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_ROOT_START_RE = re.compile(rb"<[A-Za-z_:]")


def _refuse(*_args: Any) -> None:
    raise ValueError("DOCTYPE/ENTITY declarations are not allowed")


class _NoDtdExpat:
    """Stands in for the ``expat`` module in ``xmltodict.parse``: parsers refuse any DTD."""

    @staticmethod
    def ParserCreate(*args: Any, **kwargs: Any):  # noqa: N802 (expat's name)
        parser = expat.ParserCreate(*args, **kwargs)
        parser.StartDoctypeDeclHandler = _refuse
        parser.EntityDeclHandler = _refuse
        parser.ExternalEntityRefHandler = _refuse
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        return parser


def _looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<html", b"<!doctype html", b"<head", b"<body"))


def parse_xml(body: bytes, ctx: CallContext, *, content_type: str, status: int) -> dict:
    """Safety checks, then ``xmltodict.parse``.  Raises ``MalformedResponse``."""
    if not body.strip():
        raise ctx.error(MalformedResponse, f"empty body (HTTP {status})")
    if content_type == "text/html" or _looks_like_html(body):
        raise ctx.error(MalformedResponse,
                        f"HTML body instead of XML (HTTP {status}, content-type {content_type or 'none'})")
    if content_type and content_type not in _XML_MEDIA_TYPES and not content_type.endswith("+xml"):
        raise ctx.error(MalformedResponse, f"wrong content-type {content_type!r} (HTTP {status})")
    # A DTD can only sit in the prolog, before the root element: look there, so text
    # that merely mentions "<!DOCTYPE" inside an element (CDATA) is not refused.
    root = _ROOT_START_RE.search(body)
    prolog = body[: root.start()] if root else body
    if _DECL_RE.search(prolog):
        raise ctx.error(MalformedResponse, "response contains a DOCTYPE/ENTITY declaration; refused unparsed")
    try:
        doc = xmltodict.parse(body, expat=_NoDtdExpat, disable_entities=True, force_list=FORCE_LIST)
    except expat.ExpatError as exc:
        raise ctx.error(MalformedResponse, f"malformed or truncated XML ({shorten(exc, 120)})") from None
    except ValueError as exc:   # raised by the DTD refusal handlers
        raise ctx.error(MalformedResponse, f"refused XML ({shorten(exc, 120)})") from None
    if not isinstance(doc, dict) or len(doc) != 1:
        raise ctx.error(MalformedResponse, "XML without a single root element")
    return doc


# =========================================================================== envelope
def parse_response(raw: RawResponse, call: str, ctx: CallContext) -> tuple[dict, list[str]]:
    """Return ``(content of <{call}Response>, warnings)`` or raise the typed error."""
    try:
        doc = parse_xml(raw.body, ctx, content_type=raw.content_type, status=raw.status)
    except MalformedResponse:
        if raw.status != 200:   # a 4xx with a body we can't read: the request is at fault
            raise ctx.error(RequestError, f"HTTP {raw.status} (content-type {raw.content_type or 'none'})",
                            code=str(raw.status)) from None
        raise
    root_name = next(iter(doc))
    expected = f"{call}Response"
    if root_name != expected:
        if raw.status != 200:
            raise ctx.error(RequestError, f"HTTP {raw.status} with root element <{shorten(root_name, 60)}>",
                            code=str(raw.status))
        raise ctx.error(MalformedResponse, f"unexpected root element <{shorten(root_name, 60)}>, "
                                           f"expected <{expected}>")
    content = doc[root_name]
    if content is None or isinstance(content, str):
        raise ctx.error(MalformedResponse, f"empty <{expected}>")
    warnings = check_envelope(content, ctx)
    if raw.status != 200:
        raise ctx.error(RequestError, f"HTTP {raw.status} with Ack={content.get('Ack')}", code=str(raw.status))
    return content, warnings


def _error_fields(err: Any) -> dict[str, str]:
    if not isinstance(err, dict):
        return {"ErrorCode": "", "ShortMessage": shorten(err or "", 200)}

    def txt(key: str) -> str:
        value = err.get(key)
        if isinstance(value, dict):
            value = value.get("#text")
        return "" if value is None or isinstance(value, list) else str(value).strip()

    return {k: txt(k) for k in ("ErrorCode", "SeverityCode", "ErrorClassification", "ShortMessage", "LongMessage")}


def _describe_error(e: Mapping[str, str]) -> str:
    text = e.get("ShortMessage") or e.get("LongMessage") or "no message"
    long = e.get("LongMessage")
    if long and long != text:
        text = f"{text} ({long})"
    return f"eBay error {e.get('ErrorCode') or '?'}: {shorten(text, 240)}"


def classify_error(code: str, classification: str) -> type[EbayError]:
    """The typed error for one eBay ``Errors`` entry of severity Error."""
    if code in CALL_LIMIT_CODES:
        return CallLimitReached
    if code in TOKEN_EXPIRED_CODES:
        return TokenExpired
    if code in AUTH_REVOKED_CODES:
        return AuthRevoked
    if code in TRANSIENT_CODES:
        return TransientError
    if code in ITEM_NOT_FOUND_CODES:
        return ItemNotFound
    if classification == "SystemError":
        return TransientError
    return RequestError


def call_limit_resets_at(timestamp: datetime | None, now: datetime | None = None) -> datetime:
    """Next midnight US Pacific after ``timestamp`` (eBay's clock) or ``now``, as UTC."""
    ref = timestamp or now or datetime.now(timezone.utc)
    local = ref.astimezone(settings.EBAY_DAY_TZ)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=settings.EBAY_DAY_TZ)
    return midnight.astimezone(timezone.utc)


def check_envelope(content: Mapping[str, Any], ctx: CallContext) -> list[str]:
    """Check ``Ack``/``Errors``; raise the typed error or return the warnings (already logged).

    * ``Failure``: the most significant error is raised.
    * ``PartialFailure``: quota and auth errors are raised (the next call would fail
      too); other errors are kept as warnings with the data.
    * ``Success``/``Warning``: data kept, every ``Errors`` entry logged as a warning.
    """
    ack = content.get("Ack")
    ack = ack.strip() if isinstance(ack, str) else ack
    if ack not in ("Success", "Warning", "Failure", "PartialFailure"):
        raise ctx.error(MalformedResponse, f"missing or unknown Ack {shorten(repr(ack), 40)}")
    errors = content.get("Errors") or []
    if not isinstance(errors, list):
        errors = [errors]
    parsed = [_error_fields(e) for e in errors]
    severe = [e for e in parsed if e.get("SeverityCode") != "Warning"]
    notes = [e for e in parsed if e.get("SeverityCode") == "Warning"]

    if ack in ("Failure", "PartialFailure") and severe:
        ranked = sorted(
            ((classify_error(e["ErrorCode"], e.get("ErrorClassification", "")), e) for e in severe),
            key=lambda pair: _SEVERITY_ORDER.index(pair[0]),
        )
        cls, first = ranked[0]
        if ack == "Failure" or cls in (CallLimitReached, AuthRevoked, TokenExpired):
            raise _typed_error(cls, first, content, ctx)
        notes = severe + notes  # PartialFailure with item-level errors: keep the data
    elif ack == "Failure":
        raise ctx.error(MalformedResponse, "Ack=Failure without an Errors element")
    else:
        notes = severe + notes

    warnings = [_describe_error(e) for e in notes]
    for w in warnings:
        log.warning("%s: Ack=%s; %s", ctx.describe(), ack, ctx.redact(w))
    return [ctx.redact(w) for w in warnings]


def _typed_error(cls: type[EbayError], e: Mapping[str, str], content: Mapping[str, Any],
                 ctx: CallContext) -> EbayError:
    reason = _describe_error(e)
    code = e.get("ErrorCode") or None
    if cls is CallLimitReached:
        ts = _try_datetime(content.get("Timestamp"))
        return ctx.error(CallLimitReached, f"{reason}; eBay's daily call limit is used up",
                         code=code, resets_at=call_limit_resets_at(ts))
    if cls is AuthRevoked:
        reason += f"; re-authorise account {ctx.account}"
    return ctx.error(cls, reason, code=code)


# =========================================================================== item fields
class _Bad(Exception):
    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


def _node(item: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = item
    for i, key in enumerate(path):
        if cur is None:
            return None
        if not isinstance(cur, dict):
            raise _Bad("invalid_value", f"{'/'.join(path[:i])} is not an element with children")
        cur = cur.get(key)
    if isinstance(cur, list):
        raise _Bad("invalid_value", f"{'/'.join(path)} is repeated")
    return cur


def _leaf_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        if any(not k.startswith("@") and k != "#text" for k in value):
            raise _Bad("invalid_value", f"{name} has child elements where text was expected")
        value = value.get("#text")
        if value is None:
            return None
    text = str(value).strip()
    return text or None


def _text(item: Mapping[str, Any], *path: str, required: bool = False,
          max_chars: int = MAX_SHORT_TEXT_CHARS) -> str | None:
    name = "/".join(path)
    text = _leaf_text(_node(item, path), name)
    if text is None:
        if required:
            raise _Bad("missing_field", f"{name} is missing")
        return None
    if len(text) > max_chars:
        raise _Bad("oversized_field", f"{name} is {len(text)} characters (limit {max_chars})")
    return text


def _int(item: Mapping[str, Any], *path: str, default: int | None = None) -> int | None:
    name = "/".join(path)
    text = _leaf_text(_node(item, path), name)
    if text is None:
        return default
    if len(text) > 20 or not _INT_RE.match(text):
        raise _Bad("invalid_value", f"{name} is not an integer: {shorten(text, 40)!r}")
    value = int(text)
    if value < 0:
        raise _Bad("negative_quantity", f"{name} is negative ({value})")
    if value > MAX_INT:
        raise _Bad("invalid_value", f"{name} is too large ({value})")
    return value


def _price(item: Mapping[str, Any], *path: str) -> tuple[Decimal, str]:
    name = "/".join(path)
    node = _node(item, path)
    text = _leaf_text(node, name)
    if text is None:
        raise _Bad("missing_field", f"{name} is missing")
    currency = node.get("@currencyID") if isinstance(node, dict) else None
    currency = currency.strip() if isinstance(currency, str) else None
    if not currency:
        raise _Bad("unknown_currency", f"{name} has no currencyID")
    if currency not in settings.KNOWN_CURRENCIES:
        raise _Bad("unknown_currency", f"{name} has unknown currency {shorten(currency, 20)!r}")
    if len(text) > 40 or not _NUMBER_RE.match(text):
        raise _Bad("invalid_price", f"{name} is not a number: {shorten(text, 40)!r}")
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex already guards this
        raise _Bad("invalid_price", f"{name} is not a number: {shorten(text, 40)!r}") from None
    if value < 0:
        raise _Bad("invalid_price", f"{name} is negative ({value})")
    if value > MAX_PRICE:
        raise _Bad("invalid_price", f"{name} is implausibly large ({value})")
    return value, currency


def _try_datetime(value: Any) -> datetime | None:
    try:
        return _to_datetime(value)
    except (ValueError, TypeError):
        return None


def _to_datetime(value: Any) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("#text")
    if value is None:
        return None
    text = str(value).strip()
    if not text or len(text) > 40:
        raise ValueError("not an ISO 8601 timestamp")
    dt = datetime.fromisoformat(text)       # Python 3.11 accepts "…T12:00:00.000Z"
    if dt.tzinfo is None:                   # eBay's times are GMT
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _datetime(item: Mapping[str, Any], *path: str) -> datetime | None:
    name = "/".join(path)
    text = _leaf_text(_node(item, path), name)
    try:
        return _to_datetime(text)
    except (ValueError, TypeError):
        raise _Bad("invalid_value", f"{name} is not an ISO 8601 timestamp: {shorten(text or '', 40)!r}") from None


def _item_id(item: Mapping[str, Any]) -> str:
    item_id = _text(item, "ItemID", required=True, max_chars=64)
    assert item_id is not None
    if not ITEM_ID_RE.match(item_id):
        raise _Bad("invalid_value", f"ItemID is not a string of 1 to 19 digits: {shorten(item_id, 40)!r}")
    return item_id


def raw_excerpt(item: Any, limit: int = settings.RAW_EXCERPT_MAX_BYTES) -> str:
    """The item as XML, cut to ``limit`` bytes of valid UTF-8 (for ebay.item_errors)."""
    try:
        text = xmltodict.unparse({"Item": item}, full_document=False)
    except Exception:  # odd structures still deserve an excerpt
        text = repr(item)
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    marker = "…".encode()
    # errors="ignore" drops only a multi-byte character cut in half at the end.
    return (data[: limit - len(marker)] + marker).decode("utf-8", "ignore")


def _raw_item_id(item: Any) -> str | None:
    """Best-effort id for a bad item: only if it is a plausible short token."""
    if not isinstance(item, dict):
        return None
    value = item.get("ItemID")
    if isinstance(value, dict):
        value = value.get("#text")
    if isinstance(value, str) and 0 < len(value.strip()) <= 64:
        return value.strip()
    return None


def _bad(item: Any, error_class: str, message: str) -> BadItem:
    return BadItem(item_id=_raw_item_id(item), error_class=error_class, message=message,
                   raw_excerpt=raw_excerpt(item))


# =========================================================================== GetMyeBaySelling
def parse_selling_item(item: Any) -> SellingItem | BadItem:
    """One ``ActiveList/ItemArray/Item`` → ``SellingItem``, or ``BadItem`` if it fails validation."""
    if not isinstance(item, dict):
        return _bad(item, "missing_field", "Item element is empty")
    try:
        price, currency = _price(item, "SellingStatus", "CurrentPrice")
        return SellingItem(
            item_id=_item_id(item),
            title=_text(item, "Title", required=True, max_chars=MAX_TITLE_CHARS),  # type: ignore[arg-type]
            sku=_text(item, "SKU"),
            listing_type=_text(item, "ListingType") or "Unknown",
            quantity=_int(item, "Quantity"),
            quantity_available=_int(item, "QuantityAvailable"),
            price=price,
            currency=currency,
            bid_count=_int(item, "SellingStatus", "BidCount", default=0),  # type: ignore[arg-type]
            quantity_sold=_int(item, "SellingStatus", "QuantitySold", default=0),  # type: ignore[arg-type]
            watch_count=_int(item, "WatchCount", default=0),  # type: ignore[arg-type]  # omitted when 0
            start_time=_datetime(item, "ListingDetails", "StartTime"),
            view_item_url=_text(item, "ListingDetails", "ViewItemURL", max_chars=MAX_URL_CHARS),
            gallery_url=_text(item, "PictureDetails", "GalleryURL", max_chars=MAX_URL_CHARS),
            time_left=_text(item, "TimeLeft", max_chars=64),
        )
    except _Bad as bad:
        return _bad(item, bad.error_class, bad.message)


def _pagination(active: Mapping[str, Any], has_items: bool, ctx: CallContext) -> Pagination:
    node = active.get("PaginationResult")
    if node is None:
        if has_items:
            raise ctx.error(MalformedResponse, "ActiveList has items but no PaginationResult")
        return Pagination(total_pages=0, total_entries=0)
    try:
        pages = _int(node, "TotalNumberOfPages") if isinstance(node, dict) else None
        entries = _int(node, "TotalNumberOfEntries") if isinstance(node, dict) else None
    except _Bad as bad:
        raise ctx.error(MalformedResponse, f"bad PaginationResult: {bad.message}") from None
    if pages is None or entries is None:
        raise ctx.error(MalformedResponse, "PaginationResult lacks TotalNumberOfPages/TotalNumberOfEntries")
    return Pagination(total_pages=pages, total_entries=entries)


def _parse_items(items_raw: list[Any], parse: Callable[[Any], Any], items: list, bad_items: list[BadItem],
                 ctx: CallContext) -> None:
    """Parse a page's items one by one: good ones to ``items``, invalid ones to ``bad_items``."""
    for raw in items_raw:
        parsed = parse(raw)
        (bad_items if isinstance(parsed, BadItem) else items).append(parsed)
    if bad_items:
        log.warning("%s: %d item(s) failed validation (first: %s)", ctx.describe(),
                    len(bad_items), bad_items[0].message)


def parse_selling_page(content: Mapping[str, Any], page_number: int, entries_per_page: int,
                       ctx: CallContext, warnings: list[str] | None = None) -> SellingPage:
    """``GetMyeBaySellingResponse`` content → ``SellingPage`` (items and bad items).

    eBay omits ``ActiveList`` for a seller with no active listings: that is an empty
    page with ``Pagination(0, 0)``.  A page number past the end is returned as eBay
    answered it (empty, or the last page again); ``SellingPage.past_end`` tells.
    """
    active = content.get("ActiveList")
    items_raw: list[Any] = []
    if active is None:
        pagination = Pagination(total_pages=0, total_entries=0)
    elif not isinstance(active, dict):
        raise ctx.error(MalformedResponse, "ActiveList is not an element with children")
    else:
        array = active.get("ItemArray")
        if isinstance(array, dict):
            items_raw = array.get("Item") or []
        elif array is not None:
            raise ctx.error(MalformedResponse, "ItemArray is not an element with children")
        pagination = _pagination(active, bool(items_raw), ctx)

    page = SellingPage(page_number=page_number, entries_per_page=entries_per_page,
                       pagination=pagination, items=[], warnings=list(warnings or []),
                       timestamp=_try_datetime(content.get("Timestamp")))
    _parse_items(items_raw, parse_selling_item, page.items, page.bad_items, ctx)
    return page


# =========================================================================== GetItem
def parse_item_details(item: Any) -> ItemDetails | BadItem:
    """``GetItemResponse/Item`` → ``ItemDetails`` (``HitCount`` optional, ``WatchCount`` 0 when absent)."""
    if not isinstance(item, dict):
        return _bad(item, "missing_field", "Item element is empty")
    try:
        price, currency = _price(item, "SellingStatus", "CurrentPrice")
        return ItemDetails(
            item_id=_item_id(item),
            title=_text(item, "Title", required=True, max_chars=MAX_TITLE_CHARS),  # type: ignore[arg-type]
            sku=_text(item, "SKU"),
            category_id=_text(item, "PrimaryCategory", "CategoryID", max_chars=64),
            category_name=_text(item, "PrimaryCategory", "CategoryName"),
            listing_type=_text(item, "ListingType") or "Unknown",
            listing_status=_text(item, "SellingStatus", "ListingStatus") or "Unknown",
            price=price,
            currency=currency,
            quantity=_int(item, "Quantity"),
            quantity_sold=_int(item, "SellingStatus", "QuantitySold", default=0),  # type: ignore[arg-type]
            bid_count=_int(item, "SellingStatus", "BidCount", default=0),  # type: ignore[arg-type]
            watch_count=_int(item, "WatchCount", default=0),  # type: ignore[arg-type]
            hit_count=_int(item, "HitCount"),
            start_time=_datetime(item, "ListingDetails", "StartTime"),
            end_time=_datetime(item, "ListingDetails", "EndTime"),
            view_item_url=_text(item, "ListingDetails", "ViewItemURL", max_chars=MAX_URL_CHARS),
            gallery_url=_text(item, "PictureDetails", "GalleryURL", max_chars=MAX_URL_CHARS),
        )
    except _Bad as bad:
        return _bad(item, bad.error_class, bad.message)


def parse_seller_list_page(content: Mapping[str, Any], page_number: int, entries_per_page: int,
                           ctx: CallContext, warnings: list[str] | None = None) -> SellerListPage:
    """``GetSellerListResponse`` content → ``SellerListPage``; each Item parsed as GetItem's."""
    array = content.get("ItemArray")
    items_raw: list[Any] = []
    if isinstance(array, dict):
        items_raw = array.get("Item") or []
    elif array not in (None, ""):
        raise ctx.error(MalformedResponse, "ItemArray is not an element with children")
    pagination = _pagination(content, bool(items_raw), ctx)
    has_more = str(content.get("HasMoreItems") or "false").strip().lower() == "true"
    page = SellerListPage(page_number=page_number, entries_per_page=entries_per_page,
                          pagination=pagination, items=[], has_more=has_more, warnings=list(warnings or []))
    _parse_items(items_raw, parse_item_details, page.items, page.bad_items, ctx)
    return page


def get_item_node(content: Mapping[str, Any], item_id: str, ctx: CallContext) -> Any:
    """The single ``Item`` of a GetItem response, checked to be the one asked for."""
    items = content.get("Item")
    if not isinstance(items, list) or len(items) != 1:
        raise ctx.error(MalformedResponse, "GetItem response without exactly one Item")
    returned = _raw_item_id(items[0])
    if returned is not None and returned != item_id:
        raise ctx.error(MalformedResponse, f"GetItem returned item {shorten(returned, 40)} instead of {item_id}")
    return items[0]


__all__ = [
    "GET_ITEM", "GET_MY_EBAY_SELLING", "GET_SELLER_LIST", "FORCE_LIST", "MAX_TITLE_CHARS",
    "build_request", "get_my_ebay_selling_request", "get_item_request", "get_seller_list_request", "headers",
    "parse_seller_list_page",
    "parse_xml", "parse_response", "check_envelope", "classify_error", "call_limit_resets_at",
    "parse_selling_item", "parse_selling_page", "parse_item_details", "get_item_node",
    "raw_excerpt", "validate_item_id",
]

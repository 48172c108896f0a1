"""Wire formats: Trading API XML in and out, traffic-report and REST error JSON.

Rendering is plain string building with explicit escaping (fast, and byte-for-byte
deterministic).  Request parsing refuses DTDs outright and never expands entities.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import xmltodict

from .catalog import ItemSnapshot, iso_duration, iso_z

NS = "urn:ebay:apis:eBLBaseComponents"
VERSION = "1451"
BUILD = "E1451_CORE_APISELLING_EMULATOR"
XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
# Marketplace -> Trading API site id (X-EBAY-API-SITEID), eBay's published table.
SITE_IDS = {
    "EBAY_US": "0", "EBAY_CA": "2", "EBAY_GB": "3", "EBAY_AU": "15", "EBAY_AT": "16", "EBAY_FR": "71",
    "EBAY_DE": "77", "EBAY_MOTORS_US": "100", "EBAY_IT": "101", "EBAY_NL": "146", "EBAY_ES": "186",
    "EBAY_CH": "193", "EBAY_HK": "201", "EBAY_IE": "205", "EBAY_MY": "207", "EBAY_PH": "211",
    "EBAY_PL": "212", "EBAY_SG": "216",
}
SITE_NAMES = {"EBAY_US": "US", "EBAY_GB": "UK", "EBAY_DE": "Germany", "EBAY_AU": "Australia",
              "EBAY_CA": "Canada", "EBAY_FR": "France", "EBAY_IT": "Italy", "EBAY_ES": "Spain"}
COUNTRIES = {"EBAY_US": "US", "EBAY_GB": "GB", "EBAY_DE": "DE", "EBAY_AU": "AU", "EBAY_CA": "CA",
             "EBAY_FR": "FR", "EBAY_IT": "IT", "EBAY_ES": "ES"}
METRIC_TYPES = {
    "LISTING_VIEWS_TOTAL": ("INTEGER", "Total listing views"),
    "LISTING_IMPRESSION_TOTAL": ("INTEGER", "Total impressions"),
    "CLICK_THROUGH_RATE": ("NUMBER", "Click-through rate"),
    "SALES_CONVERSION_RATE": ("NUMBER", "Sales conversion rate"),
    "TRANSACTION": ("INTEGER", "Transactions"),
}


class BadRequest(Exception):
    """The request body could not be accepted (not XML, DTD, wrong root)."""


def esc(text: str) -> str:
    """Escape element text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc_attr(text: str) -> str:
    return esc(text).replace('"', "&quot;").replace("'", "&apos;")


def amount(value: Decimal) -> str:
    """eBay's AmountType serialises as a double: 9.00 -> "9.0", 8.30 -> "8.3"."""
    s = format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f").rstrip("0")
    return s + ".0" if "." not in s else s


# ---- requests ---------------------------------------------------------------------
def parse_trading_request(body: bytes, call_name: str) -> dict[str, Any]:
    """The ``{Call}Request`` element as a dict; raises BadRequest."""
    head = body[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in body.lower():
        raise BadRequest("DTDs are not allowed in requests")
    try:
        doc = xmltodict.parse(body, disable_entities=True, process_namespaces=False)
    except Exception as exc:  # expat errors, entity refusals
        raise BadRequest(f"request body is not well-formed XML: {type(exc).__name__}") from exc
    if not isinstance(doc, dict) or len(doc) != 1:
        raise BadRequest("request must have exactly one root element")
    root_name, root = next(iter(doc.items()))
    local = root_name.split(":")[-1]
    if local != f"{call_name}Request":
        raise BadRequest(f"root element {local} does not match call {call_name}")
    return root if isinstance(root, dict) else {}


def text_of(node: Any, *path: str, default: str | None = None) -> str | None:
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return default
        node = node[p]
    if isinstance(node, dict):
        node = node.get("#text", default)
    if isinstance(node, list):
        return default
    return default if node is None else str(node).strip()


# ---- Trading responses ------------------------------------------------------------
def error_xml(code: str | int, short: str, long: str, classification: str = "RequestError",
              severity: str = "Error", params: Sequence[str] = ()) -> str:
    p = "".join(f'<ErrorParameters ParamID="{i}"><Value>{esc(v)}</Value></ErrorParameters>'
                for i, v in enumerate(params))
    return (f"<Errors><ShortMessage>{esc(short)}</ShortMessage><LongMessage>{esc(long)}</LongMessage>"
            f"<ErrorCode>{code}</ErrorCode><SeverityCode>{severity}</SeverityCode>{p}"
            f"<ErrorClassification>{classification}</ErrorClassification></Errors>")


def envelope(call: str, timestamp: str, body: str = "", *, ack: str = "Success",
             errors: Iterable[str] = (), prolog: str = "") -> bytes:
    """``<{call}Response>`` with Timestamp/Ack/Errors/Version/Build then ``body``."""
    return (XML_DECL + prolog + f'<{call}Response xmlns="{NS}"><Timestamp>{timestamp}</Timestamp>'
            f"<Ack>{ack}</Ack>{''.join(errors)}<Version>{VERSION}</Version><Build>{BUILD}</Build>"
            f"{body}</{call}Response>").encode("utf-8")


def failure(call: str, timestamp: str, code: str | int, short: str, long: str | None = None,
            classification: str = "RequestError") -> bytes:
    return envelope(call, timestamp, ack="Failure",
                    errors=[error_xml(code, short, long or short, classification)])


def selling_item_xml(snap: ItemSnapshot, ov: dict[str, Any] | None = None) -> str:
    """One ``ActiveList/ItemArray/Item``.  ``ov`` overrides fields (fault injection)."""
    st = snap.static
    ov = ov or {}
    cur = ov.get("currency", st.currency)
    price_txt = ov.get("price_text", amount(snap.price))
    title = ov["title_raw"] if "title_raw" in ov else esc(ov.get("title", st.title))
    qty = ov.get("quantity", snap.quantity)
    qty_av = ov.get("quantity_available", snap.quantity_available)
    auction = st.listing_type == "Chinese"
    parts = [f"<Item><ItemID>{st.item_id}</ItemID>",
             f"<ListingDetails><StartTime>{iso_z(st.start_ts)}</StartTime>"
             f"<ViewItemURL>{esc(st.view_item_url)}</ViewItemURL></ListingDetails>",
             f"<ListingDuration>{'Days_7' if auction else 'GTC'}</ListingDuration>",
             f"<ListingType>{st.listing_type}</ListingType><Quantity>{qty}</Quantity>",
             "<SellingStatus>"]
    if auction:
        parts.append(f"<BidCount>{snap.bid_count}</BidCount>")
    if not ov.get("omit_price"):
        parts.append(f'<CurrentPrice currencyID="{esc_attr(cur)}">{esc(price_txt)}</CurrentPrice>')
    parts.append(f"<QuantitySold>{snap.quantity_sold}</QuantitySold></SellingStatus>")
    if snap.time_left_s is not None:
        parts.append(f"<TimeLeft>{iso_duration(snap.time_left_s)}</TimeLeft>")
    parts.append(f"<Title>{title}</Title>")
    if snap.watch_count > 0:
        parts.append(f"<WatchCount>{snap.watch_count}</WatchCount>")
    parts.append(f"<QuantityAvailable>{qty_av}</QuantityAvailable>")
    if st.sku is not None:
        parts.append(f"<SKU>{esc(st.sku)}</SKU>")
    parts.append(f"<PictureDetails><GalleryURL>{esc(st.gallery_url)}</GalleryURL></PictureDetails></Item>")
    return "".join(parts)


def selling_body(items_xml: Sequence[str] | None, total_pages: int, total_entries: int) -> str:
    """``<ActiveList>``; ``items_xml=None`` omits ItemArray (a page past the end)."""
    arr = "" if items_xml is None else f"<ItemArray>{''.join(items_xml)}</ItemArray>"
    return (f"<ActiveList>{arr}<PaginationResult><TotalNumberOfPages>{total_pages}</TotalNumberOfPages>"
            f"<TotalNumberOfEntries>{total_entries}</TotalNumberOfEntries></PaginationResult></ActiveList>")


def get_item_xml(snap: ItemSnapshot, *, seller: str, marketplace: str, listing_status: str,
                 end_ts: int | None, include_watch: bool, ov: dict[str, Any] | None = None) -> str:
    """One ``Item`` as GetItem (and GetSellerList, DetailLevel=ReturnAll) returns it.

    ``ov`` overrides fields for fault injection (same keys as ``selling_item_xml``).
    """
    st = snap.static
    ov = ov or {}
    auction = st.listing_type == "Chinese"
    cur = ov.get("currency", st.currency)
    title = ov["title_raw"] if "title_raw" in ov else esc(ov.get("title", st.title))
    price = "" if ov.get("omit_price") else (
        f'<CurrentPrice currencyID="{esc_attr(cur)}">{esc(ov.get("price_text", amount(snap.price)))}</CurrentPrice>')
    parts = [f"<Item><Country>{COUNTRIES.get(marketplace, 'US')}</Country>",
             f"<Currency>{st.currency}</Currency><ItemID>{st.item_id}</ItemID>",
             f"<ListingDetails><StartTime>{iso_z(st.start_ts)}</StartTime>"]
    if end_ts is not None:
        parts.append(f"<EndTime>{iso_z(end_ts)}</EndTime>")
    parts.append(f"<ViewItemURL>{esc(st.view_item_url)}</ViewItemURL></ListingDetails>")
    parts.append(f"<ListingDuration>{'Days_7' if auction else 'GTC'}</ListingDuration>"
                 f"<ListingType>{st.listing_type}</ListingType>")
    parts.append(f"<PrimaryCategory><CategoryID>{st.category_id}</CategoryID>"
                 f"<CategoryName>{esc(st.category_name)}</CategoryName></PrimaryCategory>")
    parts.append(f"<Quantity>{ov.get('quantity', snap.quantity)}</Quantity>"
                 f"<Seller><UserID>{esc(seller)}</UserID></Seller>")
    parts.append(f"<SellingStatus><BidCount>{snap.bid_count}</BidCount>{price}"
                 f"<QuantitySold>{snap.quantity_sold}</QuantitySold>"
                 f"<ListingStatus>{listing_status}</ListingStatus></SellingStatus>")
    parts.append(f"<Site>{SITE_NAMES.get(marketplace, 'US')}</Site>")
    parts.append(f"<TimeLeft>{iso_duration(snap.time_left_s or 0)}</TimeLeft>")
    parts.append(f"<Title>{title}</Title>")
    if include_watch:
        parts.append(f"<WatchCount>{snap.watch_count}</WatchCount>")
    if st.has_hit_counter:
        parts.append(f"<HitCount>{snap.hit_count}</HitCount><HitCounter>BasicStyle</HitCounter>")
    else:
        parts.append("<HitCounter>NoHitCounter</HitCounter>")
    if st.sku is not None:
        parts.append(f"<SKU>{esc(st.sku)}</SKU>")
    pics = "".join(f"<PictureURL>{esc(u)}</PictureURL>" for u in st.picture_urls)
    parts.append(f"<PictureDetails><GalleryURL>{esc(st.gallery_url)}</GalleryURL>"
                 f"<PhotoDisplay>PicturePack</PhotoDisplay>{pics}</PictureDetails></Item>")
    return "".join(parts)


def seller_list_body(items_xml: Sequence[str], *, total_pages: int, total_entries: int, has_more: bool,
                     per_page: int, page: int) -> str:
    """GetSellerList's call-specific elements, in eBay's schema order.

    An empty ``items_xml`` gives ``<ItemArray/>`` (eBay returns ItemArray as an empty tag
    when nothing matches).
    """
    arr = f"<ItemArray>{''.join(items_xml)}</ItemArray>" if items_xml else "<ItemArray/>"
    return (f"<PaginationResult><TotalNumberOfPages>{total_pages}</TotalNumberOfPages>"
            f"<TotalNumberOfEntries>{total_entries}</TotalNumberOfEntries></PaginationResult>"
            f"<HasMoreItems>{'true' if has_more else 'false'}</HasMoreItems>{arr}"
            f"<ItemsPerPage>{per_page}</ItemsPerPage><PageNumber>{page}</PageNumber>"
            f"<ReturnedItemCountActual>{len(items_xml)}</ReturnedItemCountActual>")


# ---- JSON (OAuth, Analytics) --------------------------------------------------------
def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def rest_error(error_id: int, message: str, *, domain: str = "API_ANALYTICS",
               category: str = "REQUEST", long_message: str | None = None,
               parameters: Sequence[tuple[str, str]] = ()) -> bytes:
    err: dict[str, Any] = {"errorId": error_id, "domain": domain, "category": category,
                           "message": message, "longMessage": long_message or message}
    if parameters:
        err["parameters"] = [{"name": n, "value": v} for n, v in parameters]
    return json_bytes({"errors": [err]})


def rate(num: int, den: int) -> float:
    """Percentage with two decimals (a JSON number, as eBay sends it)."""
    return 0.0 if den <= 0 else float((Decimal(num * 100) / Decimal(den)).quantize(Decimal("0.01")))


def traffic_report(metrics: Sequence[str], rows: Sequence[tuple[str, int, int, int]], *,
                   start_date: str, end_date: str, last_updated: str,
                   warnings: Sequence[dict[str, Any]] = ()) -> bytes:
    """``rows``: (listing id, views, impressions, transactions) totals over the range."""
    records = []
    for listing_id, views, impressions, transactions in rows:
        values = {
            "LISTING_VIEWS_TOTAL": views,
            "LISTING_IMPRESSION_TOTAL": impressions,
            "CLICK_THROUGH_RATE": rate(views, impressions),
            "SALES_CONVERSION_RATE": rate(transactions, views),
            "TRANSACTION": transactions,
        }
        records.append({"dimensionValues": [{"value": listing_id, "applicable": True}],
                        "metricValues": [{"value": values[m], "applicable": True} for m in metrics]})
    return json_bytes({
        "header": {
            "dimensionKeys": [{"key": "LISTING_ID", "dataType": "STRING", "localizedName": "Listing ID"}],
            "metrics": [{"key": m, "dataType": METRIC_TYPES[m][0], "localizedName": METRIC_TYPES[m][1]}
                        for m in metrics],
        },
        "records": records,
        "startDate": start_date,
        "endDate": end_date,
        "lastUpdatedDate": last_updated,
        "warnings": list(warnings),
    })

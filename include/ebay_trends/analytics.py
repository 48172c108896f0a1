"""Sell Analytics traffic report (REST/JSON): the source of listing views.

GetItem's ``HitCount`` is deprecated and unreliable, and one GetItem per listing
per day is what exhausted the 5,000-call Trading budget of the system this
project replaces.  The traffic report gives views, impressions, click-through
rate, conversion rate and transactions for up to 200 listings in one call, and
it does not spend Trading quota.

With ``dimension=LISTING`` a report holds *totals over the date range*, so the sync
asks for a single day ``[X..X]`` per call and each ``TrafficRow.day`` is that day.
For a longer range the rows hold range totals and ``day`` is the range's last day.

Parsing follows the response's own ``header``: metric values are matched to metric
keys by the header's order, never by assuming the order we asked for.
``applicable: false`` means "no value", which is ``None``, not 0.  Rates are
``Decimal`` percentages as eBay reports them.  A malformed record is skipped with a
warning rather than failing the report for the other 199 listings.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from . import settings
from .errors import MalformedResponse, RequestError, TokenExpired
from .records import TrafficReport, TrafficRow
from .trading import ITEM_ID_RE
from .transport import CallContext, RawResponse, shorten

log = logging.getLogger(__name__)

CALL_NAME = "TrafficReport"
MAX_RANGE_DAYS = 90           # eBay's limit for one report

_INT_METRICS = {
    "LISTING_VIEWS_TOTAL": "views",
    "LISTING_IMPRESSION_TOTAL": "impressions",
    "TRANSACTION": "transactions",
}
_RATE_METRICS = {
    "CLICK_THROUGH_RATE": "click_through_rate",
    "SALES_CONVERSION_RATE": "conversion_rate",
}


def validate_listing_ids(listing_ids: Sequence[str]) -> list[str]:
    """1..200 distinct digit-string ids (order kept).  Digits only, so nothing can break the filter syntax."""
    if isinstance(listing_ids, str):
        raise ValueError("listing_ids must be a sequence of item id strings, not one string")
    ids = list(dict.fromkeys(listing_ids))
    if not ids:
        raise ValueError("listing_ids must not be empty")
    if len(ids) > settings.TRAFFIC_MAX_LISTING_IDS:
        raise ValueError(f"at most {settings.TRAFFIC_MAX_LISTING_IDS} listing ids per traffic report "
                         f"(got {len(ids)})")
    for i in ids:
        if not isinstance(i, str) or not ITEM_ID_RE.match(i):
            raise ValueError("listing ids must be strings of 1 to 19 digits")
    return ids


def build_query(marketplace_id: str, listing_ids: Sequence[str], start: date, end: date,
                metrics: Sequence[str] = settings.TRAFFIC_METRICS) -> str:
    """The URL-encoded query string (braces, brackets and pipes percent-encoded)."""
    if not isinstance(start, date) or not isinstance(end, date) or isinstance(start, datetime) \
            or isinstance(end, datetime):
        raise ValueError("start and end must be datetime.date values")
    if end < start:
        raise ValueError("end must not be before start")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValueError(f"a traffic report covers at most {MAX_RANGE_DAYS} days")
    ids = validate_listing_ids(listing_ids)
    filt = (f"marketplace_ids:{{{marketplace_id}}},"
            f"date_range:[{start:%Y%m%d}..{end:%Y%m%d}],"
            f"listing_ids:{{{'|'.join(ids)}}}")
    params = (("dimension", "LISTING"), ("filter", filt), ("metric", ",".join(metrics)))
    # ':' ',' '.' stay literal as in eBay's examples; '{}[]|' and anything else are encoded.
    return "&".join(f"{k}={quote(v, safe=':,.')}" for k, v in params)


def request_headers(token: str, marketplace_id: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "X-EBAY-C-MARKETPLACE-ID": marketplace_id,
    }


# --------------------------------------------------------------------------- parsing
def _json(raw: RawResponse) -> Any:
    try:
        return json.loads(raw.body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return None


def _error_summary(payload: Any) -> tuple[str | None, str]:
    """(errorId, message) of the first entry of a REST ``errors`` array."""
    if isinstance(payload, dict) and isinstance(payload.get("errors"), list) and payload["errors"]:
        first = payload["errors"][0]
        if isinstance(first, dict):
            code = first.get("errorId")
            msg = first.get("message") or first.get("longMessage") or ""
            return (None if code is None else str(code)), shorten(str(msg), 200)
    return None, ""


def check_status(raw: RawResponse, ctx: CallContext) -> None:
    """HTTP 401 → ``TokenExpired`` (refresh once); other 4xx → ``RequestError``.  (5xx/429: transport.)"""
    if raw.status == 200:
        return
    code, msg = _error_summary(_json(raw))
    detail = f"HTTP {raw.status}" + (f", errorId {code}" if code else "") + (f": {msg}" if msg else "")
    if raw.status == 401:
        raise ctx.error(TokenExpired, f"access token rejected ({detail})", code=code or "401")
    raise ctx.error(RequestError, f"traffic report refused ({detail})", code=code or str(raw.status))


def _parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if len(text) == 8 and text.isdigit():
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    dt = datetime.fromisoformat(text)
    return dt.date()


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    dt = datetime.fromisoformat(value.strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _metric_value(cell: Any, key: str) -> int | Decimal | None:
    """One ``metricValues`` cell → int / Decimal / None (not applicable or absent)."""
    if not isinstance(cell, dict) or cell.get("applicable") is False:
        return None
    value = cell.get("value")
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{key} is not a number: {shorten(str(value), 40)!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{key} is not a non-negative number: {shorten(str(value), 40)!r}")
    if key in _INT_METRICS:
        if number != number.to_integral_value():
            raise ValueError(f"{key} is not an integer: {shorten(str(value), 40)!r}")
        if number > 2**31 - 1:
            raise ValueError(f"{key} is too large")
        return int(number)
    return number


def parse_report(raw: RawResponse, ctx: CallContext, *, start: date, end: date,
                 requested_ids: Sequence[str] | None = None) -> TrafficReport:
    """A 200 response body → ``TrafficReport``; raises ``MalformedResponse`` for non-JSON bodies."""
    if raw.content_type and raw.content_type != "application/json" and not raw.content_type.endswith("+json"):
        raise ctx.error(MalformedResponse, f"wrong content-type {raw.content_type!r} (expected JSON)")
    payload = _json(raw)
    if not isinstance(payload, dict):
        raise ctx.error(MalformedResponse, "body is not a JSON object")
    header = payload.get("header")
    if not isinstance(header, dict):
        raise ctx.error(MalformedResponse, "report has no header")
    metric_keys = [m.get("key") if isinstance(m, dict) else None for m in header.get("metrics") or []]
    dim_keys = [d.get("key") if isinstance(d, dict) else None for d in header.get("dimensionKeys") or []]
    if "LISTING_ID" not in dim_keys:
        raise ctx.error(MalformedResponse, f"report header has no LISTING_ID dimension ({shorten(repr(dim_keys), 80)})")
    listing_pos = dim_keys.index("LISTING_ID")

    warnings: list[str] = []
    for w in payload.get("warnings") or []:
        code, msg = _error_summary({"errors": [w]})
        warnings.append(f"eBay warning {code or '?'}: {msg or 'no message'}")
    missing = [k for k in (*_INT_METRICS, *_RATE_METRICS) if k not in metric_keys]
    if missing:
        warnings.append(f"report header lacks metric(s) {', '.join(missing)}")

    try:
        report_start = _parse_date(payload.get("startDate"))
        report_end = _parse_date(payload.get("endDate"))
        last_updated = _parse_datetime(payload.get("lastUpdatedDate"))
    except ValueError as exc:
        raise ctx.error(MalformedResponse, f"bad report date ({shorten(exc, 80)})") from None

    wanted = set(requested_ids) if requested_ids is not None else None
    rows: list[TrafficRow] = []
    seen: set[str] = set()
    records = payload.get("records") or []
    if not isinstance(records, list):
        raise ctx.error(MalformedResponse, "records is not a list")
    for rec in records:
        try:
            row = _parse_record(rec, listing_pos, metric_keys, end)
        except ValueError as exc:
            warnings.append(f"skipped a record: {shorten(exc, 160)}")
            continue
        if wanted is not None and row.listing_id not in wanted:
            warnings.append(f"skipped listing {row.listing_id}: not requested")
            continue
        if row.listing_id in seen:
            warnings.append(f"skipped a duplicate record of listing {row.listing_id}")
            continue
        seen.add(row.listing_id)
        rows.append(row)

    warnings = [ctx.redact(w) for w in warnings]
    for w in warnings:
        log.warning("%s: %s", ctx.describe(), w)
    return TrafficReport(start_date=report_start or start, end_date=report_end or end,
                         last_updated=last_updated, rows=rows, warnings=warnings)


def _parse_record(rec: Any, listing_pos: int, metric_keys: list[Any], day: date) -> TrafficRow:
    if not isinstance(rec, dict):
        raise ValueError("record is not an object")
    dims = rec.get("dimensionValues")
    if not isinstance(dims, list) or len(dims) <= listing_pos or not isinstance(dims[listing_pos], dict):
        raise ValueError("record has no LISTING_ID value")
    listing_id = dims[listing_pos].get("value")
    listing_id = str(listing_id) if isinstance(listing_id, (str, int)) and not isinstance(listing_id, bool) else ""
    if not ITEM_ID_RE.match(listing_id):
        raise ValueError(f"record has an invalid listing id {shorten(listing_id, 30)!r}")
    cells = rec.get("metricValues")
    if not isinstance(cells, list):
        raise ValueError(f"record of listing {listing_id} has no metricValues")
    values: dict[str, Any] = {}
    for key, cell in zip(metric_keys, cells):
        if key in _INT_METRICS:
            values[_INT_METRICS[key]] = _metric_value(cell, key)
        elif key in _RATE_METRICS:
            values[_RATE_METRICS[key]] = _metric_value(cell, key)
    return TrafficRow(
        listing_id=listing_id,
        day=day,
        views=values.get("views"),
        impressions=values.get("impressions"),
        click_through_rate=values.get("click_through_rate"),
        conversion_rate=values.get("conversion_rate"),
        transactions=values.get("transactions"),
    )


__all__ = ["CALL_NAME", "build_query", "check_status", "parse_report", "request_headers",
           "validate_listing_ids"]

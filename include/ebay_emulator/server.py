"""HTTP server: routes, header/token checks, latency, fault application.

    srv = EmulatorServer(EmulatorConfig(latency_scale=0), host="127.0.0.1", port=0).start()
    srv.url      # api_base_url for the client
    srv.state    # EmulatorState (day, faults, counters) for direct access
    srv.catalog  # Catalog (expected values without HTTP)
    srv.stop()

Admin API (emulator-only, JSON, no auth; eBay has nothing like it):

    GET  /healthz                  {"status": "ok", "day", "today"}
    GET  /admin/state              day, today, start_date, gtc_period_days, latencies,
                                   call_limit, token_lifetime_s,
                                   past_last_page, traffic_lag_days, active_list_cap,
                                   strict_site_id, faults, revoked, in_flight, max_in_flight,
                                   sellers{marketplace, currency, listings_day0, refresh_token}
    POST /admin/state              partial update of: day, faults (replaces the whole spec,
                                   see faults.py; {} = off), latency_scale, latencies
                                   ({"GetItem": 0.5} merges), call_limit, token_lifetime_s,
                                   past_last_page, traffic_lag_days, active_list_cap,
                                   strict_site_id -> the new state; 400 on unknown keys/values
    POST /admin/advance_day        {"days": 1}
    POST /admin/expire_tokens      every access token issued so far expires now -> {"expired": n}
    POST /admin/revoke             {"seller": "seller_a"}: refresh -> invalid_grant, its access
                                   tokens -> 932 (Trading) / 401 (REST);  /admin/unrevoke undoes
    POST /admin/reset              counters, max_in_flight, faults, drift overlay, revocations
                                   (day, settings and tokens stay)
    GET  /admin/calls              {"total", "by_call", "by_seller", "by_day", "by_app",
                                    "trading_quota": {app: {date: n}}, "outcomes": {"Call:ok"|
                                    "Call:error:<code>"|"Call:fault:<kind>": n}}
    GET  /admin/catalog?seller=&day=[&ids=1]
                                   {"active_count", "started", "ended", "first_item_id",
                                    "last_item_id", "marketplace", "currency"[, "active_ids"]}
                                   (served view: includes the drift overlay)

Trading calls (POST /ws/api.dll, X-EBAY-API-CALL-NAME): GetMyeBaySelling, GetItem,
GetSellerList.  GetSellerList (see ``_get_seller_list``):

    request   EndTimeFrom+EndTimeTo and/or StartTimeFrom+StartTimeTo (xs:dateTime; at
              least one complete pair, To >= From, each at most 120 days),
              Pagination/EntriesPerPage (1..200, default 200), Pagination/PageNumber
              (>= 1, default 1), IncludeWatchCount.  DetailLevel/GranularityLevel are
              accepted and ignored (items are always the ReturnAll shape); other filters
              (CategoryID, SKUArray, UserID, Sort, AdminEndedItemsOnly, ...) are ignored.
    response  PaginationResult{TotalNumberOfPages,TotalNumberOfEntries}, HasMoreItems,
              ItemArray/Item[] (each exactly GetItem's Item), ItemsPerPage, PageNumber,
              ReturnedItemCountActual.
    selection the seller's listings existing on the simulated day whose EndTime /
              StartTime -- as GetItem shows them that day -- fall in the window(s),
              active or ended; ordered by EndTime, then ItemID (numeric), ascending, so
              the pages of a window are stable within a simulated day (drift aside).
              Active listings' EndTime is their next GTC renewal (<= 30 days ahead),
              so [now, now + 120 days] holds every active listing, as on eBay.
    errors    37 (RequestError) for a missing/half/malformed window, To < From, a span
              over 120 days, EntriesPerPage outside 1..200, PageNumber < 1.

Counting: every request is counted by call name (GetMyeBaySelling, GetItem,
GetSellerList, OAuthToken, TrafficReport), seller, app and simulated date.
``trading_quota`` counts Trading calls with a valid token per app and simulated date
(the eBay day); a call whose count exceeds ``call_limit`` gets 518.  Injected faults
happen after the quota count.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import signal
import socket
import struct
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import wire
from .catalog import DRIFT_PER_DAY, DRIFT_SLOT0, Catalog, ItemSnapshot, iso_z
from .config import EmulatorConfig
from .faults import DOCTYPE_KINDS, doctype_prolog, item_overrides
from .state import TRADING_CALLS, EmulatorState

__all__ = ["EmulatorConfig", "EmulatorServer", "EmulatorState"]

log = logging.getLogger("ebay_emulator")

MAX_REQUEST_BYTES = 1024 * 1024
SORTS = ("ItemID", "ItemIDDescending", "StartTime", "StartTimeDescending")
SELLER_LIST_MAX_WINDOW_S = 120 * 86400    # eBay: each GetSellerList time range at most 120 days
SELLER_LIST_MAX_PER_PAGE = 200
# xs:dateTime as eBay takes it: 2026-11-01T00:00:00.000Z (fraction and zone optional; no zone = GMT)
_XS_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?")
MAX_TRAFFIC_IDS = 200
MAX_TRAFFIC_RANGE_DAYS = 90
_FILTER_RE = re.compile(r"(\w+):(\{[^}]*\}|\[[^\]]*\])")


class _Abort(Exception):
    """Stop handling: the response (or the deliberate lack of one) is already done."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"        # keep-alive, like eBay's front ends
    disable_nagle_algorithm = True       # headers and body are separate writes: avoid 40 ms delayed-ACK stalls
    server_version = "eBayEmulator/1.0"
    sys_version = ""
    emu: "EmulatorServer"                # set on the per-server subclass

    # Quiet by default: request lines are not interesting, and headers are never logged.
    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    # ---- plumbing -----------------------------------------------------------------
    @property
    def state(self) -> EmulatorState:
        return self.emu.state

    @property
    def catalog(self) -> Catalog:
        return self.emu.state.catalog

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send(411, b"chunked request bodies are not supported", "text/plain")
            raise _Abort
        try:
            n = int(length) if length is not None else 0
        except ValueError:
            n = -1
        if n < 0 or n > MAX_REQUEST_BYTES:
            self._send(413, b"request body too large", "text/plain")
            self.close_connection = True
            raise _Abort
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None,
              *, truncate: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            # Promise the full length, deliver half, close: a transfer cut mid-body.
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def _xml(self, body: bytes, status: int = 200) -> None:
        self._send(status, body, "text/xml;charset=utf-8")

    def _json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, wire.json_bytes(obj), "application/json", headers)

    def _raw_json(self, body: bytes, status: int) -> None:
        self._send(status, body, "application/json")

    def _ts(self) -> str:
        """Response Timestamp: the simulated now (noon of the simulated day) -> deterministic bytes."""
        return iso_z(self.catalog.now_ts(self.state.day))

    def _latency(self, call: str) -> None:
        delay = self.state.latency(call)
        if delay > 0:
            self.state.stop_event.wait(delay)

    # ---- fault responses ----------------------------------------------------------
    def _inject(self, kind: str, call: str, *, rest: bool, seller: str | None = None,
                app: str | None = None) -> None:
        """Answer with an injected failure of ``kind``; always raises _Abort."""
        self.state.record(call, seller, app, f"fault:{kind}")
        if kind in ("http500", "http503"):
            status = 500 if kind == "http500" else 503
            msg = b"Internal Server Error" if status == 500 else b"Service Unavailable"
            self._send(status, msg, "text/plain", {"Retry-After": "1"} if status == 503 else None)
        elif kind == "html":
            self._send(502, b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
                            b"<p>The proxy server received an invalid response.</p></body></html>",
                       "text/html; charset=utf-8")
        elif kind == "10007":
            if rest:
                self._raw_json(wire.rest_error(50000, "There was a problem with an eBay internal system or process.",
                                               category="APPLICATION"), 500)
            else:
                self._xml(wire.failure(call, self._ts(), 10007, "Internal error to the application.",
                                       "Internal error to the application.", "SystemError"))
        elif kind == "malformed":
            inner = ("<ItemArray><Item><ItemID>1100</Item></ItemArray>" if call == "GetSellerList" else
                     "<ActiveList><ItemArray><Item><ItemID>1100</Item></ActiveList>")
            body = (b'{"header":{"dimensionKeys":[{"key":"LISTING_ID",' if rest else
                    (wire.XML_DECL + f'<{call}Response xmlns="{wire.NS}"><Ack>Success</Ack>{inner}').encode())
            self._send(200, body, "application/json" if rest else "text/xml;charset=utf-8")
        elif kind == "truncated":
            items = "<ItemArray>" + "<Item><ItemID>0</ItemID></Item>" * 50 + "</ItemArray>"
            body = (wire.traffic_report([], [], start_date="", end_date="", last_updated="") if rest
                    else wire.envelope(call, self._ts(), items if call == "GetSellerList"
                                       else f"<ActiveList>{items}</ActiveList>"))
            self._send(200, body, "application/json" if rest else "text/xml;charset=utf-8", truncate=True)
        elif kind == "wrong_ctype":
            # A well-formed answer under the wrong media type (a proxy relabelling it).
            body = (wire.traffic_report([], [], start_date="", end_date="", last_updated="") if rest
                    else wire.envelope(call, self._ts()))
            self._send(200, body, "text/plain; charset=utf-8" if rest else "application/json")
        elif kind == "timeout":
            self.state.stop_event.wait(self.state.faults.spec.hang_s)
            self.close_connection = True
        elif kind == "reset":
            try:   # SO_LINGER 0: close() sends RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_connection = True
        raise _Abort

    # ---- dispatch -----------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        api = path in ("/ws/api.dll", "/identity/v1/oauth2/token", "/sell/analytics/v1/traffic_report")
        if api:
            self.state.enter()
        try:
            if path == "/ws/api.dll" and method == "POST":
                self._trading()
            elif path == "/identity/v1/oauth2/token" and method == "POST":
                self._oauth()
            elif path == "/sell/analytics/v1/traffic_report" and method == "GET":
                self._traffic()
            elif path == "/healthz" and method == "GET":
                self._json({"status": "ok", "day": self.state.day, "today": self.state.today.isoformat()})
            elif path.startswith("/admin/"):
                self._admin(method, path)
            elif api:
                self._send(405, b"method not allowed", "text/plain")
            else:
                self._json({"errors": [{"errorId": 404, "message": f"no route {path}"}]}, 404)
        except _Abort:
            pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:   # a bug in the emulator must not look like an eBay answer
            log.exception("emulator error on %s %s", method, path)
            try:
                self._send(599, b"emulator internal error", "text/plain")
            except OSError:
                pass
            self.close_connection = True
        finally:
            if api:
                self.state.leave()

    # ---- Trading API --------------------------------------------------------------
    def _trading(self) -> None:
        body = self._read_body()
        h = self.headers
        call = (h.get("X-EBAY-API-CALL-NAME") or "").strip()
        ts = self._ts()
        latency_call = call if call in TRADING_CALLS else "GetItem"
        self._latency(latency_call)

        def fail(code: int | str, short: str, long: str | None = None, cls: str = "RequestError",
                 outcome: str | None = None, seller: str | None = None, app: str | None = None) -> None:
            self.state.record(call or "?", seller, app, outcome or f"error:{code}")
            self._xml(wire.failure(call or "Unknown", ts, code, short, long, cls))
            raise _Abort

        if call not in TRADING_CALLS:
            fail(2, "Unsupported API call.",
                 f'The API call "{call}" is invalid or not supported in this release.')
        site = (h.get("X-EBAY-API-SITEID") or "").strip()
        if site not in wire.SITE_IDS.values():
            fail(37, "Input data is invalid.", f"Header X-EBAY-API-SITEID is missing or invalid: {site!r}.")
        compat = (h.get("X-EBAY-API-COMPATIBILITY-LEVEL") or "").strip()
        if not compat.isdigit():
            fail(37, "Input data is invalid.", "Header X-EBAY-API-COMPATIBILITY-LEVEL is missing or invalid.")
        ctype = (h.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "text/xml":
            fail(37, "Input data is invalid.", "Content-Type must be text/xml.")
        status, tok = self.state.check_token((h.get("X-EBAY-API-IAF-TOKEN") or "").strip())
        if status in ("missing", "unknown"):
            fail(21916984, "Invalid IAF token.", "IAF token supplied is invalid.")
        if status == "expired":
            fail(21917053, "Expired IAF token.", "IAF token supplied is expired.",
                 seller=tok.seller, app=tok.client_id)
        if status == "revoked":
            fail(932, "Auth token is hard expired.",
                 "Auth token is hard expired, User needs to generate a new token for this application.",
                 seller=tok.seller, app=tok.client_id)
        assert tok is not None
        seller, app = tok.seller, tok.client_id
        info = self.catalog.sellers[seller]
        if self.state.strict_site_id and site != wire.SITE_IDS.get(info.marketplace):
            fail(37, "Input data is invalid.",
                 f"X-EBAY-API-SITEID {site} does not match the account's site ({info.marketplace}).",
                 seller=seller, app=app)
        try:
            req = wire.parse_trading_request(body, call)
        except wire.BadRequest as exc:
            fail(5, "XML Parse error.", str(exc), seller=seller, app=app)

        used = self.state.count_trading_call(app)
        if used > self.state.call_limit:
            fail(518, "Call usage limit has been reached.",
                 "Your application has exceeded usage limit on this call, please make call to Developer "
                 "Analytics API to check your call usage.", seller=seller, app=app)

        if call == "GetMyeBaySelling":
            self._get_my_ebay_selling(req, seller, app, ts, fail)
        elif call == "GetSellerList":
            self._get_seller_list(req, seller, app, ts, fail)
        else:
            self._get_item(req, seller, app, ts, fail)

    def _int_field(self, req: dict, path: tuple[str, ...], default: int, lo: int, hi: int | None, fail) -> int:
        raw = wire.text_of(req, *path)
        if raw is None or raw == "":
            return default
        try:
            v = int(raw)
        except ValueError:
            v = lo - 1
        if v < lo or (hi is not None and v > hi):
            fail(37, "Input data is invalid.",
                 f"Input data for tag <{path[-1]}> is invalid or missing: {raw!r} (allowed {lo}..{hi or 'any'}).")
        return v

    def _get_my_ebay_selling(self, req: dict, seller: str, app: str, ts: str, fail_any) -> None:
        def fail(*a: Any, **k: Any) -> None:
            fail_any(*a, seller=seller, app=app, **k)

        st = self.state
        day = st.day
        active_list = req.get("ActiveList")
        include = wire.text_of(req, "ActiveList", "Include")
        epp = self._int_field(req, ("ActiveList", "Pagination", "EntriesPerPage"), 25, 1, 200, fail)
        page = self._int_field(req, ("ActiveList", "Pagination", "PageNumber"), 1, 1, None, fail)
        sort = wire.text_of(req, "ActiveList", "Sort") or "ItemID"
        if sort not in SORTS:
            fail(37, "Input data is invalid.", f"Sort value {sort!r} is not supported.")

        kind = st.faults.pick_error("GetMyeBaySelling", seller, page)
        if kind:
            self._inject(kind, "GetMyeBaySelling", rest=False, seller=seller, app=app)

        if active_list is None or (include or "true").lower() == "false":
            st.record("GetMyeBaySelling", seller, app, "ok")
            self._xml(wire.envelope("GetMyeBaySelling", ts))
            return
        slots = st.served_active(seller, day)
        if sort.startswith("StartTime"):
            slots = sorted(slots, key=lambda s: self.catalog.static(seller, s).start_ts) if st.drift_version[seller] \
                else slots    # regular slots are already in start-time order
        if sort.endswith("Descending"):
            slots = slots[::-1]
        if st.active_list_cap is not None:
            slots = slots[: st.active_list_cap]
        total = len(slots)
        pages = math.ceil(total / epp)
        served_page = page
        if page > pages:
            served_page = pages if (st.past_last_page == "last" and pages > 0) else 0
        if served_page:
            chunk = slots[(served_page - 1) * epp: served_page * epp]
            corrupt = st.faults.corruptions(seller, served_page)
            prolog = ""
            items: list[str] = []
            if st.faults.duplicate_from_previous(seller, served_page) and served_page > 1:
                prev_last = slots[(served_page - 1) * epp - 1]
                items.append(wire.selling_item_xml(self._snap(seller, prev_last, day)))
            victim = len(chunk) // 2
            ov: dict[str, Any] = {}
            for k in corrupt:
                ov.update(item_overrides(k))
                if k in DOCTYPE_KINDS:
                    prolog = doctype_prolog(k, "GetMyeBaySellingResponse")
            for i, slot in enumerate(chunk):
                items.append(wire.selling_item_xml(self._snap(seller, slot, day), ov if i == victim else None))
            body = wire.selling_body(items, pages, total)
        else:
            prolog = ""
            body = wire.selling_body(None, pages, total)
        st.record("GetMyeBaySelling", seller, app, "ok")
        self._xml(wire.envelope("GetMyeBaySelling", ts, body, prolog=prolog))
        st.after_selling_call(seller, day)

    def _snap(self, seller: str, slot: int, day: int):
        return self.catalog.snapshot(seller, slot, day, ended_on=self.state.ended_override(seller, slot))

    def _get_item(self, req: dict, seller: str, app: str, ts: str, fail) -> None:
        st = self.state
        day = st.day
        item_id = wire.text_of(req, "ItemID")
        if not item_id:
            fail(37, "Input data is invalid.", "Input data for tag <ItemID> is invalid or missing.",
                 seller=seller, app=app)
        kind = st.faults.pick_error("GetItem", seller)
        if kind:
            self._inject(kind, "GetItem", rest=False, seller=seller, app=app)

        def not_found() -> None:
            fail(17, "This item cannot be accessed because the listing has been deleted or you are not the seller.",
                 f"The item ({item_id}) cannot be accessed because the listing has been deleted, "
                 "is a Half.com listing, or you are not the seller.", seller=seller, app=app,
                 outcome="error:17")

        if item_id in st.faults.spec.not_found_items:
            not_found()
        loc = self.catalog.locate(item_id)
        if loc is None:
            not_found()
        owner, slot = loc
        exists = (st.drift_slot_known(owner, slot) and self.catalog.slot_exists(owner, slot, day)) \
            if slot >= DRIFT_SLOT0 else self.catalog.slot_exists(owner, slot, day)
        if not exists:
            not_found()
        snap = self._snap(owner, slot, day)
        if not snap.active:
            ended_on = st.ended_override(owner, slot)
            end_day = snap.static.end_day if ended_on is None else min(snap.static.end_day, ended_on)
            if day - end_day >= self.state.config.ended_visible_days:
                not_found()
        include_watch = (wire.text_of(req, "IncludeWatchCount") or "").lower() == "true"
        item = self._item_xml(snap, include_watch)
        st.record("GetItem", seller, app, "ok")
        self._xml(wire.envelope("GetItem", ts, item))

    def _item_xml(self, snap: ItemSnapshot, include_watch: bool, ov: dict[str, Any] | None = None) -> str:
        """The ``Item`` GetItem answers for this listing today; GetSellerList sends the same."""
        stc = snap.static
        ended_on = self.state.ended_override(stc.seller, stc.slot)
        end_ts = self.catalog.end_time_of(stc, snap.day, ended_on=ended_on)   # next GTC renewal / real end
        status = "Active" if snap.active else ("Completed" if snap.quantity_sold > 0 else "Ended")
        info = self.catalog.sellers[stc.seller]
        return wire.get_item_xml(snap, seller=stc.seller, marketplace=info.marketplace, listing_status=status,
                                 end_ts=end_ts, include_watch=include_watch, ov=ov)

    # ---- GetSellerList --------------------------------------------------------------
    @staticmethod
    def _xs_datetime(raw: str) -> float | None:
        """Epoch seconds of an xs:dateTime (no zone = GMT, as eBay reads it), None if malformed."""
        if not _XS_DATETIME_RE.fullmatch(raw):
            return None
        text = raw.replace("Z", "+00:00")
        if "." in text:        # Python takes at most 6 fraction digits
            head, _, rest = text.partition(".")
            digits = len(rest) - len(rest.lstrip("0123456789"))
            text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()

    def _get_seller_list(self, req: dict, seller: str, app: str, ts: str, fail_any) -> None:
        """GetSellerList: the seller's listings whose EndTime/StartTime lie in the window(s).

        Order: EndTime ascending, then ItemID (numeric) ascending -- the emulator's choice
        (eBay documents none), deterministic, so one window's pages are stable within a
        simulated day.  Only the page's items are built; the selection is array-based.
        """
        def fail(*a: Any, **k: Any) -> None:
            fail_any(*a, seller=seller, app=app, **k)

        st = self.state
        day = st.day
        ranges: dict[str, tuple[float, float]] = {}
        for name in ("EndTime", "StartTime"):
            lo_tag, hi_tag = f"{name}From", f"{name}To"
            lo_raw, hi_raw = wire.text_of(req, lo_tag), wire.text_of(req, hi_tag)
            if not lo_raw and not hi_raw:
                continue
            if not lo_raw or not hi_raw:
                missing = lo_tag if not lo_raw else hi_tag
                fail(37, "Input data is invalid.",
                     f"Input data for tag <{missing}> is invalid or missing: <{lo_tag}> and <{hi_tag}> "
                     "must be specified together.")
            lo, hi = self._xs_datetime(lo_raw), self._xs_datetime(hi_raw)
            for tag, raw, val in ((lo_tag, lo_raw, lo), (hi_tag, hi_raw, hi)):
                if val is None:
                    fail(37, "Input data is invalid.",
                         f"Input data for tag <{tag}> is invalid: {raw[:60]!r} is not a valid dateTime "
                         "(expected e.g. 2026-11-01T00:00:00.000Z).")
            assert lo is not None and hi is not None
            if hi < lo:
                fail(37, "Input data is invalid.",
                     f"Invalid time range: <{hi_tag}> {hi_raw} is earlier than <{lo_tag}> {lo_raw}.")
            if hi - lo > SELLER_LIST_MAX_WINDOW_S:
                fail(37, "Input data is invalid.",
                     f"Invalid time range: <{lo_tag}> to <{hi_tag}> spans more than 120 days.")
            ranges[name] = (lo, hi)
        if not ranges:
            fail(37, "Input data is invalid.",
                 "A time range filter is required: specify EndTimeFrom and EndTimeTo, or StartTimeFrom and "
                 "StartTimeTo (each range at most 120 days).")
        epp = self._int_field(req, ("Pagination", "EntriesPerPage"), SELLER_LIST_MAX_PER_PAGE, 1,
                              SELLER_LIST_MAX_PER_PAGE, fail)
        page = self._int_field(req, ("Pagination", "PageNumber"), 1, 1, None, fail)
        include_watch = (wire.text_of(req, "IncludeWatchCount") or "").lower() == "true"

        kind = st.faults.pick_error("GetSellerList", seller, page)
        if kind:
            self._inject(kind, "GetSellerList", rest=False, seller=seller, app=app)

        exclude = frozenset(loc[1] for loc in map(self.catalog.locate, st.faults.spec.not_found_items)
                            if loc is not None and loc[0] == seller)
        slots = st.seller_list(seller, day, ranges.get("EndTime"), ranges.get("StartTime"), exclude)
        total = len(slots)
        pages = math.ceil(total / epp)
        prolog = ""
        items: list[str] = []
        if page <= pages:
            chunk = slots[(page - 1) * epp: page * epp]
            corrupt = st.faults.corruptions(seller, page, "GetSellerList")
            if page > 1 and st.faults.duplicate_from_previous(seller, page, "GetSellerList"):
                items.append(self._item_xml(self._snap(seller, slots[(page - 1) * epp - 1], day), include_watch))
            ov: dict[str, Any] = {}
            for k in corrupt:
                ov.update(item_overrides(k))
                if k in DOCTYPE_KINDS:
                    prolog = doctype_prolog(k, "GetSellerListResponse")
            victim = len(chunk) // 2
            for i, slot in enumerate(chunk):
                items.append(self._item_xml(self._snap(seller, slot, day), include_watch,
                                            ov if i == victim else None))
        # else: a PageNumber past the last page.  eBay documents nothing for it; the
        # emulator's choice is Success with an empty <ItemArray/> and ReturnedItemCountActual 0.
        body = wire.seller_list_body(items, total_pages=pages, total_entries=total, has_more=page < pages,
                                     per_page=epp, page=page)
        st.record("GetSellerList", seller, app, "ok")
        self._xml(wire.envelope("GetSellerList", ts, body, prolog=prolog))

    # ---- OAuth --------------------------------------------------------------------
    def _oauth(self) -> None:
        body = self._read_body()
        self._latency("OAuthToken")
        cfg = self.state.config
        auth = self.headers.get("Authorization") or ""
        client = secret = None
        if auth[:6].lower() == "basic ":
            try:
                client, _, secret = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client = None
        if client != cfg.client_id or secret != cfg.client_secret:
            self.state.record("OAuthToken", None, client, "error:invalid_client")
            self._json({"error": "invalid_client", "error_description": "client authentication failed"}, 401)
            return
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        if form.get("grant_type") != "refresh_token":
            self.state.record("OAuthToken", None, client, "error:unsupported_grant_type")
            self._json({"error": "unsupported_grant_type",
                        "error_description": "grant type in request is not supported by the authorization server"}, 400)
            return
        seller = self.state.refresh_tokens.get(form.get("refresh_token", ""))
        if seller is None or seller in self.state.revoked:
            self.state.record("OAuthToken", seller, client, "error:invalid_grant")
            self._json({"error": "invalid_grant",
                        "error_description": "the provided authorization refresh token is invalid or was issued "
                                             "to another client"}, 400)
            return
        scopes = form.get("scope", "").split()
        if any(not s.startswith("https://api.ebay.com/oauth/api_scope") for s in scopes):
            self.state.record("OAuthToken", seller, client, "error:invalid_scope")
            self._json({"error": "invalid_scope",
                        "error_description": "The requested scope is invalid, unknown, malformed, or exceeds "
                                             "the scope granted to the client"}, 400)
            return
        kind = self.state.faults.pick_error("OAuthToken", seller)
        if kind:
            self._inject(kind, "OAuthToken", rest=True, seller=seller, app=client)
        token = self.state.issue_token(seller, client)
        self.state.record("OAuthToken", seller, client, "ok")
        self._json({"access_token": token, "expires_in": self.state.token_lifetime_s,
                    "token_type": "User Access Token"})

    # ---- Sell Analytics traffic report -------------------------------------------
    def _traffic(self) -> None:
        self._latency("TrafficReport")
        st = self.state
        auth = self.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        status, tok = st.check_token(token)
        if status != "ok":
            st.record("TrafficReport", tok.seller if tok else None, tok.client_id if tok else None,
                      f"error:token_{status}")
            self._raw_json(wire.rest_error(1001, "Invalid access token", domain="OAuth",
                                           long_message="Invalid access token. Check the value of the "
                                                        "Authorization HTTP request header."), 401)
            return
        seller, app = tok.seller, tok.client_id
        info = self.catalog.sellers[seller]

        def bad(error_id: int, message: str) -> None:
            st.record("TrafficReport", seller, app, f"error:{error_id}")
            self._raw_json(wire.rest_error(error_id, message), 400)
            raise _Abort

        q = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}
        if q.get("dimension") != "LISTING":
            bad(50001, "Invalid dimension: only LISTING is supported by this emulator.")
        filters = dict(_FILTER_RE.findall(q.get("filter", "")))
        mps = filters.get("marketplace_ids", "{}")[1:-1].split("|")
        if info.marketplace not in mps:
            bad(50002, f"The filter marketplace_ids must contain the account's marketplace ({info.marketplace}).")
        m = re.fullmatch(r"\[(\d{8})\.\.(\d{8})\]", filters.get("date_range", ""))
        try:
            if not m:
                raise ValueError
            d0 = datetime.strptime(m.group(1), "%Y%m%d").date()
            d1 = datetime.strptime(m.group(2), "%Y%m%d").date()
        except ValueError:
            bad(50003, "The filter date_range is missing or invalid (expected [YYYYMMDD..YYYYMMDD]).")
        if d1 < d0 or (d1 - d0).days + 1 > MAX_TRAFFIC_RANGE_DAYS:
            bad(50003, f"The date_range must have start <= end and span at most {MAX_TRAFFIC_RANGE_DAYS} days.")
        ids_raw = filters.get("listing_ids", "{}")[1:-1]
        ids = [i for i in ids_raw.split("|") if i] if ids_raw else []
        if len(ids) > MAX_TRAFFIC_IDS:
            bad(50005, f"The filter listing_ids supports at most {MAX_TRAFFIC_IDS} listing ids.")
        metrics = [x for x in q.get("metric", "").split(",") if x]
        if not metrics or any(x not in wire.METRIC_TYPES for x in metrics):
            bad(50004, "The metric parameter is missing or contains an unsupported metric.")
        kind = st.faults.pick_error("TrafficReport", seller)
        if kind:
            self._inject(kind, "TrafficReport", rest=True, seller=seller, app=app)

        today = st.day
        complete_through = today - st.traffic_lag_days
        first, last = self.catalog.day_of(d0), self.catalog.day_of(d1)
        if not ids:   # no listing filter: every listing active on the last day of the range
            slots = st.served_active(seller, min(last, today))
            pairs = [(self.catalog.item_id(seller, s), s) for s in slots]
        else:
            pairs = []
            for i in ids:
                loc = self.catalog.locate(i)
                if loc and loc[0] == seller:
                    pairs.append((i, loc[1]))
        rows = []
        for listing_id, slot in pairs:
            stc = self.catalog.static(seller, slot)
            if stc.start_day > last or (slot >= DRIFT_SLOT0 and not st.drift_slot_known(seller, slot)):
                continue
            ended_on = st.ended_override(seller, slot)
            v = i_ = t = 0
            for d in range(first, min(last, today) + 1):
                dv, di, dt = self.catalog.traffic_day(seller, slot, d, ended_on=ended_on)
                if d > complete_through:     # not final yet: eBay is still counting
                    dv, di, dt = dv // 2, di // 2, dt // 2
                v, i_, t = v + dv, i_ + di, t + dt
            rows.append((listing_id, v, i_, t))
        lu = self.catalog.date_of(complete_through)
        body = wire.traffic_report(
            metrics, rows,
            start_date=f"{d0.isoformat()}T00:00:00.000Z", end_date=f"{d1.isoformat()}T23:59:59.000Z",
            last_updated=f"{lu.isoformat()}T23:59:59.000Z")
        st.record("TrafficReport", seller, app, "ok")
        self._send(200, body, "application/json")

    # ---- admin --------------------------------------------------------------------
    def _admin(self, method: str, path: str) -> None:
        st = self.state
        body = self._read_body() if method == "POST" else b""
        try:
            data = json.loads(body) if body.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object")
            name = path[len("/admin/"):]
            if method == "GET" and name == "state":
                return self._json(st.snapshot())
            if method == "POST" and name == "state":
                st.update(data)
                return self._json(st.snapshot())
            if method == "POST" and name == "advance_day":
                st.advance_day(int(data.get("days", 1)))
                return self._json(st.snapshot())
            if method == "POST" and name == "expire_tokens":
                return self._json({"expired": st.expire_tokens()})
            if method == "POST" and name in ("revoke", "unrevoke"):
                st.revoke(str(data.get("seller", "")), name == "revoke")
                return self._json({"revoked": sorted(st.revoked)})
            if method == "POST" and name == "reset":
                st.reset()
                return self._json(st.snapshot())
            if method == "GET" and name == "calls":
                return self._json(st.calls_report())
            if method == "GET" and name == "catalog":
                return self._json(self._catalog_summary())
        except (ValueError, TypeError, KeyError) as exc:
            return self._json({"error": "bad_request", "message": str(exc)}, 400)
        self._json({"error": "not_found", "message": f"no admin route {method} {path}"}, 404)

    def _catalog_summary(self) -> dict[str, Any]:
        q = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        seller = q.get("seller") or self.state.config.sellers[0]
        if seller not in self.catalog.sellers:
            raise ValueError(f"unknown seller {seller!r}")
        day = int(q.get("day", self.state.day))
        if day < 0:
            raise ValueError("day must be >= 0")
        cat = self.catalog
        active = self.state.served_active(seller, day)
        drift_end = [cat.item_id(seller, s) for s, d in self.state.drift_ended[seller].items() if d == day]
        drift_start = [cat.item_id(seller, s) for s in self.state.drift_started[seller]
                       if (s - DRIFT_SLOT0) // DRIFT_PER_DAY == day]
        info = cat.sellers[seller]
        out: dict[str, Any] = {
            "seller": seller, "day": day, "date": cat.date_of(day).isoformat(),
            "marketplace": info.marketplace, "currency": info.currency,
            "active_count": len(active),
            "started": cat.started_item_ids(seller, day) + drift_start,
            "ended": cat.ended_item_ids(seller, day) + drift_end,
            "first_item_id": cat.item_id(seller, active[0]) if active else None,
            "last_item_id": cat.item_id(seller, active[-1]) if active else None,
        }
        if q.get("ids", "").lower() in ("1", "true", "yes"):
            out["active_ids"] = [cat.item_id(seller, s) for s in active]
        return out


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512        # >= 64 clients connecting at once must not be refused
    block_on_close = False

    def shutdown_request(self, request: socket.socket) -> None:
        # A "reset" fault set SO_LINGER 0: skip the FIN of shutdown(SHUT_WR) so close() sends RST.
        try:
            l_onoff, l_linger = struct.unpack("ii", request.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8))
        except OSError:
            l_onoff, l_linger = 0, 0
        if l_onoff and l_linger == 0:
            self.close_request(request)
            return
        super().shutdown_request(request)


class EmulatorServer:
    """The local eBay: Trading API, OAuth token endpoint, traffic report, admin API."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.config = config or EmulatorConfig()
        self.state = EmulatorState(self.config)
        handler = type("Handler", (_Handler,), {"emu": self})
        self._httpd = _Server((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def catalog(self) -> Catalog:
        return self.state.catalog

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "EmulatorServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"ebay-emulator-{self.port}", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (the CLI)."""
        self._httpd.serve_forever(poll_interval=0.2)

    def serve_until_signal(self) -> None:
        """Serve in the calling (main) thread until Ctrl-C or SIGTERM (docker stop, a
        parent's terminate()), then close the socket: the CLI's and the bench's loop."""
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            self.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and close the socket (also after ``serve_forever`` returned)."""
        self.state.stop_event.set()        # wake hanging "timeout" faults and latency sleeps
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt

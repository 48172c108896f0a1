"""Fault injection: what can go wrong, validated from JSON, decided deterministically.

Fault spec (the ``faults`` object of ``POST /admin/state`` and ``EmulatorConfig.faults``);
every key is optional and posting a spec *replaces* the previous one:

    {
      "error_rate": 0.1,                 # share of API calls that fail (0..1)
      "error_kinds": ["http500", ...],   # drawn uniformly; default: all but "timeout"
      "error_calls": ["GetMyeBaySelling", "GetItem", "GetSellerList", "TrafficReport"],
                                         # (the default); also "OAuthToken"
      "error_seed": 7,                   # PRNG seed (default: the config seed)
      "hang_s": 30,                      # how long "timeout" hangs before closing
      "fail_pages": [{"seller": "seller_a", "page": 3, "kind": "http500"}],
      "drift": [{"seller": "seller_a", "end_per_call": 2, "start_per_call": 1}],
      "corrupt_items": [{"seller": "seller_a", "page": 2, "kind": "bad_price"}],
      "not_found_items": ["110000001074"]
    }

``fail_pages`` and ``corrupt_items`` entries take an optional ``"call"``:
"GetMyeBaySelling" (the default) or "GetSellerList" -- which call's page it hits.
``not_found_items``: GetItem answers 17 and GetSellerList leaves them out.

Error kinds: http500, http503 (plain 5xx), timeout (hang then close, no response),
reset (connection closed with RST, no response), 10007 (Trading Failure envelope,
SystemError; 500 JSON for REST), malformed (200 with broken XML/JSON), truncated
(Content-Length of the full body, half the body, then close), html (502 text/html),
wrong_ctype (200 with a well-formed body under the wrong media type: Trading XML
labelled application/json, REST JSON labelled text/plain -- a relabelling proxy).

Corrupt kinds (one item per page: the middle one, index len//2): missing_fields (no
CurrentPrice), bad_price ("12,34x"), unknown_currency ("XXX"), negative_quantity
(Quantity and QuantityAvailable -3; GetSellerList items have only Quantity), huge_title
(10 MiB title); whole response:
entity_expansion (DOCTYPE with a billion-laughs entity used in a Title),
external_entity (DOCTYPE with a SYSTEM file:///etc/passwd entity used in a Title);
duplicate_item: page p+1 additionally starts with the last item of page p.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

ERROR_KINDS = ("http500", "http503", "timeout", "reset", "10007", "malformed", "truncated", "html",
               "wrong_ctype")
# Not in the default mix: "timeout" is slow, "wrong_ctype" was added later and leaving it
# out keeps the draws of existing seeded fault specs unchanged.
DEFAULT_ERROR_KINDS = tuple(k for k in ERROR_KINDS if k not in ("timeout", "wrong_ctype"))
CORRUPT_KINDS = ("missing_fields", "bad_price", "unknown_currency", "negative_quantity", "huge_title",
                 "entity_expansion", "external_entity", "duplicate_item")
DOCTYPE_KINDS = ("entity_expansion", "external_entity")
FAULT_CALLS = ("GetMyeBaySelling", "GetItem", "GetSellerList", "TrafficReport", "OAuthToken")
PAGED_CALLS = ("GetMyeBaySelling", "GetSellerList")     # what fail_pages / corrupt_items can name
HUGE_TITLE_CHARS = 10 * 1024 * 1024


@dataclass
class FaultSpec:
    error_rate: float = 0.0
    error_kinds: tuple[str, ...] = DEFAULT_ERROR_KINDS
    error_calls: tuple[str, ...] = ("GetMyeBaySelling", "GetItem", "GetSellerList", "TrafficReport")
    error_seed: int | None = None
    hang_s: float = 30.0
    fail_pages: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    corrupt_items: list[dict[str, Any]] = field(default_factory=list)
    not_found_items: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate, "error_kinds": list(self.error_kinds),
            "error_calls": list(self.error_calls), "error_seed": self.error_seed,
            "hang_s": self.hang_s, "fail_pages": self.fail_pages, "drift": self.drift,
            "corrupt_items": self.corrupt_items, "not_found_items": sorted(self.not_found_items),
        }

    @property
    def active(self) -> bool:
        return bool(self.error_rate or self.fail_pages or self.drift or self.corrupt_items
                    or self.not_found_items)


def _kind(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _page_entry(e: Any, allowed: tuple[str, ...], default_kind: str | None, what: str) -> dict[str, Any]:
    if not isinstance(e, dict) or "seller" not in e or "page" not in e:
        raise ValueError(f"{what} entries need seller and page")
    page = int(e["page"])
    if page < 1:
        raise ValueError(f"{what} page must be >= 1")
    kind = e.get("kind", default_kind)
    out = {"seller": str(e["seller"]), "page": page, "kind": _kind(kind, allowed, f"{what} kind")}
    call = e.get("call", PAGED_CALLS[0])
    if call != PAGED_CALLS[0]:       # entries of the default call keep their historical shape
        out["call"] = _kind(call, PAGED_CALLS, f"{what} call")
    return out


def parse_faults(obj: dict[str, Any] | None) -> FaultSpec:
    """Validate a fault spec; raises ValueError naming the bad field."""
    obj = dict(obj or {})
    unknown = set(obj) - set(FaultSpec.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
    spec = FaultSpec()
    if "error_rate" in obj:
        spec.error_rate = float(obj["error_rate"])
        if not 0.0 <= spec.error_rate <= 1.0:
            raise ValueError("error_rate must be within 0..1")
    if "error_kinds" in obj:
        kinds = obj["error_kinds"]
        kinds = kinds.split(",") if isinstance(kinds, str) else kinds
        spec.error_kinds = tuple(_kind(k, ERROR_KINDS, "error_kinds") for k in kinds)
        if not spec.error_kinds:
            raise ValueError("error_kinds must not be empty")
    if "error_calls" in obj:
        spec.error_calls = tuple(_kind(c, FAULT_CALLS, "error_calls") for c in obj["error_calls"])
    if obj.get("error_seed") is not None:
        spec.error_seed = int(obj["error_seed"])
    if "hang_s" in obj:
        spec.hang_s = max(0.0, float(obj["hang_s"]))
    spec.fail_pages = [_page_entry(e, ERROR_KINDS, "http500", "fail_pages") for e in obj.get("fail_pages") or []]
    spec.corrupt_items = [_page_entry(e, CORRUPT_KINDS, None, "corrupt_items") for e in obj.get("corrupt_items") or []]
    drift = obj.get("drift") or []
    if isinstance(drift, dict):
        drift = [drift]
    for d in drift:
        if not isinstance(d, dict) or "seller" not in d:
            raise ValueError("drift entries need a seller")
        end, start = int(d.get("end_per_call", 0)), int(d.get("start_per_call", 0))
        if end < 0 or start < 0:
            raise ValueError("drift counts must be >= 0")
        spec.drift.append({"seller": str(d["seller"]), "end_per_call": end, "start_per_call": start})
    spec.not_found_items = frozenset(str(i) for i in obj.get("not_found_items") or [])
    return spec


class FaultInjector:
    """Decides, reproducibly, which call fails and how."""

    def __init__(self, spec: FaultSpec, default_seed: int):
        self.spec = spec
        self._rng = random.Random(spec.error_seed if spec.error_seed is not None else default_seed ^ 0xFA17)
        self._lock = threading.Lock()

    def pick_error(self, call: str, seller: str | None = None, page: int | None = None) -> str | None:
        """The error kind this call gets, or None to answer normally."""
        spec = self.spec
        if call in PAGED_CALLS and page is not None:
            for e in spec.fail_pages:
                if e["seller"] == seller and e["page"] == page and _call_of(e) == call:
                    return e["kind"]
        if spec.error_rate <= 0 or call not in spec.error_calls:
            return None
        with self._lock:     # one draw sequence for the whole server: reproducible runs
            hit = self._rng.random() < spec.error_rate
            kind = self._rng.choice(spec.error_kinds) if hit else None
        return kind

    def corruptions(self, seller: str, page: int, call: str = "GetMyeBaySelling") -> list[str]:
        return [e["kind"] for e in self.spec.corrupt_items
                if e["seller"] == seller and e["page"] == page and _call_of(e) == call]

    def duplicate_from_previous(self, seller: str, page: int, call: str = "GetMyeBaySelling") -> bool:
        return any(e["seller"] == seller and e["page"] == page - 1 and e["kind"] == "duplicate_item"
                   and _call_of(e) == call for e in self.spec.corrupt_items)

    def drift_for(self, seller: str) -> tuple[int, int]:
        end = start = 0
        for d in self.spec.drift:
            if d["seller"] == seller:
                end += d["end_per_call"]
                start += d["start_per_call"]
        return end, start


def _call_of(entry: dict[str, Any]) -> str:
    return entry.get("call", PAGED_CALLS[0])


def item_overrides(kind: str) -> dict[str, Any]:
    """Field overrides ``wire.selling_item_xml`` / ``wire.get_item_xml`` apply for a corrupt item."""
    return {
        "missing_fields": {"omit_price": True},
        "bad_price": {"price_text": "12,34x"},
        "unknown_currency": {"currency": "XXX"},
        "negative_quantity": {"quantity": -3, "quantity_available": -3},
        "huge_title": {"title": "X" * HUGE_TITLE_CHARS},
        "entity_expansion": {"title_raw": "&lol9;"},
        "external_entity": {"title_raw": "&xxe;"},
    }.get(kind, {})


def doctype_prolog(kind: str, root: str) -> str:
    """A hostile DTD for the whole response (the client must refuse to expand it)."""
    if kind == "entity_expansion":
        ents = ['<!ENTITY lol "lol">'] + [
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)]
        return f"<!DOCTYPE {root} [{''.join(ents)}]>\n"
    if kind == "external_entity":
        return f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    return ""

"""Raw-HTTP helpers for testing the emulator itself (deliberately not the product client)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import requests
import xmltodict

NS = "urn:ebay:apis:eBLBaseComponents"
SITE = {"EBAY_US": "0", "EBAY_GB": "3", "EBAY_DE": "77"}
METRICS = "LISTING_VIEWS_TOTAL,LISTING_IMPRESSION_TOTAL,CLICK_THROUGH_RATE,SALES_CONVERSION_RATE,TRANSACTION"
SCOPE = "https://api.ebay.com/oauth/api_scope https://api.ebay.com/oauth/api_scope/sell.analytics.readonly"


def selling_body(page: int, epp: int = 200, sort: str | None = "ItemID") -> str:
    s = f"<Sort>{sort}</Sort>" if sort else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><GetMyeBaySellingRequest xmlns="{NS}">'
            f"<ActiveList><Include>true</Include>{s}<Pagination><EntriesPerPage>{epp}</EntriesPerPage>"
            f"<PageNumber>{page}</PageNumber></Pagination></ActiveList></GetMyeBaySellingRequest>")


def get_item_body(item_id: str, watch: bool = True) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><GetItemRequest xmlns="{NS}"><ItemID>{item_id}</ItemID>'
            f"<IncludeWatchCount>{'true' if watch else 'false'}</IncludeWatchCount>"
            f"<DetailLevel>ReturnAll</DetailLevel></GetItemRequest>")


def seller_list_body(page: int = 1, epp: int | None = 200, *, end: tuple[str, str] | None = None,
                     start: tuple[str, str] | None = None, watch: bool = True) -> str:
    """A GetSellerListRequest; ``end``/``start``: (From, To) xs:dateTime strings or None."""
    w = f"<IncludeWatchCount>{'true' if watch else 'false'}</IncludeWatchCount>"
    if end:
        w += f"<EndTimeFrom>{end[0]}</EndTimeFrom><EndTimeTo>{end[1]}</EndTimeTo>"
    if start:
        w += f"<StartTimeFrom>{start[0]}</StartTimeFrom><StartTimeTo>{start[1]}</StartTimeTo>"
    pg = "" if epp is None else f"<EntriesPerPage>{epp}</EntriesPerPage>"
    return (f'<?xml version="1.0" encoding="utf-8"?><GetSellerListRequest xmlns="{NS}">'
            f"<DetailLevel>ReturnAll</DetailLevel>{w}"
            f"<Pagination>{pg}<PageNumber>{page}</PageNumber></Pagination></GetSellerListRequest>")


def as_list(x: Any) -> list:
    return [] if x is None else x if isinstance(x, list) else [x]


class Api:
    """Tiny raw client: exactly the wire format, nothing clever."""

    def __init__(self, url: str, seller: str = "seller_a", marketplace: str = "EBAY_US"):
        self.url = url
        self.seller = seller
        self.marketplace = marketplace
        self.s = requests.Session()
        self._token: str | None = None

    def token_response(self, seller: str | None = None, *, client=("emulator-client-id", "emulator-client-secret"),
                       grant_type: str = "refresh_token", refresh: str | None = None, scope: str = SCOPE):
        return self.s.post(self.url + "/identity/v1/oauth2/token", auth=client, data={
            "grant_type": grant_type, "refresh_token": refresh or f"emu-refresh-{seller or self.seller}",
            "scope": scope}, timeout=10)

    @property
    def token(self) -> str:
        if self._token is None:
            r = self.token_response()
            assert r.status_code == 200, r.text
            self._token = r.json()["access_token"]
        return self._token

    def trading_raw(self, call: str, body: str | bytes, *, token: str | None = None,
                    headers: dict[str, str | None] | None = None, timeout: float = 10) -> requests.Response:
        h = {"X-EBAY-API-CALL-NAME": call, "X-EBAY-API-SITEID": SITE[self.marketplace],
             "X-EBAY-API-COMPATIBILITY-LEVEL": "1451",
             "X-EBAY-API-IAF-TOKEN": token if token is not None else self.token,
             "Content-Type": "text/xml"}
        for k, v in (headers or {}).items():
            if v is None:
                h.pop(k, None)
            else:
                h[k] = v
        data = body.encode() if isinstance(body, str) else body
        return self.s.post(self.url + "/ws/api.dll", data=data, headers=h, timeout=timeout)

    def trading(self, call: str, body: str, **kw) -> dict:
        r = self.trading_raw(call, body, **kw)
        assert r.status_code == 200, r.text[:500]
        return xmltodict.parse(r.content)[f"{call}Response"]

    def page(self, page: int, epp: int = 200, sort: str | None = "ItemID", **kw) -> dict:
        return self.trading("GetMyeBaySelling", selling_body(page, epp, sort), **kw)

    def get_item(self, item_id: str, **kw) -> dict:
        return self.trading("GetItem", get_item_body(item_id), **kw)

    def seller_list(self, page: int = 1, epp: int | None = 200, *, end: tuple[str, str] | None = None,
                    start: tuple[str, str] | None = None, watch: bool = True, **kw) -> dict:
        return self.trading("GetSellerList", seller_list_body(page, epp, end=end, start=start, watch=watch), **kw)

    def traffic_raw(self, ids: Iterable[str], d0: date, d1: date, *, token: str | None = None,
                    marketplace: str | None = None, metric: str = METRICS) -> requests.Response:
        flt = (f"marketplace_ids:{{{marketplace or self.marketplace}}},"
               f"date_range:[{d0:%Y%m%d}..{d1:%Y%m%d}],listing_ids:{{{'|'.join(ids)}}}")
        return self.s.get(self.url + "/sell/analytics/v1/traffic_report",
                          params={"dimension": "LISTING", "filter": flt, "metric": metric},
                          headers={"Authorization": f"Bearer {token if token is not None else self.token}"},
                          timeout=10)

    def admin_get(self, name: str, **params) -> dict:
        r = self.s.get(f"{self.url}/admin/{name}", params=params, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def admin_post(self, name: str, body: dict | None = None, expect: int = 200) -> dict:
        r = self.s.post(f"{self.url}/admin/{name}", json=body or {}, timeout=10)
        assert r.status_code == expect, r.text
        return r.json()


def page_items(resp: dict) -> list[dict]:
    return as_list((resp["ActiveList"].get("ItemArray") or {}).get("Item"))


def seller_list_items(resp: dict) -> list[dict]:
    return as_list((resp.get("ItemArray") or {}).get("Item"))

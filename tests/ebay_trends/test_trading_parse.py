"""Trading/Analytics parsing as pure functions of response bytes (no HTTP).

These pin the wire rules that are awkward to provoke through the emulator one by
one: every error code's mapping, DTD refusal, bad-item isolation, excerpt limits.
The same behaviour is exercised end to end over HTTP in ``test_client.py``.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import xmltodict

from include.ebay_trends import analytics, settings, trading
from include.ebay_trends.errors import (
    AuthRevoked, CallLimitReached, ItemNotFound, MalformedResponse, RequestError, TokenExpired,
    TransientError,
)
from include.ebay_trends.records import BadItem, ItemDetails, SellingItem
from include.ebay_trends.transport import CallContext, RawResponse

NS = settings.TRADING_NS
CTX = CallContext("GetMyeBaySelling", "seller_a", page=3)


def raw(body: str | bytes, status: int = 200, ctype: str = "text/xml") -> RawResponse:
    return RawResponse(status=status, content_type=ctype,
                       body=body.encode("utf-8") if isinstance(body, str) else body)


def envelope(call: str, inner: str = "", ack: str = "Success",
             ts: str = "2026-11-01T12:00:00.000Z") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><{call}Response xmlns="{NS}"><Timestamp>{ts}</Timestamp>'
            f"<Ack>{ack}</Ack>{inner}<Version>1451</Version></{call}Response>")


def error(code: str, cls: str = "RequestError", severity: str = "Error", short: str = "msg") -> str:
    return (f"<Errors><ShortMessage>{short}</ShortMessage><LongMessage>{short} long</LongMessage>"
            f"<ErrorCode>{code}</ErrorCode><SeverityCode>{severity}</SeverityCode>"
            f"<ErrorClassification>{cls}</ErrorClassification></Errors>")


ITEM_FULL = (
    "<Item><ItemID>110000000123</ItemID>"
    "<ListingDetails><StartTime>2026-10-01T08:15:00.000Z</StartTime>"
    "<ViewItemURL>https://www.ebay.co.uk/itm/110000000123?a=1&amp;b=2</ViewItemURL></ListingDetails>"
    "<ListingType>FixedPriceItem</ListingType><Quantity>7</Quantity>"
    '<SellingStatus><CurrentPrice currencyID="GBP">1234.5</CurrentPrice><QuantitySold>2</QuantitySold></SellingStatus>'
    "<TimeLeft>P2DT23H32M51S</TimeLeft>"
    "<Title>Tom &amp; Jerry &lt;1990&gt; \"NIB\" ヴィンテージ 腕時計</Title>"
    "<QuantityAvailable>5</QuantityAvailable><SKU>A&amp;B&lt;7&gt;</SKU>"
    "<PictureDetails><GalleryURL>https://i.ebayimg.com/g/1.jpg</GalleryURL></PictureDetails></Item>"
)


def item(item_id: str = "110000000999", price: str = "9.99", currency: str = "USD", extra: str = "",
         title: str = "Plain title") -> str:
    return (f"<Item><ItemID>{item_id}</ItemID><ListingType>Chinese</ListingType>"
            f'<SellingStatus><BidCount>3</BidCount><CurrentPrice currencyID="{currency}">{price}</CurrentPrice>'
            f"<QuantitySold>0</QuantitySold></SellingStatus><Title>{title}</Title>"
            f"<WatchCount>4</WatchCount>{extra}</Item>")


def selling(items: list[str] | None, pages: int = 1, entries: int | None = None, ack: str = "Success",
            extra: str = "") -> str:
    arr = "" if items is None else f"<ItemArray>{''.join(items)}</ItemArray>"
    entries = len(items or []) if entries is None else entries
    return envelope("GetMyeBaySelling",
                    extra + f"<ActiveList>{arr}<PaginationResult><TotalNumberOfPages>{pages}</TotalNumberOfPages>"
                    f"<TotalNumberOfEntries>{entries}</TotalNumberOfEntries></PaginationResult></ActiveList>",
                    ack=ack)


def parse_page(body: str, page: int = 3, epp: int = 200):
    content, warnings = trading.parse_response(raw(body), "GetMyeBaySelling", CTX)
    return trading.parse_selling_page(content, page, epp, CTX, warnings)


# --------------------------------------------------------------------------- requests
def test_requests_are_escaped_xml_with_the_documented_fields():
    body = trading.build_request("GetItem", {"Note": "a & <b> 'c' \"d\" ]]>"})
    assert b"&amp;" in body and b"&lt;b&gt;" in body and b"<b>" not in body
    assert xmltodict.parse(body)["GetItemRequest"]["Note"] == "a & <b> 'c' \"d\" ]]>"

    doc = xmltodict.parse(trading.get_my_ebay_selling_request(4, 200))["GetMyeBaySellingRequest"]
    assert doc["@xmlns"] == NS
    assert doc["ActiveList"] == {"Include": "true", "Sort": "ItemID",
                                 "Pagination": {"EntriesPerPage": "200", "PageNumber": "4"}}
    doc = xmltodict.parse(trading.get_item_request("110000000123"))["GetItemRequest"]
    assert doc["ItemID"] == "110000000123"
    assert doc["IncludeWatchCount"] == "true" and doc["DetailLevel"] == "ReturnAll"


@pytest.mark.parametrize("kwargs", [dict(page=0, entries_per_page=200), dict(page=1, entries_per_page=201),
                                    dict(page=1, entries_per_page=0), dict(page=1, entries_per_page=10, sort="x<y"),
                                    dict(page=True, entries_per_page=10)])
def test_selling_request_validates_arguments(kwargs):
    with pytest.raises(ValueError):
        trading.get_my_ebay_selling_request(**kwargs)


@pytest.mark.parametrize("bad", ["", "12a", "1" * 20, "1</ItemID><x>", 123])
def test_get_item_request_rejects_non_ids(bad):
    with pytest.raises(ValueError):
        trading.get_item_request(bad)


def test_headers_carry_site_and_compatibility_level():
    h = trading.headers("GetItem", "3", "tok")
    assert h["X-EBAY-API-SITEID"] == "3" and h["X-EBAY-API-CALL-NAME"] == "GetItem"
    assert h["X-EBAY-API-COMPATIBILITY-LEVEL"] == settings.COMPATIBILITY_LEVEL
    assert h["X-EBAY-API-IAF-TOKEN"] == "tok"


# --------------------------------------------------------------------------- items
def test_every_selling_field_is_parsed():
    page = parse_page(selling([ITEM_FULL, item()], pages=12, entries=2400))
    assert page.pagination.total_pages == 12 and page.pagination.total_entries == 2400
    assert not page.bad_items and not page.past_end
    a, b = page.items
    assert a == SellingItem(
        item_id="110000000123", title='Tom & Jerry <1990> "NIB" ヴィンテージ 腕時計', sku="A&B<7>",
        listing_type="FixedPriceItem", quantity=7, quantity_available=5, price=Decimal("1234.5"),
        currency="GBP", bid_count=0, quantity_sold=2, watch_count=0,
        start_time=datetime(2026, 10, 1, 8, 15, tzinfo=timezone.utc),
        view_item_url="https://www.ebay.co.uk/itm/110000000123?a=1&b=2",
        gallery_url="https://i.ebayimg.com/g/1.jpg", time_left="P2DT23H32M51S",
    )
    assert a.start_time.utcoffset().total_seconds() == 0
    assert isinstance(a.item_id, str) and isinstance(a.price, Decimal)
    assert (b.listing_type, b.bid_count, b.watch_count, b.sku, b.quantity) == ("Chinese", 3, 4, None, None)


def test_one_item_page_is_a_list_and_empty_lists_are_empty():
    one = parse_page(selling([item()], pages=2, entries=201), page=2)
    assert len(one.items) == 1 and one.pagination.total_entries == 201

    # eBay omits ActiveList for a seller with no active listings.
    none = parse_page(envelope("GetMyeBaySelling"), page=1)
    assert none.items == [] and none.pagination.total_pages == 0 and none.past_end

    past = parse_page(selling(None, pages=2, entries=201), page=3)
    assert past.items == [] and past.past_end


@pytest.mark.parametrize("bad_item, error_class", [
    (item(price="12,34x"), "invalid_price"),
    (item(price="-1.00"), "invalid_price"),
    (item(price="NaN"), "invalid_price"),
    (item(currency="XXX"), "unknown_currency"),
    (item(extra="<Quantity>-3</Quantity>"), "negative_quantity"),
    (item(extra="<QuantityAvailable>lots</QuantityAvailable>"), "invalid_value"),
    ("<Item><ItemID>110000000999</ItemID><Title>t</Title></Item>", "missing_field"),
    ('<Item><SellingStatus><CurrentPrice currencyID="USD">1</CurrentPrice></SellingStatus><Title>t</Title></Item>',
     "missing_field"),
    (item(title=""), "missing_field"),
    (item(title="x" * 1001), "oversized_field"),
    (item(item_id="abc"), "invalid_value"),
    ("<Item/>", "missing_field"),
])
def test_bad_items_are_isolated_and_the_page_goes_on(bad_item, error_class):
    page = parse_page(selling([item("110000000001"), bad_item, item("110000000003")], entries=3))
    assert [i.item_id for i in page.items] == ["110000000001", "110000000003"]
    [bad] = page.bad_items
    assert isinstance(bad, BadItem) and bad.error_class == error_class
    assert bad.message and len(bad.raw_excerpt.encode()) <= settings.RAW_EXCERPT_MAX_BYTES


def test_a_10_mb_title_becomes_a_4_kb_excerpt_of_valid_utf8():
    huge = "ヴ" + "界" * (10 * 1024 * 1024 // 3)          # multi-byte chars straddle the cut
    page = parse_page(selling([item(title=huge), item("110000000002")], entries=2))
    [bad] = page.bad_items
    assert bad.item_id == "110000000999" and bad.error_class == "oversized_field"
    data = bad.raw_excerpt.encode("utf-8")
    assert len(data) <= settings.RAW_EXCERPT_MAX_BYTES
    data.decode("utf-8", "strict")
    assert bad.raw_excerpt.startswith("<Item><ItemID>110000000999</ItemID>")
    assert [i.item_id for i in page.items] == ["110000000002"]


def test_get_item_details_hit_count_optional_watch_count_defaults_to_zero():
    body = envelope("GetItem", (
        "<Item><ItemID>110000000123</ItemID><ListingDetails><StartTime>2026-10-01T08:15:00.000Z</StartTime>"
        "<EndTime>2026-11-05T08:15:00.000Z</EndTime></ListingDetails><ListingType>FixedPriceItem</ListingType>"
        "<PrimaryCategory><CategoryID>31387</CategoryID><CategoryName>Watches &amp; Co</CategoryName></PrimaryCategory>"
        '<Quantity>3</Quantity><SellingStatus><BidCount>0</BidCount><CurrentPrice currencyID="USD">8.3</CurrentPrice>'
        "<QuantitySold>1</QuantitySold><ListingStatus>Active</ListingStatus></SellingStatus><Title>T</Title>"
        "<HitCounter>NoHitCounter</HitCounter><PictureDetails><GalleryURL>g</GalleryURL>"
        "<PictureURL>p1</PictureURL></PictureDetails></Item>"))
    ctx = CallContext("GetItem", "seller_a", subject="item 110000000123")
    content, _ = trading.parse_response(raw(body), "GetItem", ctx)
    details = trading.parse_item_details(trading.get_item_node(content, "110000000123", ctx))
    assert isinstance(details, ItemDetails)
    assert (details.category_id, details.category_name, details.listing_status) == ("31387", "Watches & Co", "Active")
    assert details.hit_count is None and details.watch_count == 0 and details.price == Decimal("8.3")
    assert details.end_time == datetime(2026, 11, 5, 8, 15, tzinfo=timezone.utc)
    with pytest.raises(MalformedResponse, match="instead of"):
        trading.get_item_node(content, "110000000999", ctx)


# --------------------------------------------------------------------------- GetSellerList
def test_seller_list_request_carries_the_window_and_pagination():
    lo = datetime(2026, 10, 31, 12, 0, tzinfo=timezone.utc)
    body = trading.get_seller_list_request(lo, lo + timedelta(days=119), 3, 200)
    req = xmltodict.parse(body)["GetSellerListRequest"]
    assert req["@xmlns"] == NS
    assert (req["DetailLevel"], req["IncludeWatchCount"]) == ("ReturnAll", "true")
    assert (req["EndTimeFrom"], req["EndTimeTo"]) == ("2026-10-31T12:00:00.000Z", "2027-02-27T12:00:00.000Z")
    assert req["Pagination"] == {"EntriesPerPage": "200", "PageNumber": "3"}
    for bad in ((lo, lo + timedelta(days=121), 1, 200), (lo, lo, 1, 200), (lo, lo - timedelta(days=1), 1, 200),
                (lo.replace(tzinfo=None), lo.replace(tzinfo=None) + timedelta(days=1), 1, 200),
                (lo, lo + timedelta(days=1), 0, 200), (lo, lo + timedelta(days=1), 1, 201)):
        with pytest.raises(ValueError):
            trading.get_seller_list_request(*bad)


def test_seller_list_items_parse_like_get_item_and_bad_ones_are_isolated():
    good = ("<Item><ItemID>110000000123</ItemID><ListingDetails><EndTime>2026-11-05T08:15:00.000Z</EndTime>"
            "</ListingDetails><ListingType>FixedPriceItem</ListingType><PrimaryCategory><CategoryID>31387"
            "</CategoryID><CategoryName>Watches</CategoryName></PrimaryCategory><Quantity>3</Quantity>"
            '<SellingStatus><CurrentPrice currencyID="USD">8.30</CurrentPrice><QuantitySold>1</QuantitySold>'
            "<ListingStatus>Active</ListingStatus></SellingStatus><Title>T</Title><WatchCount>4</WatchCount></Item>")
    bad = good.replace("110000000123", "110000000124").replace('currencyID="USD"', 'currencyID="XXX"')
    body = envelope("GetSellerList", (
        "<PaginationResult><TotalNumberOfPages>2</TotalNumberOfPages><TotalNumberOfEntries>3"
        "</TotalNumberOfEntries></PaginationResult><HasMoreItems>true</HasMoreItems>"
        f"<ItemArray>{good}{bad}</ItemArray><ItemsPerPage>2</ItemsPerPage><PageNumber>1</PageNumber>"
        "<ReturnedItemCountActual>2</ReturnedItemCountActual>"))
    ctx = CallContext("GetSellerList", "seller_a", page=1)
    content, _ = trading.parse_response(raw(body), "GetSellerList", ctx)
    page = trading.parse_seller_list_page(content, 1, 2, ctx)
    assert (page.pagination.total_pages, page.pagination.total_entries, page.has_more) == (2, 3, True)
    assert [d.item_id for d in page.items] == ["110000000123"]
    d = page.items[0]
    assert (d.category_id, d.listing_status, d.watch_count, d.price) == ("31387", "Active", 4, Decimal("8.30"))
    assert [(b.item_id, b.error_class) for b in page.bad_items] == [("110000000124", "unknown_currency")]
    past_end = envelope("GetSellerList", (
        "<PaginationResult><TotalNumberOfPages>2</TotalNumberOfPages><TotalNumberOfEntries>3"
        "</TotalNumberOfEntries></PaginationResult><HasMoreItems>false</HasMoreItems><ItemArray/>"
        "<PageNumber>3</PageNumber><ReturnedItemCountActual>0</ReturnedItemCountActual>"))
    content, _ = trading.parse_response(raw(past_end), "GetSellerList", ctx)
    empty = trading.parse_seller_list_page(content, 3, 2, ctx)
    assert empty.items == [] and not empty.has_more and empty.pagination.total_pages == 2
    with pytest.raises(MalformedResponse, match="PaginationResult"):
        trading.parse_seller_list_page(
            trading.parse_response(raw(envelope("GetSellerList", f"<ItemArray>{good}</ItemArray>")),
                                   "GetSellerList", ctx)[0], 1, 2, ctx)


# --------------------------------------------------------------------------- envelope
@pytest.mark.parametrize("code, cls, expected", [
    ("21917053", "RequestError", TokenExpired),
    ("21916984", "RequestError", TokenExpired),
    ("931", "RequestError", AuthRevoked),
    ("932", "RequestError", AuthRevoked),
    ("518", "RequestError", CallLimitReached),
    ("21919144", "RequestError", TransientError),
    ("10007", "SystemError", TransientError),
    ("17", "RequestError", ItemNotFound),
    ("37", "RequestError", RequestError),
    ("99999", "SystemError", TransientError),
])
def test_error_codes_map_to_typed_errors(code, cls, expected):
    with pytest.raises(expected) as info:
        trading.parse_response(raw(envelope("GetMyeBaySelling", error(code, cls), ack="Failure")),
                               "GetMyeBaySelling", CTX)
    err = info.value
    assert type(err) is expected and err.code == code
    assert str(err).startswith("GetMyeBaySelling page 3 of seller_a: eBay error " + code)
    assert (err.call, err.account, err.page) == ("GetMyeBaySelling", "seller_a", 3)
    if expected is AuthRevoked:
        assert "re-authorise account seller_a" in str(err)


def test_518_resets_at_next_pacific_midnight_from_the_response_timestamp():
    body = envelope("GetItem", error("518"), ack="Failure", ts="2026-07-01T06:59:00.000Z")
    with pytest.raises(CallLimitReached) as info:
        trading.parse_response(raw(body), "GetItem", CTX)
    # 06:59Z on 1 July = 23:59 PDT on 30 June: the reset is one minute later.
    assert info.value.resets_at == datetime(2026, 7, 1, 7, 0, tzinfo=timezone.utc)
    # Across the end of DST (1 Nov 2026): 12:00Z = 04:00 PST -> 2 Nov 00:00 PST = 08:00Z.
    assert trading.call_limit_resets_at(datetime(2026, 11, 1, 12, tzinfo=timezone.utc)) == \
        datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)


def test_most_significant_error_wins_and_warnings_keep_the_data(caplog):
    body = envelope("GetMyeBaySelling", error("37") + error("518"), ack="Failure")
    with pytest.raises(CallLimitReached):
        trading.parse_response(raw(body), "GetMyeBaySelling", CTX)

    caplog.set_level(logging.WARNING)
    page = parse_page(selling([item()], ack="Warning", extra=error("21917062", severity="Warning",
                                                                     short="Deprecated field")))
    assert len(page.items) == 1
    assert page.warnings == ["eBay error 21917062: Deprecated field (Deprecated field long)"]
    assert any("21917062" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)

    # PartialFailure with an item-level error keeps the data; with a quota error it raises.
    page = parse_page(selling([item()], ack="PartialFailure", extra=error("37")))
    assert len(page.items) == 1 and page.warnings
    with pytest.raises(TokenExpired):
        parse_page(selling([item()], ack="PartialFailure", extra=error("21917053")))


@pytest.mark.parametrize("body, ctype, needle", [
    ("<html><body>502 Bad Gateway</body></html>", "text/html", "HTML body"),
    ("<!DOCTYPE html><html></html>", "text/xml", "HTML body"),
    (envelope("GetMyeBaySelling")[:-40], "text/xml", "malformed or truncated XML"),
    ("", "text/xml", "empty body"),
    ('{"Ack": "Success"}', "application/json", "wrong content-type"),
    (envelope("GetItem"), "text/xml", "unexpected root element <GetItemResponse>"),
    (envelope("GetMyeBaySelling").replace("<Ack>Success</Ack>", ""), "text/xml", "missing or unknown Ack"),
    (envelope("GetMyeBaySelling", ack="Failure"), "text/xml", "without an Errors element"),
])
def test_unusable_bodies_are_malformed_responses_naming_call_account_page(body, ctype, needle):
    with pytest.raises(MalformedResponse) as info:
        trading.parse_response(raw(body, ctype=ctype), "GetMyeBaySelling", CTX)
    assert str(info.value).startswith("GetMyeBaySelling page 3 of seller_a: ")
    assert needle in str(info.value)


def test_a_4xx_without_an_envelope_is_a_request_error():
    with pytest.raises(RequestError, match="HTTP 400"):
        trading.parse_response(raw("Bad Request", status=400, ctype="text/plain"), "GetMyeBaySelling", CTX)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE GetMyeBaySellingResponse [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + f']><GetMyeBaySellingResponse xmlns="{NS}"><Ack>Success</Ack><ActiveList><ItemArray>'
    + item(title="&lol9;") + "</ItemArray></ActiveList></GetMyeBaySellingResponse>"
)
XXE = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       f'<GetMyeBaySellingResponse xmlns="{NS}"><Ack>Success</Ack><ActiveList><ItemArray>'
       + item(title="&xxe;") + "</ItemArray></ActiveList></GetMyeBaySellingResponse>")


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, BILLION_LAUGHS.lower().replace("<!doctype", "<!DocType")])
def test_dtd_and_entity_declarations_are_refused_before_parsing(body):
    with pytest.raises(MalformedResponse, match="DOCTYPE/ENTITY declaration"):
        trading.parse_response(raw(body), "GetMyeBaySelling", CTX)


def test_the_parser_itself_refuses_dtds_the_prefilter_cannot_see():
    # UTF-16: the byte-level prefilter sees no ASCII "<!DOCTYPE", expat still refuses.
    body = XXE.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")
    with pytest.raises(MalformedResponse, match="refused XML|DOCTYPE"):
        trading.parse_xml(body, CTX, content_type="text/xml", status=200)


def test_doctype_text_inside_cdata_is_data_not_a_declaration():
    body = selling([item(title="<![CDATA[<!DOCTYPE html> & more]]>")])
    page = parse_page(body)
    assert page.items[0].title == "<!DOCTYPE html> & more"


# --------------------------------------------------------------------------- analytics
def test_traffic_query_is_encoded_and_validated():
    q = analytics.build_query("EBAY_US", ["110000000001", "110000000002"], date(2026, 11, 3), date(2026, 11, 3))
    assert q == ("dimension=LISTING&filter=marketplace_ids:%7BEBAY_US%7D,date_range:%5B20261103..20261103%5D,"
                 "listing_ids:%7B110000000001%7C110000000002%7D&metric=LISTING_VIEWS_TOTAL,"
                 "LISTING_IMPRESSION_TOTAL,CLICK_THROUGH_RATE,SALES_CONVERSION_RATE,TRANSACTION")
    with pytest.raises(ValueError, match="at most 200"):
        analytics.build_query("EBAY_US", [str(110000000000 + i) for i in range(201)], date(2026, 1, 1),
                              date(2026, 1, 1))
    for bad in ([], ["1|2"], ["abc"], "110000000001"):
        with pytest.raises(ValueError):
            analytics.build_query("EBAY_US", bad, date(2026, 1, 1), date(2026, 1, 1))
    with pytest.raises(ValueError):
        analytics.build_query("EBAY_US", ["1"], date(2026, 1, 2), date(2026, 1, 1))


def test_traffic_report_maps_metrics_by_header_key_not_position():
    import json
    body = json.dumps({
        "header": {"dimensionKeys": [{"key": "LISTING_ID"}],
                   "metrics": [{"key": "TRANSACTION"}, {"key": "CLICK_THROUGH_RATE"},
                               {"key": "LISTING_VIEWS_TOTAL"}, {"key": "SALES_CONVERSION_RATE"},
                               {"key": "LISTING_IMPRESSION_TOTAL"}]},
        "records": [
            {"dimensionValues": [{"value": "110000000001"}],
             "metricValues": [{"value": 2, "applicable": True}, {"value": 1.25, "applicable": True},
                              {"value": 40, "applicable": True}, {"value": 0.1, "applicable": False},
                              {"value": 3200, "applicable": True}]},
            {"dimensionValues": [{"value": "110000000002"}],
             "metricValues": [{"value": -1, "applicable": True}]},
            {"dimensionValues": [{"value": "999"}], "metricValues": []},
        ],
        "startDate": "2026-11-03T00:00:00.000Z", "endDate": "2026-11-03T23:59:59.000Z",
        "lastUpdatedDate": "2026-11-04T07:00:00.000Z",
        "warnings": [{"errorId": 50403, "message": "partial data"}],
    })
    ctx = CallContext("TrafficReport", "seller_a", subject="2026-11-03")
    report = analytics.parse_report(raw(body, ctype="application/json"), ctx, start=date(2026, 11, 3),
                                    end=date(2026, 11, 3), requested_ids=["110000000001", "110000000002"])
    [row] = report.rows
    assert (row.listing_id, row.day, row.views, row.impressions, row.transactions) == \
        ("110000000001", date(2026, 11, 3), 40, 3200, 2)
    assert row.click_through_rate == Decimal("1.25") and row.conversion_rate is None
    assert report.last_updated == datetime(2026, 11, 4, 7, tzinfo=timezone.utc)
    assert report.start_date == date(2026, 11, 3)
    assert any("50403" in w for w in report.warnings)
    assert any("110000000002" not in w and "skipped a record" in w for w in report.warnings)
    assert any("999" in w for w in report.warnings)

    with pytest.raises(MalformedResponse, match="wrong content-type"):
        analytics.parse_report(raw("<html/>", ctype="text/html"), ctx, start=date(2026, 11, 3),
                               end=date(2026, 11, 3))
    with pytest.raises(TokenExpired):
        analytics.check_status(raw('{"errors":[{"errorId":1001}]}', status=401, ctype="application/json"), ctx)
    with pytest.raises(RequestError, match="errorId 50001"):
        analytics.check_status(raw('{"errors":[{"errorId":50001,"message":"bad filter"}]}', status=400,
                                   ctype="application/json"), ctx)

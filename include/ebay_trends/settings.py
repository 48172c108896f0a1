"""Constants shared by the client, the sync and the DAG.

Values here are defaults; anything an operator may want to change is also an
option (``SyncOptions``), an Airflow param, or an environment variable.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

# --- Trading API -----------------------------------------------------------
COMPATIBILITY_LEVEL = "1451"
TRADING_NS = "urn:ebay:apis:eBLBaseComponents"
MAX_ENTRIES_PER_PAGE = 200          # eBay's cap for GetMyeBaySelling
MAX_ACTIVE_LIST_ENTRIES = 25_000    # eBay caps the ActiveList at 125 pages of 200
DEFAULT_SORT = "ItemID"             # stable: new listings get larger ids (see docs/DESIGN.md)

# --- Environments ----------------------------------------------------------
# Every URL can be overridden per connection (``api_base_url`` extra) so the
# emulator, sandbox and production are reached the same way.
API_BASE_URLS = {
    "production": "https://api.ebay.com",
    "sandbox": "https://api.sandbox.ebay.com",
}
TRADING_PATH = "/ws/api.dll"
OAUTH_TOKEN_PATH = "/identity/v1/oauth2/token"
TRAFFIC_REPORT_PATH = "/sell/analytics/v1/traffic_report"

# Marketplace -> Trading API site id.  Derived, never hard-coded at call sites.
SITE_IDS = {
    "EBAY_US": "0",
    "EBAY_CA": "2",
    "EBAY_GB": "3",
    "EBAY_AU": "15",
    "EBAY_AT": "16",
    "EBAY_FR": "71",
    "EBAY_DE": "77",
    "EBAY_MOTORS_US": "100",
    "EBAY_IT": "101",
    "EBAY_NL": "146",
    "EBAY_ES": "186",
    "EBAY_CH": "193",
    "EBAY_HK": "201",
    "EBAY_IE": "205",
    "EBAY_MY": "207",
    "EBAY_PH": "211",
    "EBAY_PL": "212",
    "EBAY_SG": "216",
}

# ISO 4217 codes eBay uses for CurrentPrice@currencyID.  Anything else is a bad item.
KNOWN_CURRENCIES = frozenset(
    {"USD", "CAD", "GBP", "AUD", "EUR", "CHF", "HKD", "MYR", "PHP", "PLN", "SGD",
     "INR", "TWD", "SEK", "CNY", "JPY"}
)

OAUTH_SCOPES = (
    "https://api.ebay.com/oauth/api_scope",
    "https://api.ebay.com/oauth/api_scope/sell.inventory.readonly",
    "https://api.ebay.com/oauth/api_scope/sell.analytics.readonly",
)
TOKEN_REFRESH_MARGIN_S = 300        # refresh this long before expiry, not after

# --- Sell Analytics traffic report -----------------------------------------
TRAFFIC_MAX_LISTING_IDS = 200
TRAFFIC_METRICS = (
    "LISTING_VIEWS_TOTAL",
    "LISTING_IMPRESSION_TOTAL",
    "CLICK_THROUGH_RATE",
    "SALES_CONVERSION_RATE",
    "TRANSACTION",
)
TRAFFIC_LOOKBACK_DAYS = 3           # re-ask this many past days so lagging days get filled in

# --- HTTP behaviour ---------------------------------------------------------
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
MAX_TRANSIENT_RETRIES = 3           # in-client retries before the task-level retry takes over
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 20.0
MAX_RESPONSE_BYTES = 32 * 1024 * 1024   # a page of 200 items is < 1 MB; refuse absurd bodies

# --- Call budget ------------------------------------------------------------
DEFAULT_DAILY_CALL_BUDGET = 5_000
EBAY_DAY_TZ = ZoneInfo("America/Los_Angeles")   # eBay's call-limit day resets at midnight Pacific

# --- Warehouse / sync ---------------------------------------------------------
WAREHOUSE_SCHEMA = "ebay"
DEFAULT_BATCH_SIZE = 100            # rows per transaction
DEFAULT_GETITEM_CONCURRENCY = 8
RAW_EXCERPT_MAX_BYTES = 4096

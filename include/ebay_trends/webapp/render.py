"""HTML rendering: a Jinja2 environment with autoescaping and the page's formatters.

Autoescape is on for every template, so titles with & < > " ' (or Japanese) are
printed as text.  URLs from eBay are checked by ``safe_url`` before they reach an
``href`` / ``src`` attribute.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

TEMPLATES_DIR = Path(__file__).with_name("templates")

CURRENCY_SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€", "JPY": "¥", "AUD": "A$", "CAD": "C$",
                    "CHF": "CHF ", "HKD": "HK$", "SGD": "S$", "PLN": "zł ", "INR": "₹"}
ZERO_DECIMAL_CURRENCIES = {"JPY", "TWD"}

_IMG_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml)[;,]", re.IGNORECASE)


def safe_url(url: str | None, *, image: bool = False) -> str | None:
    """``http(s)`` URLs only (plus inline ``data:image/…`` for images); anything else is dropped.

    Stops ``javascript:`` and similar schemes from a listing field turning into a link.
    """
    if not url:
        return None
    u = url.strip()
    low = u.lower()
    if low.startswith(("https://", "http://")) and not any(ch in u for ch in "\x00\r\n\t "):
        return u
    if image and _IMG_DATA_URL.match(u):
        return u
    return None


def money(value: Decimal | int | float | None, currency: str | None) -> str:
    if value is None:
        return "–"
    cur = (currency or "").strip().upper()
    places = 0 if cur in ZERO_DECIMAL_CURRENCIES else 2
    amount = f"{Decimal(value):,.{places}f}"
    sym = CURRENCY_SYMBOLS.get(cur)
    return f"{sym}{amount}" if sym else f"{amount} {cur}"


def number(value: Any, places: int = 0) -> str:
    if value is None:
        return "–"
    return f"{Decimal(value):,.{places}f}" if places else f"{int(round(Decimal(value))):,}"


def signed(value: Any, places: int = 0, suffix: str = "") -> Markup:
    """``+2`` / ``−3`` wrapped in a span whose class colours it."""
    if value is None:
        return Markup('<span class="delta none">–</span>')
    v = Decimal(value)
    text = f"{abs(v):,.{places}f}" if places else f"{int(abs(v)):,}"
    if v > 0:
        return Markup('<span class="delta up">+{}{}</span>').format(text, suffix)
    if v < 0:
        return Markup('<span class="delta down">−{}{}</span>').format(text, suffix)
    return Markup('<span class="delta flat">±0{}</span>').format(suffix)


def pct(value: Any) -> Markup:
    return signed(value, 1, "%")


def day_label(value: date | None) -> str:
    return value.strftime("%a %d %b %Y") if value else "–"


def short_day(value: date | None) -> str:
    return value.strftime("%d %b") if value else "–"


def timestamp(value: datetime | None) -> str:
    if value is None:
        return "never"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,                 # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, number=number, signed=signed, pct=pct, day_label=day_label,
                       short_day=short_day, timestamp=timestamp)
    env.globals.update(safe_url=safe_url, urlencode=urlencode)
    return env

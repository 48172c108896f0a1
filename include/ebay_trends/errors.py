"""Typed errors.  The DAG's retry policy maps these to retry / fail fast.

Messages never contain tokens, secrets or Authorization headers: they name the
call, the account and the page so an operator can act.
"""
from __future__ import annotations

from datetime import datetime


class EbayError(Exception):
    """Base of everything this package raises about eBay."""

    retryable = False

    def __init__(self, message: str, *, call: str | None = None, code: str | None = None,
                 account: str | None = None, page: int | None = None):
        self.call = call
        self.code = code
        self.account = account
        self.page = page
        parts = [message]
        ctx = ", ".join(
            f"{k}={v}" for k, v in (("call", call), ("code", code), ("account", account), ("page", page))
            if v is not None
        )
        if ctx:
            parts.append(f"[{ctx}]")
        super().__init__(" ".join(parts))


class TransientError(EbayError):
    """HTTP 5xx, timeouts, connection resets, 10007, 429/21919144: retry with backoff."""

    retryable = True


class TokenExpired(EbayError):
    """21917053 / 21916984: refresh the access token and retry once."""

    retryable = True


class AuthRevoked(EbayError):
    """invalid_grant, 931/932, or a fresh token still rejected: a human must re-authorise."""


class CallLimitReached(EbayError):
    """eBay answered 518: no more Trading calls for this application until the reset."""

    def __init__(self, message: str, *, resets_at: datetime | None = None, **kw):
        self.resets_at = resets_at
        if resets_at is not None:
            message = f"{message}; quota resets at {resets_at.isoformat()}"
        super().__init__(message, **kw)


class CallBudgetExhausted(EbayError):
    """Our own guard: the remaining daily budget cannot cover the next page."""

    def __init__(self, message: str, *, resets_at: datetime | None = None, **kw):
        self.resets_at = resets_at
        if resets_at is not None:
            message = f"{message}; budget resets at {resets_at.isoformat()}"
        super().__init__(message, **kw)


class ItemNotFound(EbayError):
    """17: the item does not exist or is no longer available.  Not retryable."""


class BadItemError(EbayError):
    """GetItem answered, but the item fails validation (see ``records.BadItem``).

    Not retryable (the same data comes back) and not fail-fast: the caller records
    ``bad_item`` in ``ebay.item_errors`` and moves on to the next item.
    """

    def __init__(self, message: str, *, bad_item=None, **kw):
        self.bad_item = bad_item
        super().__init__(message, **kw)


class RequestError(EbayError):
    """ErrorClassification=RequestError or HTTP 4xx: fix the request, don't retry."""


class MalformedResponse(EbayError):
    """Body is not the XML/JSON we asked for (truncated, HTML error page, wrong type)."""

    retryable = True   # usually a proxy or a truncated transfer; bounded by the retry count


# Errors after which retrying the task only burns time or quota.
FAIL_FAST = (AuthRevoked, CallLimitReached, CallBudgetExhausted, RequestError)

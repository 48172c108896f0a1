"""The trends page: a FastAPI app served by Airflow's API server through a plugin.

``create_app(engine_factory)`` builds the app; the engine is created by calling
``engine_factory`` on the first request (never at import time), so tests point the
app at a test database and the plugin at the ``ebay_warehouse`` connection.

Every route — HTML, JSON, CSV — depends on Airflow's own authentication
(``airflow.api_fastapi.core_api.security.GetUserDep``: the UI's JWT cookie or an
``Authorization: Bearer`` token; 401 when absent, 403 when invalid) and on the auth
manager allowing the custom view ``eBay Trends`` (403 otherwise).
"""
from __future__ import annotations

import csv
import functools
import io
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.engine import Connection, Engine

from include.ebay_trends.webapp import charts, queries
from include.ebay_trends.webapp.render import make_env, money

log = logging.getLogger(__name__)

VIEW_NAME = "eBay Trends"           # resource name given to the auth manager
STATEMENT_TIMEOUT_MS = 15_000
ITEM_ID_PATTERN = r"^[0-9]{1,19}$"  # eBay item ids are digit strings of up to 19 digits
ACCOUNT_CHART_DAYS = 14

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: http: data:; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'self'")

# JSON: Decimal money fields become strings (exact), other Decimals numbers.
_MONEY_KEYS = frozenset({"price", "revenue", "current_price", "price_ref", "value", "previous", "change"})

# Any printable text (it is only ever a bound parameter); control characters such as NUL,
# which PostgreSQL text cannot hold, are a 422 rather than a database error.
AccountQ = Annotated[str | None, Query(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$",
                                       description="Seller account id")]
DayQ = Annotated[date | None, Query(alias="date", description="Trend date YYYY-MM-DD (default: latest)")]
ItemIdP = Annotated[str, Path(pattern=ITEM_ID_PATTERN, description="eBay item id")]


class _Warehouse:
    """Creates the engine once, on first use (thread-safe: routes run in a threadpool)."""

    def __init__(self, factory: Callable[[], Engine]) -> None:
        self._factory = factory
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._factory()
        return self._engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction with a statement timeout: the page can never write."""
        with self.engine.connect() as conn, conn.begin():
            conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            conn.execute(sa.text(f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)}"))
            yield conn


def _jsonable(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, key) for v in value]
    if isinstance(value, Decimal):
        return str(value) if key in _MONEY_KEYS else float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _money_map_json(m: dict[str, Decimal]) -> dict[str, str]:
    return {k: str(v) for k, v in m.items()}


def _csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (titles come from sellers)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return "" if value is None else value


def _csv_response(rows: list[dict[str, Any]], columns: tuple[str, ...], filename: str) -> Response:
    buf = io.StringIO()
    buf.write("\ufeff")              # BOM: spreadsheet apps then read UTF-8 (Japanese titles) right
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_csv_cell(r.get(c)) for c in columns])
    safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", filename)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{safe_name}"'})


def _authorised_user_dependency() -> Callable[..., Any]:
    """Airflow's ``GetUserDep`` plus a custom-view permission check.

    ``GetUserDep`` is ``Annotated[BaseUser, Depends(get_user)]``; its ``Depends`` is
    used as the default here because this module's annotations are strings
    (``from __future__ import annotations``) and a locally imported name in one
    would not resolve.
    """
    from typing import get_args

    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import GetUserDep
    from fastapi.params import Depends as DependsMarker

    get_user_dependency = get_args(GetUserDep)[1]        # the Depends(get_user) marker
    if not isinstance(get_user_dependency, DependsMarker):  # fail loudly, never serve unprotected
        raise RuntimeError("airflow GetUserDep changed shape; cannot protect the trends page")

    def authorised_user(user: Any = get_user_dependency) -> Any:
        if not get_auth_manager().is_authorized_custom_view(method="GET", resource_name=VIEW_NAME, user=user):
            raise HTTPException(status_code=403, detail="Not allowed to view eBay Trends")
        return user

    return authorised_user


def create_app(engine_factory: Callable[[], Engine]) -> FastAPI:
    """The trends app; ``engine_factory`` is called once, at the first request."""
    wh = _Warehouse(engine_factory)
    env = make_env()
    auth = _authorised_user_dependency()
    # No /docs or /openapi.json: they would be reachable without authentication.
    app = FastAPI(title=VIEW_NAME, docs_url=None, redoc_url=None, openapi_url=None)
    router = APIRouter(dependencies=[Depends(auth)])

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    @app.exception_handler(sa.exc.ProgrammingError)
    async def missing_schema(request: Request, exc: sa.exc.ProgrammingError):
        # e.g. the trend tables were never migrated.  Only the error class is logged:
        # the message could carry the URL of the database.
        log.error("trends page query failed: %s", type(exc.orig).__name__)
        return JSONResponse({"detail": "warehouse not ready (run the migrations and the sync)"}, 503)

    @app.exception_handler(sa.exc.OperationalError)
    async def warehouse_down(request: Request, exc: sa.exc.OperationalError):
        log.error("warehouse unavailable: %s", type(exc.orig).__name__)
        return JSONResponse({"detail": "warehouse unavailable"}, 503)

    # ------------------------------------------------------------------ helpers
    def root(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    def link(request: Request, path: str, **query: Any) -> str:
        q = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in query.items() if v is not None}
        return f"{root(request)}{path}" + (f"?{urlencode(q)}" if q else "")

    def pick_account(conn: Connection, account: str | None) -> tuple[str | None, list[dict[str, Any]]]:
        accounts = queries.accounts(conn)
        if account is None:
            with_data = [a for a in accounts if a["latest_day"] is not None]
            chosen = (with_data or accounts or [{"account_id": None}])[0]["account_id"]
            return chosen, accounts
        if not any(a["account_id"] == account for a in accounts):
            raise HTTPException(status_code=404, detail="Unknown account")
        return account, accounts

    def page(request: Request, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("title", VIEW_NAME)
        for key, default in (("accounts", []), ("account", None), ("day", None), ("days", []),
                             ("active_tab", ""), ("form_action", link(request, "/"))):
            ctx.setdefault(key, default)
        html = env.get_template(template).render(
            link=lambda path, **q: link(request, path, **q), **ctx)
        return HTMLResponse(html, status_code=status_code)

    def html_errors(fn: Callable[..., HTMLResponse]) -> Callable[..., HTMLResponse]:
        """Render HTTP errors of an HTML route as a page (the message is escaped)."""
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> HTMLResponse:
            try:
                return fn(*args, **kwargs)
            except HTTPException as exc:
                request: Request = kwargs["request"]
                return page(request, "error.html", status_code=exc.status_code,
                            message=str(exc.detail), status=exc.status_code)
        return wrapper

    # ------------------------------------------------------------------ HTML
    @router.get("/", response_class=HTMLResponse, name="overview")
    @html_errors
    def overview(request: Request, account: AccountQ = None, day: DayQ = None) -> HTMLResponse:
        with wh.read() as conn:
            acct, accounts = pick_account(conn, account)
            if acct is None:
                return page(request, "overview.html", kpis=None, movers=[], sync=None,
                            active_tab="overview", trend_charts=None, trend_days_n=0)
            d = queries.resolve_day(conn, acct, day)
            history = queries.account_history(conn, acct, d, ACCOUNT_CHART_DAYS) if d else []
            return page(
                request, "overview.html", accounts=accounts, account=acct, day=d,
                days=queries.trend_days(conn, acct), trend_charts=_account_charts(history),
                trend_days_n=ACCOUNT_CHART_DAYS,
                kpis=queries.kpis(conn, acct, d) if d else None,
                movers=queries.top_movers(conn, acct, d, 25) if d else [],
                sync=queries.sync_status(conn, acct), active_tab="overview",
            )

    @router.get("/listing/{item_id}", response_class=HTMLResponse, name="listing")
    @html_errors
    def listing_page(request: Request, item_id: ItemIdP, account: AccountQ = None,
                     days: Annotated[int, Query(ge=1, le=366)] = 30) -> HTMLResponse:
        with wh.read() as conn:
            acct, accounts = pick_account(conn, account)
            info = queries.listing(conn, acct, item_id) if acct else None
            if info is None:
                raise HTTPException(status_code=404, detail="Unknown listing")
            history = queries.listing_history(conn, acct, item_id, days)
        series = _daily_series(history)
        cur = info["currency"]
        chart_svgs = {
            "price": charts.chart([(d, r["price"] if r else None) for d, r in series],
                                  title=f"Price ({cur})", kind="line", color="#7c3aed",
                                  fmt=lambda v: money(v, cur), chart_id="chart-price"),
            "views": charts.chart([(d, r["views"] if r else None) for d, r in series],
                                  title="Views per day", kind="bar", color="#0ea5e9",
                                  chart_id="chart-views", empty_label="pending / no snapshot"),
            "watchers": charts.chart([(d, r["watchers"] if r else None) for d, r in series],
                                     title="Watchers", kind="line", color="#f59e0b",
                                     chart_id="chart-watchers"),
            "units": charts.chart([(d, r["units_sold"] if r else None) for d, r in series],
                                  title="Units sold per day", kind="bar", color="#16a34a",
                                  chart_id="chart-units", empty_label="new listing / no snapshot"),
        }
        return page(request, "listing.html", accounts=accounts, account=acct, info=info,
                    history=history, charts=chart_svgs, history_days=days,
                    title=f"{info['title']} · {VIEW_NAME}")

    @router.get("/categories", response_class=HTMLResponse, name="categories")
    @html_errors
    def categories_page(request: Request, account: AccountQ = None, day: DayQ = None) -> HTMLResponse:
        with wh.read() as conn:
            acct, accounts = pick_account(conn, account)
            d = queries.resolve_day(conn, acct, day) if acct else None
            rows = queries.categories(conn, acct, d) if d else []
            days = queries.trend_days(conn, acct) if acct else []
        max_units = max((r["units_sold"] for r in rows), default=0)
        return page(request, "categories.html", accounts=accounts, account=acct, day=d, days=days,
                    rows=rows, max_units=max_units, title=f"Categories · {VIEW_NAME}",
                    active_tab="categories", form_action=link(request, "/categories"))

    # ------------------------------------------------------------------ CSV
    @router.get("/export/top-movers.csv", name="top_movers_csv")
    def top_movers_csv(account: AccountQ = None, day: DayQ = None,
                       limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> Response:
        with wh.read() as conn:
            acct, _ = pick_account(conn, account)
            d = queries.resolve_day(conn, acct, day) if acct else None
            rows = queries.top_movers(conn, acct, d, limit) if d else []
        cols = tuple(c for c in queries.TOP_MOVER_COLUMNS if c not in ("gallery_url",))
        return _csv_response(rows, cols, f"top-movers_{acct}_{d}.csv")

    @router.get("/export/listing/{item_id}.csv", name="listing_csv")
    def listing_csv(item_id: ItemIdP, account: AccountQ = None,
                    days: Annotated[int, Query(ge=1, le=3660)] = 366) -> Response:
        with wh.read() as conn:
            acct, _ = pick_account(conn, account)
            if not acct or queries.listing(conn, acct, item_id) is None:
                raise HTTPException(status_code=404, detail="Unknown listing")
            rows = queries.listing_history(conn, acct, item_id, days)
        return _csv_response(rows, queries.HISTORY_COLUMNS, f"listing_{acct}_{item_id}.csv")

    # ------------------------------------------------------------------ JSON
    @router.get("/api/accounts", name="api_accounts")
    def api_accounts() -> JSONResponse:
        with wh.read() as conn:
            return JSONResponse(_jsonable({"accounts": queries.accounts(conn)}))

    @router.get("/api/kpis", name="api_kpis")
    def api_kpis(account: AccountQ = None, day: DayQ = None) -> JSONResponse:
        with wh.read() as conn:
            acct, _ = pick_account(conn, account)
            d = queries.resolve_day(conn, acct, day) if acct else None
            k = queries.kpis(conn, acct, d) if d else None
            sync = queries.sync_status(conn, acct) if acct else None
        return JSONResponse(_jsonable({"account": acct, "date": d, "kpis": k, "sync": sync}))

    @router.get("/api/top-movers", name="api_top_movers")
    def api_top_movers(account: AccountQ = None, day: DayQ = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 10) -> JSONResponse:
        with wh.read() as conn:
            acct, _ = pick_account(conn, account)
            d = queries.resolve_day(conn, acct, day) if acct else None
            rows = queries.top_movers(conn, acct, d, limit) if d else []
        return JSONResponse(_jsonable({"account": acct, "date": d, "top_movers": rows}))

    @router.get("/api/listing/{item_id}/history", name="api_listing_history")
    def api_listing_history(item_id: ItemIdP, account: AccountQ = None,
                            days: Annotated[int, Query(ge=1, le=3660)] = 30) -> JSONResponse:
        with wh.read() as conn:
            acct, _ = pick_account(conn, account)
            info = queries.listing(conn, acct, item_id) if acct else None
            if info is None:
                raise HTTPException(status_code=404, detail="Unknown listing")
            rows = queries.listing_history(conn, acct, item_id, days)
        return JSONResponse(_jsonable({"account": acct, "listing": info, "history": rows}))

    @router.get("/api/categories", name="api_categories")
    def api_categories(account: AccountQ = None, day: DayQ = None) -> JSONResponse:
        with wh.read() as conn:
            acct, _ = pick_account(conn, account)
            d = queries.resolve_day(conn, acct, day) if acct else None
            rows = queries.categories(conn, acct, d) if d else []
        for r in rows:
            r["revenue"] = _money_map_json(r["revenue"])
        return JSONResponse(_jsonable({"account": acct, "date": d, "categories": rows}))

    app.include_router(router)
    return app


def _account_charts(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not history:
        return None
    series = _daily_series(history, key="day")
    return {
        "units": charts.chart([(d, r["units_sold"] if r else None) for d, r in series],
                              title="Units sold per day", kind="bar", color="#16a34a",
                              chart_id="account-units"),
        "views": charts.chart([(d, r["views"] if r else None) for d, r in series],
                              title="Views per day", kind="bar", color="#0ea5e9",
                              chart_id="account-views", empty_label="traffic report pending"),
        "watchers": charts.chart([(d, r["watchers"] if r else None) for d, r in series],
                                 title="Watchers", kind="line", color="#f59e0b",
                                 chart_id="account-watchers"),
    }


def _daily_series(history: list[dict[str, Any]], key: str = "trend_date"
                  ) -> list[tuple[date, dict[str, Any] | None]]:
    """One entry per calendar day from the first to the last row; days without a row are None."""
    if not history:
        return []
    by_day = {r[key]: r for r in history}
    first, last = history[0][key], history[-1][key]
    return [(first + timedelta(days=i), by_day.get(first + timedelta(days=i)))
            for i in range((last - first).days + 1)]

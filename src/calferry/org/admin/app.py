"""The org admin page (``calferry org web``): sign-in, technicians, one technician's log, settings, and
Autotask requests per hour against the threshold.

Same look and same guards as the technician page: its stylesheet and base template, its CSRF token and
Origin check on every POST and its Host check (:mod:`calferry.web.security`), loopback by default. On
top: every page but the sign-in wants a session (:mod:`calferry.org.admin.accounts`); without one it
sends the browser to the sign-in. Times are in the admin's zone, said on every page. Everything shown
comes from :mod:`calferry.org.overview`, as ``calferry org status --json`` does.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from calferry.config import ALL_KINDS, POLICIES
from calferry.errors import ConfigError, InputError, NotFound, UserError
from calferry.model import Policy
from calferry.org.admin.accounts import SESSION_LIFETIME, AdminAccounts, SignInRefused, SignInThrottled
from calferry.org.admin.chart import hourly_chart
from calferry.org.overview import (
    ERROR_HOURS,
    requests_per_hour,
    technician_audit,
    technician_conflicts,
    technician_errors,
    technician_overview,
    technicians_overview,
)
from calferry.org.store import OrgSettings, OrgStore
from calferry.web.app import bind, favicon, head_as_get, make_server, url_of
from calferry.web.common import HERE as WEB
from calferry.web.common import sentence
from calferry.web.common import templates as web_templates
from calferry.web.options_routes import KIND_LABELS
from calferry.web.security import (
    CSRF_FIELD,
    WILDCARD_HOSTS,
    allowed_hosts,
    csrf_guard,
    csrf_token,
    is_loopback,
    security_middleware,
)

__all__ = ["AdminServer", "check_admin_bind", "create_admin_app", "serve_admin"]

SESSION_COOKIE = "calferry_admin"
OPEN_PATHS = ("/signin", "/favicon.ico")
AUDIT_PAGE = 50
NAV = (
    ("technicians", "/technicians", "Technicians"),
    ("settings", "/settings", "Settings"),
    ("requests", "/requests", "Autotask requests"),
)
SETTINGS = ("cycle_minutes", "past_days", "future_days", "kinds", "policy", "budget_share")
POLICY_WORDS = {
    Policy.KEEP_PERSONAL: "Keep the technician's edit and report a conflict",
    Policy.PSA_WINS: "The PSA's version replaces the technician's edit",
    Policy.ASK: "Report a conflict and let the technician choose",
}

templates = Jinja2Templates(directory=[Path(__file__).parent / "templates", WEB / "templates"])
templates.env.filters.update(web_templates.env.filters)  # when, stamp, sentence, psa_name... as on the page
router = APIRouter()


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """Render ``name`` with the navigation, the form token and the admin's zone."""
    context.setdefault("zone", request.app.state.zone)
    context.setdefault("signed_in", request.url.path not in OPEN_PATHS)
    context.update(nav=NAV, csrf_field=CSRF_FIELD, csrf_token=csrf_token(request))
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _store(request: Request) -> OrgStore:
    store: OrgStore = request.app.state.store
    return store


def _accounts(request: Request) -> AdminAccounts:
    return AdminAccounts(_store(request).engine)


async def require_session(request: Request, call_next: Any) -> Response:
    """Every page but the sign-in and the static files wants a live session; else off to sign in."""
    path = request.url.path
    if path in OPEN_PATHS or path.startswith("/static/"):
        response: Response = await call_next(request)
        return response
    session = request.cookies.get(SESSION_COOKIE, "")
    if await run_in_threadpool(_accounts(request).signed_in, session):
        response = await call_next(request)
        return response
    return RedirectResponse("/signin", status_code=303)


@router.get("/signin")
def signin_page(request: Request) -> Response:
    if _accounts(request).signed_in(request.cookies.get(SESSION_COOKIE, "")):
        return RedirectResponse("/technicians", status_code=303)
    return _signin(request)


def _signin(request: Request, status_code: int = 200, error: UserError | None = None) -> Response:
    ready = _accounts(request).has_password()
    return render(request, "admin_signin.html", status_code, active="", ready=ready, error=error)


@router.post("/signin")
def sign_in(request: Request, password: str = Form("")) -> Response:
    address = request.client.host if request.client else ""
    try:
        session = _accounts(request).sign_in(password, address)
    except SignInThrottled as error:
        return _signin(request, 429, error)
    except SignInRefused as error:
        return _signin(request, 401, error)
    answer = RedirectResponse("/technicians", status_code=303)
    answer.set_cookie(
        SESSION_COOKIE, session, max_age=int(SESSION_LIFETIME.total_seconds()), path="/", httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return answer


@router.post("/signout")
def sign_out(request: Request) -> Response:
    _accounts(request).sign_out(request.cookies.get(SESSION_COOKIE, ""))
    answer = RedirectResponse("/signin", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return answer


@router.get("/")
def home() -> Response:
    return RedirectResponse("/technicians", status_code=303)


@router.get("/technicians")
def technicians_page(request: Request, changed: int | None = Query(None, ge=1, le=2**62)) -> Response:
    rows = technicians_overview(_store(request))
    notice = next((r.technician for r in rows if r.technician.id == changed), None)
    return render(
        request, "admin_technicians.html", active="technicians", rows=rows, notice=notice,
        error_hours=ERROR_HOURS,
    )  # fmt: skip


@router.post("/technicians/{technician_id}/enabled")
def set_enabled(
    request: Request, technician_id: int, enabled: str = Form(...), reason: str = Form("")
) -> Response:
    """R1 per technician: off stops their syncing (nothing of theirs is deleted), with why."""
    if enabled not in ("yes", "no"):
        raise InputError("choose whether the technician is synced")
    store = _store(request)
    store.technician(technician_id)  # NotFound for a number nobody has
    why = reason.strip()[:500] or "disabled by the admin"
    store.set_enabled(technician_id, enabled == "yes", why)
    return RedirectResponse(f"/technicians?changed={technician_id}", status_code=303)


@router.get("/technicians/{technician_id}")
def technician_page(
    request: Request,
    technician_id: int,
    offset: int = Query(0, ge=0, le=10**9),
    limit: int = Query(AUDIT_PAGE, ge=1, le=500),
) -> Response:
    store = _store(request)
    row = technician_overview(store, technician_id)
    entries = technician_audit(store, technician_id, limit + 1, offset)
    return render(
        request, "admin_technician.html", active="technicians", row=row, entries=entries[:limit],
        older=len(entries) > limit, offset=offset, limit=limit, error_hours=ERROR_HOURS,
        conflicts=technician_conflicts(store, technician_id), errors=technician_errors(store, technician_id),
    )  # fmt: skip


@router.get("/settings")
def settings_page(request: Request) -> Response:
    return _settings(request, _store(request).settings())


def _settings(
    request: Request, current: OrgSettings, errors: dict[str, str] | None = None, saved: bool = False,
    entered: dict[str, Any] | None = None,
) -> Response:  # fmt: skip
    """The form, showing what the admin typed where it was refused (to correct it, not type it again)."""
    shown = {**current.to_json(), **(entered or {})}
    return render(
        request, "admin_settings.html", 400 if errors else 200, active="settings", shown=shown,
        errors=errors or {}, saved=saved, kinds=KIND_LABELS, all_kinds=ALL_KINDS, policies=POLICIES,
        policy_words=POLICY_WORDS,
    )  # fmt: skip


@router.post("/settings")
async def save_settings(request: Request) -> Response:
    """All fields or none: each one's problem is said beside it, and nothing is saved while one is wrong."""
    form = await request.form()
    entered: dict[str, Any] = {key: str(form.get(key, "")).strip() for key in SETTINGS}
    entered["kinds"] = [str(k) for k in form.getlist("kinds")]
    store = _store(request)
    current = await run_in_threadpool(store.settings)
    updated, errors = current, {}
    for key in SETTINGS:
        try:
            updated = updated.with_value(key, entered[key])
        except InputError as error:
            errors[key] = sentence(error.message) + "."
    if errors:
        return _settings(request, current, errors, entered=entered)
    for key in SETTINGS:
        await run_in_threadpool(store.set_setting, key, updated.to_json()[key])
    return _settings(request, updated, saved=True)


@router.get("/requests")
def requests_page(request: Request) -> Response:
    series = requests_per_hour(_store(request))
    chart = hourly_chart(series.hours, series.threshold, series.capacity, request.app.state.zone)
    return render(request, "admin_requests.html", active="requests", series=series, chart=chart)


async def _user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    status = 404 if isinstance(exc, NotFound) else 400
    return render(request, "admin_error.html", status, active="", error=exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "There is no such page here." if exc.status_code == 404 else str(exc.detail)
    return render(request, "admin_error.html", exc.status_code, active="", error=message)


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return render(request, "admin_error.html", 400, active="", error="This page cannot use the values given.")


def create_admin_app(store: OrgStore, *, zone: str, host: str = "127.0.0.1") -> FastAPI:
    """The admin app on ``store``, showing times in ``zone``, served under ``host`` and loopback names."""
    app = FastAPI(title="calferry org", docs_url=None, redoc_url=None, openapi_url=None)
    app.router.dependencies.append(Depends(csrf_guard))
    app.state.store = store
    app.state.zone = zone
    app.middleware("http")(require_session)
    app.middleware("http")(head_as_get)
    app.middleware("http")(security_middleware)
    hosts = ["*"] if host in WILDCARD_HOSTS else allowed_hosts(host, None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    app.include_router(router)
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _bad_request)
    return app


def check_admin_bind(host: str, allow_remote: bool) -> None:
    """The admin page answers this machine only, unless the admin says others may reach it."""
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"refusing to serve the admin page on {host}: only this machine may reach it by default",
            hint="use --host 127.0.0.1, or add --allow-remote (and put the page behind HTTPS)",
        )


@dataclass
class AdminServer:
    """The admin page running in a background thread; :meth:`stop` ends it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def serve_admin(
    store: OrgStore, host: str = "127.0.0.1", port: int = 0, *, zone: str | None = None,
    allow_remote: bool = False,
) -> AdminServer:  # fmt: skip
    """Serve the admin page beside other work (the org demo's worker): returns once it answers."""
    check_admin_bind(host, allow_remote)
    app = create_admin_app(store, zone=zone or machine_zone(), host=host)
    sock = bind(host, port)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="org-admin")
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise ConfigError(f"the admin page could not start on {url_of(sock)}")
        time.sleep(0.01)
    return AdminServer(url_of(sock), server, thread)


def machine_zone() -> str:
    """This machine's zone, the admin's unless they name another."""
    from calferry.personal.graph import local_zone

    return local_zone()

"""The Outlook add-in under ``/addin``: its manifest, the task pane pages and the pane's JSON API.

It is a sub-application mounted on the page's app, so the page's form-token check (CSRF) does not
apply: the pane runs inside Outlook, where the page's cookie never arrives. It has its own guard:

- every ``/addin/api`` request carries the pairing token (:mod:`calferry.addin.token`) as a bearer
  token, else 401; it is never the PSA secret;
- a request from another origin is refused (403) and only the add-in's own origin (the one these
  pages are served from) is named in CORS headers;
- the pane pages may be framed by Outlook on the web only, and load Office.js from Microsoft's CDN
  (Microsoft requires that copy): their headers say exactly that, every other page keeps the strict ones.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.responses import Response

from calferry.addin import pane, token
from calferry.addin.manifest import base_url, manifest_xml
from calferry.errors import InputError, UserError
from calferry.web.common import psa_choices, render, service
from calferry.web.get_routes import _keep
from calferry.web.security import Handler
from calferry.web.views import plan_rows, plan_summary, result_rows, result_summary

OFFICE_JS = "https://appsforoffice.microsoft.com"
OUTLOOK_FRAMERS = (
    "https://outlook.office.com https://outlook.office365.com https://outlook.live.com "
    "https://outlook.cloud.microsoft"
)
PANE_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'self'; script-src 'self' {OFFICE_JS}; style-src 'self'; img-src 'self'; "
        f"connect-src 'self'; form-action 'self'; frame-ancestors 'self' {OUTLOOK_FRAMERS}; "
        "base-uri 'none'; object-src 'none'"
    ),
}
VIEWS = {"send": "Send to Autotask", "get": "Get calendar items", "add": "Add to Autotask"}


def install(app: FastAPI) -> None:
    """Mount the add-in on ``app`` (call last: its header middleware must be the outermost)."""
    addin = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    addin.state.service_factory = app.state.service_factory
    addin.state.plans = app.state.plans
    _routes(addin)
    addin.add_exception_handler(UserError, _user_error)
    addin.add_exception_handler(RequestValidationError, _bad_request)
    addin.middleware("http")(_api_guard)
    app.mount("/addin", addin)
    app.middleware("http")(_pane_headers)


async def _pane_headers(request: Request, call_next: Handler) -> Response:
    response = await call_next(request)
    if request.url.path.startswith("/addin/"):
        if "x-frame-options" in response.headers:
            del response.headers["x-frame-options"]
        response.headers.update(PANE_HEADERS)
    return response


def own_origin(request: Request) -> str:
    """The origin these pages are served from (the Host is one the page serves, see security.py)."""
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


async def _api_guard(request: Request, call_next: Handler) -> Response:
    """Refuse other origins and requests without the pairing token; name only our origin in CORS."""
    if not request.url.path.startswith("/addin/api/"):
        return await call_next(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != own_origin(request):
        return JSONResponse({"error": "This address only answers calferry's own add-in."}, status_code=403)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.accepts(given.strip()):
        return JSONResponse(
            {"error": "The add-in is not paired with calferry.", "pair": True},
            status_code=401, headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    response = await call_next(request)
    if origin is not None:
        response.headers.update({"Access-Control-Allow-Origin": origin, "Vary": "Origin"})
    return response


async def _user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    status = 409 if exc.exit_code in (3, 7) else 400
    hint = exc.hint
    if hint and ("--" in hint or "`" in hint):
        hint = None  # a command line hint means nothing inside Outlook
    return JSONResponse(
        {"error": pane.sentence(exc.message), "hint": hint and pane.sentence(hint)}, status_code=status
    )


async def _bad_request(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "The add-in sent an incomplete request: reload it and try again."}, 400)


class SendBody(BaseModel):
    id: str
    kind: str = "appointment"
    company: str = ""
    action_type: str = ""


class GetBody(BaseModel):
    plan_id: str


def _routes(addin: FastAPI) -> None:
    @addin.get("/manifest.xml")
    def manifest(request: Request) -> Response:
        if request.url.scheme != "https":
            raise InputError(
                "Outlook loads add-ins over HTTPS only: serve calferry's page over HTTPS for the add-in",
                hint="the Outlook add-in guide (docs/outlook-addin.md) shows how",
            )
        url = base_url(own_origin(request))
        return Response(manifest_xml(url), media_type="application/xml")

    @addin.get("/pane")
    @addin.get("/pane/{view}")
    def pane_page(request: Request, view: str = "send") -> Response:
        if view not in VIEWS:
            raise InputError(f"no add-in page {view!r}")
        return render(request, "addin/pane.html", view=view, title=VIEWS[view])

    @addin.get("/help")
    def help_page(request: Request) -> Response:
        return render(request, "addin/help.html", title="calferry for Outlook")

    @addin.get("/api/item")
    def item(request: Request, id: str) -> dict[str, Any]:
        with service(request) as svc:
            described = pane.describe(svc, id)
            choices = psa_choices(svc.directory(), action_types=True)
        return {
            **described.to_json(),
            "companies": [c.name for c in choices.companies],
            "action_types": [t.name for t in choices.action_types],
        }

    @addin.post("/api/send")
    def send(request: Request, body: SendBody) -> JSONResponse:
        with service(request) as svc:
            done = pane.send(svc, body.id, body.kind, body.company, body.action_type)
        payload = {"ok": done.ok, "message": done.message, "kind": done.kind, "psa_id": done.psa_id}
        return JSONResponse(payload, status_code=200 if done.ok else 409)

    @addin.get("/api/get")
    def get_preview(request: Request) -> dict[str, Any]:
        with service(request) as svc:
            plan = svc.preview_get()
        rows = [{"action": r.action, "subject": r.subject} for r in plan_rows(plan)]
        return {"plan_id": _keep(request, plan), "summary": plan_summary(plan), "rows": rows}

    @addin.post("/api/get")
    def get_apply(request: Request, body: GetBody) -> dict[str, Any]:
        plan = request.app.state.plans.pop(body.plan_id, None)
        if plan is None:
            raise InputError("this preview is no longer available: preview again")
        with service(request) as svc:
            result = svc.get(plan=plan)
        rows = [
            {"action": r.action, "subject": r.subject, "outcome": r.outcome}
            for r in result_rows(result.results)
        ]
        return {"summary": result_summary(result), "rows": rows}

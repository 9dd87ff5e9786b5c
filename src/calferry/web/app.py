"""The local web page: the plug-in's click flow (select, map, Save; Get; Add; options) in a browser.

Server-rendered (FastAPI + Jinja2), no build step, no third-party JavaScript or CSS. Routes are thin:
parse the form, call :class:`calferry.service.Service`, render. ``calferry web`` and ``calferry demo``
run it with :func:`serve`; tests build it with :func:`create_app` and their own service factory.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import FileResponse, Response

from calferry.errors import ConfigError, InputError, UserError
from calferry.tls import TlsFiles, keep_renewed
from calferry.web import (
    add_routes,
    addin_routes,
    audit_routes,
    calendar_routes,
    get_routes,
    options_routes,
    send_routes,
)
from calferry.web.common import HERE, ServiceFactory, error_page, render
from calferry.web.security import (
    allowed_hosts,
    csrf_guard,
    is_loopback,
    password_middleware,
    security_middleware,
)

if TYPE_CHECKING:
    from calferry.service import Service


def create_app(
    service_factory: ServiceFactory, *, password: str | None = None, host: str = "127.0.0.1"
) -> FastAPI:
    """The web app; ``service_factory()`` opens a service per request; ``password`` turns on basic auth;
    ``host`` is the address it listens on: only it and loopback names are served (DNS rebinding)."""
    app = FastAPI(title="calferry", docs_url=None, redoc_url=None, openapi_url=None)
    app.router.dependencies.append(Depends(csrf_guard))
    app.state.service_factory = service_factory
    app.state.plans = {}
    app.middleware("http")(security_middleware)
    app.middleware("http")(head_as_get)
    if password:
        app.middleware("http")(password_middleware(password))
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host, password), www_redirect=False)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (calendar_routes, send_routes, get_routes, add_routes, audit_routes, options_routes):
        app.include_router(module.router)
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _bad_request)
    addin_routes.install(app)  # last: its header middleware wraps all the others
    return app


async def head_as_get(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """HEAD of any page answers as its GET would, without the body (link checkers, monitors, curl -I)."""
    if request.method != "HEAD":
        return await call_next(request)
    request.scope["method"] = "GET"
    answer = await call_next(request)
    head = Response(status_code=answer.status_code)
    head.raw_headers = answer.raw_headers  # all of them (cookies too), the GET's length included
    return head


async def _user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    return error_page(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    """The page's own error page, for refusals and for addresses it does not have (404)."""
    assert isinstance(exc, HTTPException)
    message = "There is no such page here." if exc.status_code == 404 else str(exc.detail)
    return render(request, "error.html", status_code=exc.status_code, error=message, active="")


async def _bad_request(request: Request, exc: Exception) -> Response:
    """A parameter of the wrong kind or out of range: 400 with a sentence per field, not raw JSON."""
    assert isinstance(exc, RequestValidationError)
    problems = [f"{_field(e.get('loc', ()))}: {e.get('msg', 'not valid')}" for e in exc.errors()]
    error = InputError("This page cannot use the values given: " + "; ".join(problems) + ".")
    return error_page(request, error)


def _field(loc: tuple[object, ...] | list[object]) -> str:
    """The field a validation error is about (``limit``), without pydantic's ``query``/``body`` prefix."""
    names = [str(part) for part in loc if part not in ("query", "body", "path", "header", "cookie")]
    return ".".join(names) or "the request"


def favicon() -> Response:
    """The tab icon (an SVG; browsers ask for /favicon.ico whatever the page says)."""
    return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")


def default_service_factory() -> ServiceFactory:
    """Open the configured adapters for every request, reading the options afresh (they may change)."""
    from calferry.config import load_settings
    from calferry.wiring import open_service

    def factory() -> AbstractContextManager[Service]:
        return open_service(load_settings())

    return factory


def check_bind(host: str, password: str | None) -> None:
    """Refuse to serve beyond loopback without a password: the page can write to the PSA."""
    if not is_loopback(host) and not password:
        raise ConfigError(
            f"refusing to listen on {host} without a password",
            hint="use --host 127.0.0.1, or --password-env VAR with VAR holding a password",
        )


def bind(host: str, port: int) -> socket.socket:
    """A socket listening now, so the URL (and a port 0 choice) is known and reachable before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections wait in the backlog until uvicorn serves, instead of being refused
    return sock


def make_server(app: FastAPI, tls: TlsFiles | None = None) -> uvicorn.Server:
    """A uvicorn server for ``app`` (over HTTPS with ``tls``); run it with ``server.run(sockets=[sock])``."""
    cert, key = (None, None) if tls is None else (tls.certfile, tls.keyfile)
    config = uvicorn.Config(app, log_level="warning", access_log=False, ssl_certfile=cert, ssl_keyfile=key)
    return uvicorn.Server(config)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    service_factory: ServiceFactory | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    password: str | None = None,
    sock: socket.socket | None = None,
    tls: TlsFiles | None = None,
) -> None:
    """Run the page until interrupted (blocking); refuses a non-loopback host without a password.
    With ``tls`` it serves HTTPS and renews the certificate while it runs (:mod:`calferry.tls`)."""
    check_bind(host, password)
    app = create_app(service_factory or default_service_factory(), password=password, host=host)
    listening = sock or bind(host, port)
    server = make_server(app, tls)
    if tls is not None:

        def reload(files: TlsFiles) -> None:  # new connections get the renewed certificate
            if server.config.ssl is not None:
                server.config.ssl.load_cert_chain(files.certfile, files.keyfile)

        keep_renewed(tls.certfile.parent, reload, lambda: datetime.now(UTC), threading.Event())
    server.run(sockets=[listening])

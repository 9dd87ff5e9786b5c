"""``create_app(settings)`` builds the Autotask-compatible server; ``serve`` runs it on a socket.

Every error leaves as Autotask's ``{"errors": [...]}``: ``ApiError`` with its own status, bad request
syntax (not JSON, wrong types) as 500 like Autotask, an unknown path or entity as 404, a wrong method
as 405.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from calferry.psa.server.gate import PREFIX, Credentials, Gate
from calferry.psa.server.problems import ApiError
from calferry.psa.server.routes import router
from calferry.psa.server.state import ServerState, Settings


def create_app(settings: Settings) -> FastAPI:
    """A ready app: schema created, seeded as asked; ``app.state.psa`` is its ``ServerState``."""
    state = ServerState(settings)
    app = FastAPI(title="calferry PSA server (Autotask REST compatible)", version="1.0")
    app.state.psa = state
    app.include_router(router)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    credentials = Credentials(settings.integration_code, settings.username, settings.secret)
    app.add_middleware(
        Gate, credentials=credentials, hourly=state.hourly, threads=state.threads, plan=settings.faults
    )
    return app


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"errors": exc.messages}, status_code=exc.status, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    status = 404 if any(e.get("loc", ("",))[0] == "path" for e in errors) else 500
    messages = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors]
    return JSONResponse({"errors": messages}, status_code=status)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"errors": [str(exc.detail)]}, status_code=exc.status_code, headers=exc.headers)


class _QuietDrops(logging.Filter):
    """Injected ``drop``/``lost-answer`` faults close connections on purpose; do not log them as errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one. Listening before serving lets clients connect at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on such sockets, and without it every
    # keep-alive answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{PREFIX}/"


def _exit_cleanly(_signum: int, _frame: Any) -> None:
    """A stop request after the graceful shutdown is a normal end: exit status 0."""
    raise SystemExit(0)


def serve(settings: Settings, host: str, port: int, announce: Callable[[str], Any]) -> None:
    """Run until SIGTERM/Ctrl-C; ``announce`` gets the base URL once the socket listens."""
    app = create_app(settings)
    sock = bind(host, port)
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    announce(base_url(sock))
    for signum in (signal.SIGINT, signal.SIGTERM):  # uvicorn re-raises the signal after its shutdown
        signal.signal(signum, _exit_cleanly)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        app.state.psa.engine.dispose()

"""Radicale's process with a Host check: ``python -m calferry.personal.radicale_host HOSTS -- ARGS``.

Radicale answers any ``Host`` header, so a page from another site whose name was made to resolve to
127.0.0.1 (DNS rebinding) could read and write the calendar from the person's own browser. This entry
point runs Radicale's own ``run()`` with ``ARGS`` after wrapping its WSGI application: a request whose
Host (lower-cased, port included) is not in the comma-separated ``HOSTS`` gets 403 and reaches nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

REFUSED = b"This calendar answers only to its own address.\n"


def host_checked(application: type[Any], allowed: frozenset[str]) -> type[Any]:
    """A subclass of Radicale's ``Application`` that refuses requests for other host names."""

    class HostChecked(application):  # type: ignore[misc]
        def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if str(environ.get("HTTP_HOST", "")).lower() not in allowed:
                headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(REFUSED)))]
                start_response("403 Forbidden", headers)
                return [REFUSED]
            result: Iterable[bytes] = super().__call__(environ, start_response)
            return result

    return HostChecked


def main(argv: list[str]) -> None:
    hosts, separator, radicale_args = argv[0], argv[1], argv[2:]
    if separator != "--":
        raise SystemExit("usage: python -m calferry.personal.radicale_host HOSTS -- RADICALE-ARGS")
    import radicale.server
    from radicale.__main__ import run

    allowed = frozenset(h.strip().lower() for h in hosts.split(",") if h.strip())
    server: Any = radicale.server  # Radicale's server module builds ``Application`` by this name
    server.Application = host_checked(server.Application, allowed)
    sys.argv = ["radicale", *radicale_args]
    run()


if __name__ == "__main__":
    main(sys.argv[1:])

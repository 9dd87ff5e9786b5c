"""One Send or Get in a process of its own, killed for real at the Nth ``checkpoint(step)``.

``python -m tests.system.crash_run send|get [--crash-at STEP [--nth N]] [--as todo --company NAME] [REF...]`` (run from the
repository root, with ``CALFERRY_HOME`` naming a configured home). It opens ``Service`` on the
configured adapters (``open_service``: CalDAV, the PSA over HTTP, the link store in CALFERRY_HOME),
and ends the process with ``os._exit(137)`` — no ``finally``, no flush, no atexit, as a SIGKILL would —
when the step is reached for the Nth time. A run that is not killed prints its ``RunResult`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from calferry.wiring import open_service

KILLED = 137


def killer(step: str, nth: int) -> Callable[[str], None]:
    """A checkpoint hook that kills this process at the ``nth`` time ``step`` is reached."""
    seen = 0

    def checkpoint(name: str) -> None:
        nonlocal seen
        if name == step:
            seen += 1
            if seen == nth:
                os._exit(KILLED)

    return checkpoint


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crash_run")
    parser.add_argument("operation", choices=("send", "get"))
    parser.add_argument("refs", nargs="*")
    parser.add_argument("--crash-at", default=None, help="the checkpoint step to die at")
    parser.add_argument("--nth", type=int, default=1, help="die at this occurrence of the step")
    parser.add_argument("--as", dest="kind", default=None, help="send as this PSA kind (appointment, todo)")
    parser.add_argument("--company", default=None, help="the company of a To-Do")
    args = parser.parse_args(argv)
    with open_service() as service:
        if args.crash_at:
            service.checkpoint = killer(args.crash_at, args.nth)
        if args.operation == "send":
            result = service.send(args.refs, kind=args.kind, company=args.company)
        else:
            result = service.get()
    print(json.dumps(result.to_json(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

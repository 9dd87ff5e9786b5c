"""One org worker on a "machine" of its own: ``python -m tests.org.cycle_worker SPEC``, CALFERRY_HOME its own.

SPEC is JSON: ``db`` (the org database URL), ``defer`` (jobs to queue first: ``tick`` for a cycle,
``stalled`` for the jobs of a worker that died), ``concurrency``, and ``die_linking``: the process kills
itself (SIGKILL) at the first link it would save after writing an item into a calendar, i.e. a worker
lost mid-run with a pending intent in the journal. The worker runs the queue until it is empty, then exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time

from procrastinate.exceptions import AlreadyEnqueued

from calferry.model import Link, Origin
from calferry.org.jobs import STALLED, TICK, make_app
from calferry.org.pg_links import PgLinkStore
from calferry.org.store import OrgStore, libpq_url
from calferry.org.worker import runtime_for


def _die_linking() -> None:
    saving = PgLinkStore.save

    def save(self: PgLinkStore, link: Link) -> None:
        if link.origin is Origin.DOWNLOADED:
            os.kill(os.getpid(), signal.SIGKILL)
        saving(self, link)

    PgLinkStore.save = save  # type: ignore[method-assign]


def main(spec: dict[str, object]) -> None:
    if spec.get("die_linking"):
        _die_linking()
    store = OrgStore.open(str(spec["db"]))
    app = make_app(libpq_url(store.engine))
    with app.open():
        for name in spec.get("defer", ()):  # type: ignore[attr-defined]
            task = {"tick": TICK, "stalled": STALLED}[name]
            with contextlib.suppress(AlreadyEnqueued):  # the other machine queued it first
                app.configure_task(task).defer(timestamp=int(time.time()))
    app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False,
                   concurrency=int(spec.get("concurrency", 1)),  # type: ignore[call-overload]
                   additional_context={"calferry": runtime_for(store)})  # fmt: skip
    store.close()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

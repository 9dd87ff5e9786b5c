"""A calendar server that never answers costs a clear error, not a hung run (issue: nothing hangs)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from calferry.errors import PersonalUnavailable
from calferry.personal.caldav import CalDavCalendar


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback server that accepts connections and reads requests but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/calferry/calendar/"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_server_that_never_answers_is_reported_after_the_timeout(silent_server: str) -> None:
    began = time.monotonic()
    with pytest.raises(PersonalUnavailable) as refused:
        CalDavCalendar(silent_server, timeout=1)
    assert time.monotonic() - began < 30  # the timeout, plus the library's own retries at most
    assert silent_server in str(refused.value) and "timed out" in str(refused.value)

"""The demo's last hint opens the web page where the system has an opener, else prints the address."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from calferry.commands import demo_cmd

URL = "http://127.0.0.1:8765/"


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="these systems always have an opener")
def test_without_xdg_open_the_hint_is_the_address_to_click(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    hint = demo_cmd._open_hint(URL)
    assert hint.endswith(URL) and not hint.startswith(("open ", "xdg-open "))
    opener = tmp_path / "xdg-open"
    opener.write_text("#!/bin/sh\n", encoding="utf-8")
    opener.chmod(0o755)
    assert demo_cmd._open_hint(URL) == f"xdg-open {URL}"

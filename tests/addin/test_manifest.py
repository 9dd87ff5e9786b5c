"""The add-in manifest: valid against Microsoft's published schema (offline), buttons on both
appointment surfaces, every URL on the address it was made for; ``calferry addin manifest``."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from calferry.addin.manifest import COMMANDS, SURFACES, base_url, manifest_xml
from calferry.cli import app
from calferry.errors import InputError
from tests.addin.schema import schema_errors

MAIL_OVERRIDES = "{http://schemas.microsoft.com/office/mailappversionoverrides}"
TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
runner = CliRunner()


@pytest.mark.parametrize("url", ["https://localhost:8765", "https://calferry.contoso.example"])
def test_manifest_is_valid_against_microsofts_schema(url: str) -> None:
    assert schema_errors(manifest_xml(url)) == []


def test_the_schema_check_catches_a_misplaced_element() -> None:
    """The check is not vacuous: the schema's element order is enforced."""
    text = manifest_xml("https://localhost:8765")
    in_order = "<Version>1.0.0.0</Version>\n  <ProviderName>calferry</ProviderName>"
    swapped = text.replace(in_order, "<ProviderName>calferry</ProviderName>\n  <Version>1.0.0.0</Version>")
    assert in_order in text and swapped != text
    assert any("ProviderName" in e for e in schema_errors(swapped))


def test_send_get_and_add_buttons_on_organizer_and_attendee_surfaces() -> None:
    root = ET.fromstring(manifest_xml("https://localhost:8765"))
    points = {p.get(TYPE): p for p in root.iter(f"{MAIL_OVERRIDES}ExtensionPoint")}
    assert set(points) == {"AppointmentOrganizerCommandSurface", "AppointmentAttendeeCommandSurface"}
    for point in points.values():
        controls = list(point.iter(f"{MAIL_OVERRIDES}Control"))
        assert [c.get("id", "").rsplit(".", 1)[1] for c in controls] == ["Send", "Get", "Add"]
        actions = [c.find(f"{MAIL_OVERRIDES}Action") for c in controls]
        assert all(a is not None and a.get(TYPE) == "ShowTaskpane" for a in actions)
    labels = {s.get("DefaultValue") for s in root.iter() if s.tag.endswith("}String")}
    assert {"Send to Autotask", "Get calendar items", "Add to Autotask"} <= labels
    assert len(SURFACES) * len(COMMANDS) == 6


def test_every_url_is_on_the_given_https_address_and_mailbox_13_is_required() -> None:
    text = manifest_xml("https://calferry.contoso.example/")
    root = ET.fromstring(text)
    urls = [v for e in root.iter() for k, v in e.attrib.items() if k == "DefaultValue" and "://" in v]
    assert urls and all(u.startswith("https://calferry.contoso.example/") for u in urls)
    assert "https://calferry.contoso.example/addin/pane" in urls
    assert 'Name="Mailbox" MinVersion="1.3"' in text


@pytest.mark.parametrize(
    "url", ["http://localhost:8765", "https://localhost:8765/addin", "localhost:8765", "https://"]
)
def test_manifest_refuses_an_address_outlook_would_not_load(url: str) -> None:
    done = runner.invoke(app, ["addin", "manifest", "--url", url, "--json"])
    assert done.exit_code != 0
    assert "address" in json.loads(done.stdout)["error"]["message"]


def test_command_prints_and_writes_the_manifest(tmp_path: Path) -> None:
    printed = runner.invoke(app, ["addin", "manifest", "--url", "https://localhost:9443"])
    assert printed.exit_code == 0
    assert printed.stdout == manifest_xml("https://localhost:9443")
    target = tmp_path / "calferry-manifest.xml"
    written = runner.invoke(app, ["addin", "manifest", "--url", "https://localhost:9443", "-o", str(target)])
    assert written.exit_code == 0
    assert target.read_text(encoding="utf-8") == printed.stdout
    assert schema_errors(target.read_text(encoding="utf-8")) == []


def test_pair_shows_a_new_code_once_and_keeps_only_its_digest(calferry_home: Path) -> None:
    from calferry.addin import token

    first = json.loads(runner.invoke(app, ["addin", "pair", "--json"]).stdout)["pairing_code"]
    assert token.accepts(first)
    stored = calferry_home / token.TOKEN_FILE
    assert first not in stored.read_text()
    assert stored.stat().st_mode & 0o777 == 0o600
    second = json.loads(runner.invoke(app, ["addin", "pair", "--json"]).stdout)["pairing_code"]
    assert token.accepts(second) and not token.accepts(first)
    assert not token.accepts("") and not token.accepts(None)


@settings(max_examples=60, deadline=None)
@given(
    host=st.one_of(
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30),
        st.from_regex(r"[a-zA-Z0-9-]{1,12}(\.[a-zA-Z0-9-]{1,12}){0,3}", fullmatch=True),
        st.ip_addresses().map(lambda ip: f"[{ip}]" if ip.version == 6 else str(ip)),
    ),
    port=st.integers(min_value=1, max_value=65535),
)
def test_any_address_gives_a_valid_manifest_or_a_clear_refusal(host: str, port: int) -> None:
    """Hostile addresses (quotes, angle brackets, slashes, control characters) never break the XML."""
    url = f"https://{host}:{port}"
    try:
        text = manifest_xml(url)
    except InputError as exc:
        assert "address" in str(exc)
        return
    assert schema_errors(text) == []
    root = ET.fromstring(text)
    urls = [v for e in root.iter() for k, v in e.attrib.items() if k == "DefaultValue" and "://" in v]
    assert all(u.startswith(base_url(url) + "/") for u in urls)

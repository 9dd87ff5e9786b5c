"""The add-in's XML manifest (Office Add-ins manifest v1.1, a MailApp), built for one base URL.

Outlook loads every page of the add-in from the URLs in the manifest, so the manifest is made for
the address calferry is reached under (``https://localhost:8765`` by default; an org server's own
name). The XML is a template (manifest.xml beside this module) shaped like Microsoft's samples; element
order matters, the schema is a strict ``xs:sequence`` (tests check it offline against Microsoft's XSD).

Requirement sets: the manifest asks for **Mailbox 1.3** (add-in commands, ``convertToRestId``,
``saveAsync`` in compose). The pane uses newer sets only where the client has them
(``isSetSupported``): Mailbox 1.7 to see a recurring item before asking calferry, Mailbox 1.14 for
the sensitivity of an item being composed. calferry reads both through Graph anyway, so an older
client loses nothing but the early hint.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader

from calferry.errors import InputError

ADDIN_ID = "5d3f0b8e-2c47-4f0e-9a61-7c2f4e8b1a90"
"""The add-in's fixed id: Outlook keys installs and the add-in's custom properties to it."""
MIN_MAILBOX = "1.3"
DEFAULT_URL = "https://localhost:8765"

VERSION = "1.0.0.0"
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*", re.ASCII)
_TEMPLATE = Environment(
    loader=PackageLoader("calferry.addin", "."), autoescape=True, keep_trailing_newline=True
).get_template("manifest.xml")


@dataclass(frozen=True)
class Command:
    """One ribbon button: it opens a task pane page."""

    key: str
    label: str
    tip: str
    path: str


COMMANDS = (
    Command("Send", "Send to Autotask", "Send this calendar item to the Autotask calendar.", "/addin/pane"),
    Command(
        "Get", "Get calendar items", "Preview and fetch your Autotask calendar items.", "/addin/pane/get"
    ),
    Command("Add", "Add to Autotask", "Add a new Appointment, To-Do or Service Call.", "/addin/pane/add"),
)
SURFACES = ("AppointmentOrganizerCommandSurface", "AppointmentAttendeeCommandSurface")
ICON_SIZES = (16, 32, 80)


def base_url(url: str) -> str:
    """``url`` as the manifest's base: ``https://host[:port]``, nothing else; anything else is refused,
    because Outlook loads add-in pages over https only and the address goes into every URL of the XML."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise InputError(f"the add-in's address is not a valid https address (got {url!r})") from None
    if parts.scheme != "https" or not _valid_host(host) or parts.username is not None:
        raise InputError(f"the add-in's address must be https:// and a host name (got {url!r})")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InputError(f"the add-in's address is a server address only, without a path (got {url!r})")
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}" + ("" if port is None else f":{port}")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return _HOST_NAME.fullmatch(host) is not None
    return True


def manifest_xml(url: str) -> str:
    """The manifest for calferry served at ``url`` (see :func:`base_url`), as UTF-8 XML text."""
    return _TEMPLATE.render(
        url=base_url(url), addin_id=ADDIN_ID, version=VERSION, min_mailbox=MIN_MAILBOX,
        commands=COMMANDS, surfaces=SURFACES, icon_sizes=ICON_SIZES,
    )  # fmt: skip

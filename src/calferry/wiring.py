"""The composition root: the one module that turns :class:`~calferry.config.Settings` into concrete
adapters (the personal calendar, the PSA), the link store and the :class:`~calferry.service.Service`.

Adapters take explicit arguments (an address, a user, a secret, a token provider) and never read the
settings; the faces (commands, web pages, the Outlook add-in, the demo) and the tests that need the
configured stack ask this module for it, then talk to the service only. Concrete adapter modules are
imported inside the functions that build them, so a command that needs none of them does not load them.

Adding a personal calendar or PSA means one more branch in :func:`open_calendar` (or :func:`open_psa`)
and its line in :func:`calendar_location`; nothing else learns that it exists.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calferry import paths, secrets
from calferry.config import PersonalSettings, PsaSettings, Settings, load_settings
from calferry.errors import ConfigError, PsaError
from calferry.links import LinkStore
from calferry.personal.base import PersonalCalendar
from calferry.personal.radicale import DEFAULT_USER
from calferry.service import Records, Service, require_enabled

if TYPE_CHECKING:
    from calferry.personal.graph import GraphCalendar
    from calferry.personal.graph_auth import GraphAccount
    from calferry.psa.autotask import AutotaskClient
    from calferry.psa.gateway import AutotaskPsa

ZONE_URL_ENV = "CALFERRY_AUTOTASK_ZONE_URL"
"""Overrides the zone look-up URL (a test or demo server); the real one is Autotask's."""


# --- the service ---------------------------------------------------------------------------------


@contextmanager
def open_service(
    settings: Settings | None = None,
    *,
    writing: str | None = None,
    lazy_psa: bool = False,
    locked: bool = True,
) -> Iterator[Service]:
    """The configured adapters and link store as a :class:`Service`, holding the run lock until the
    block ends.

    ``writing`` names a use case that needs integration enabled (R1, e.g. "Send"): it is refused
    before any adapter is opened, so a disabled home says so instead of failing to connect.
    ``lazy_psa`` opens the PSA only when first used (``items`` needs only the personal side).
    ``locked=False`` is for reading only (``items``, previews): it neither waits for nor takes the
    run lock, so it answers while a Get runs, and it writes nothing (no restored link, no cache).
    """
    settings = settings or load_settings()
    if writing is not None:
        require_enabled(settings, writing)
    store = LinkStore.open()
    try:
        with store.lock() if locked else nullcontext():
            personal = open_calendar(settings)
            try:
                psa = LazyPsa(lambda: open_psa(settings)) if lazy_psa else open_psa(settings)
                try:
                    yield Service(settings, personal, psa, store, read_only=not locked)
                finally:
                    psa.close()
            finally:
                personal.close()
    finally:
        store.close()


@contextmanager
def open_records(settings: Settings | None = None) -> Iterator[Records]:
    """Status and the audit log from the link store in CALFERRY_HOME, read without the run lock (a
    running Send does not block it); no calendar and no PSA is opened."""
    settings = settings or load_settings()
    store = LinkStore.open()
    try:
        yield Records(settings, store, calendar_location(settings), psa_location(settings.psa))
    finally:
        store.close()


# --- the personal calendar -----------------------------------------------------------------------


def open_calendar(settings: Settings) -> PersonalCalendar:
    """The personal calendar ``personal.backend`` names (caldav | ics | graph | memory), ready to use
    (``close()`` it when done)."""
    personal = settings.personal
    if personal.backend == "caldav":
        from calferry.personal.caldav import CalDavCalendar

        username = personal.username or DEFAULT_USER
        password = secrets.caldav_password(username, personal.password_command)
        return CalDavCalendar(caldav_url(personal), username, password)
    if personal.backend == "ics":
        from calferry.personal.ics import IcsCalendar

        return IcsCalendar(_ics_path(personal))
    if personal.backend == "graph":
        return graph_calendar(personal)
    if personal.backend == "memory":
        from calferry.personal.memory import MemoryCalendar

        return MemoryCalendar()
    raise ConfigError(f"unknown personal.backend {personal.backend!r}", hint="caldav, ics, graph or memory")


def calendar_location(settings: Settings) -> str:
    """Which calendar the settings name, in words for ``status`` (nothing is opened)."""
    personal = settings.personal
    if personal.backend == "caldav":
        return personal.url or "not set (personal.url)"
    if personal.backend == "ics":
        return str(_ics_path(personal))
    if personal.backend == "graph":
        return f"{personal.graph_url} ({personal.graph_calendar or 'the default calendar'})"
    return "in memory (nothing is kept)"


def caldav_url(personal: PersonalSettings) -> str:
    """``personal.url``: an empty one is a config error, never a guess that could be someone else's
    calendar on a shared machine."""
    if not personal.url.strip():
        raise ConfigError(
            "personal.url is not set: calferry needs the address of your CalDAV calendar",
            hint="calferry config set personal.url <calendar URL>; `calferry calendar serve` prints the "
            "URL of the embedded calendar",
        )
    return personal.url


def graph_calendar(personal: PersonalSettings, **options: Any) -> GraphCalendar:
    """The Outlook calendar (``personal.backend = graph``), signed in through the keyring's token
    cache; ``options`` reach :class:`GraphCalendar` as they are (the doctor's checks, tests)."""
    from calferry.personal.graph import DEFAULT_URL, GraphCalendar, MsalTokens, local_zone

    if not personal.graph_client_id:
        raise ConfigError(
            "personal.graph_client_id is not set", hint="see docs/outlook.md for the app registration"
        )
    tokens = MsalTokens(personal.graph_tenant, personal.graph_client_id, login_url=personal.graph_login_url)
    return GraphCalendar(
        token_provider=tokens,
        base_url=personal.graph_url or DEFAULT_URL,
        calendar=personal.graph_calendar,
        **{"time_zone": local_zone(), **options},
    )


def outlook_sign_in(settings: Settings, show: Callable[[str], None]) -> str:
    """``calferry login --outlook``: the device code sign-in; the signed-in account's user name."""
    from calferry.personal.graph import sign_in

    return sign_in(_graph_account(settings.personal), show)


def outlook_sign_out(settings: Settings) -> bool:
    """``calferry logout --outlook``: forget the Outlook tokens; False if none were kept."""
    from calferry.personal.graph import sign_out

    return sign_out(_graph_account(settings.personal))


def _graph_account(personal: PersonalSettings) -> GraphAccount:
    from calferry.personal.graph_auth import GraphAccount

    return GraphAccount(personal.graph_tenant, personal.graph_client_id, personal.graph_login_url)


def _ics_path(personal: PersonalSettings) -> Path:
    """``personal.path``, else ``personal.ics`` in CALFERRY_HOME."""
    return Path(personal.path) if personal.path else paths.home() / "personal.ics"


# --- the PSA -------------------------------------------------------------------------------------


def open_psa(settings: Settings) -> AutotaskPsa:
    """The Autotask PSA from ``psa.*`` and the stored secret (``calferry login``)."""
    from calferry.psa.gateway import AutotaskPsa

    psa = settings.psa
    if not psa.username or not psa.integration_code:
        raise ConfigError(
            "psa.username and psa.integration_code must be set",
            hint="calferry config set psa.username ... / psa.integration_code ...",
        )
    client = psa_client(psa, secrets.psa_secret(psa.username, psa.secret_command))
    return AutotaskPsa(client, psa.resource or None, time_zone=psa.time_zone or None)


def psa_client(psa: PsaSettings, secret: str, **options: Any) -> AutotaskClient:
    """A client for ``psa.base_url``, or for the zone of ``psa.zone_user`` (default: ``psa.username``);
    ``options`` go to ``AutotaskClient`` (the org service passes its shared ``gate``)."""
    from calferry.psa.autotask import AutotaskClient

    credentials: dict[str, Any] = {
        "username": psa.username,
        "integration_code": psa.integration_code,
        "secret": secret,
        **options,
    }
    if psa.base_url:
        return AutotaskClient(psa.base_url, **credentials)
    try:
        return AutotaskClient.from_zone(psa.zone_user or psa.username, zone_url=_zone_url(), **credentials)
    except PsaError as error:
        error.hint = "set psa.base_url to your Autotask REST address (…/atservicesrest/v1.0/)" + (
            f"; {error.hint}" if error.hint else ""
        )
        raise


def psa_location(psa: PsaSettings) -> str:
    """The PSA address in use, in words for ``status``: psa.base_url, else what the zone look-up found."""
    from calferry.psa.autotask import cached_zone

    if psa.base_url:
        return str(psa.base_url)
    user = psa.zone_user or psa.username
    found = cached_zone(user, _zone_url(), time.time()) if user else None
    return found or f"looked up from the Autotask zone of {user or '(psa.username not set)'}"


class LazyPsa:
    """The PSA, opened on first use: a command that may not need it (``items``) works with only the
    personal side configured, and one that does gets :func:`open_psa`'s clear error."""

    def __init__(self, opener: Callable[[], Any]) -> None:
        self._opener = opener
        self._psa: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._psa is None:
            self._psa = self._opener()
        return getattr(self._psa, name)

    def close(self) -> None:
        if self._psa is not None:
            self._psa.close()


def _zone_url() -> str:
    from calferry.psa.autotask import DEFAULT_ZONE_URL

    return os.environ.get(ZONE_URL_ENV) or DEFAULT_ZONE_URL

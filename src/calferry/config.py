"""The options (R1, R2) and backend settings: one schema drives the TOML file, the CLI and the docs.

The file is ``config.toml`` in :func:`calferry.paths.home`. Every problem in it is reported at once,
each with its key and line. Secrets never go here: see :mod:`calferry.secrets`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w

from calferry.errors import ConfigError, InputError
from calferry.model import Policy, PsaKind

POLICIES = tuple(p.value for p in Policy)
BACKENDS = ("caldav", "ics", "graph", "memory")
ALL_KINDS = tuple(k.value for k in PsaKind)
MAX_DAYS = 365
"""The Get window reaches at most a year back and a year ahead."""


@dataclass(frozen=True)
class Option:
    """One setting: its dotted key, kind of value, default and help (shown by ``config show`` and the docs)."""

    key: str
    kind: str  # "bool" | "int" | "str" | "choice" | "policy" | "kinds" | "zone"
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    maximum: int | None = None

    @property
    def section(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]


SCHEMA: tuple[Option, ...] = (
    Option(
        "calendar.enabled", "bool", False, "Calendar integration; Send and Get refuse until it is enabled."
    ),
    Option(
        "calendar.get_past_days",
        "int",
        7,
        "Get brings items from this many days before today.",
        maximum=MAX_DAYS,
    ),
    Option(
        "calendar.get_future_days",
        "int",
        30,
        "Get brings items up to this many days after today.",
        maximum=MAX_DAYS,
    ),
    Option(
        "calendar.get_kinds", "kinds", ALL_KINDS, "PSA kinds Get brings: appointment, todo, service-call."
    ),
    Option("calendar.default_action_type", "str", "3", "Default To-Do action type (id or name)."),
    Option(
        "calendar.conflict_policy",
        "policy",
        Policy.KEEP_PERSONAL.value,
        "What Get does with a personal edit not yet sent: keep-personal (report, keep), "
        "psa-wins (overwrite, as the plug-in does), ask (report, change nothing).",
        POLICIES,
    ),
    Option(
        "calendar.delete_threshold",
        "int",
        20,
        "A Get deleting more personal items stops, unless deletions are allowed for that run.",
    ),
    Option(
        "personal.backend", "choice", "caldav", "Your own calendar: caldav, ics, graph or memory.", BACKENDS
    ),
    Option(
        "personal.url",
        "str",
        "",
        "CalDAV calendar URL (personal.backend = caldav); required, there is no default calendar.",
    ),
    Option("personal.username", "str", "", "CalDAV user name (the password: see personal.password_command)."),
    Option(
        "personal.password_command",
        "str",
        "",
        "A command that prints the CalDAV password (e.g. pass show caldav); else CALFERRY_CALDAV_PASSWORD, "
        "the OS keyring, or the file of `calferry login --caldav --store-file`.",
    ),
    Option("personal.path", "str", "", "The .ics file (personal.backend = ics)."),
    Option("personal.graph_tenant", "str", "organizations", "Microsoft Entra tenant id or domain (graph)."),
    Option("personal.graph_client_id", "str", "", "Application (client) id of the app registration (graph)."),
    Option(
        "personal.graph_calendar", "str", "", "Outlook calendar id or name; empty = the default calendar."
    ),
    Option("personal.graph_url", "str", "https://graph.microsoft.com/v1.0", "Microsoft Graph base URL."),
    Option(
        "personal.graph_login_url",
        "str",
        "https://login.microsoftonline.com",
        "Microsoft Entra sign-in base URL (https; only test stand-ins change it).",
    ),
    Option(
        "psa.base_url",
        "str",
        "",
        "Autotask REST base URL (…/atservicesrest/v1.0/); empty = look up the zone (set it if that fails).",
    ),
    Option("psa.zone_user", "str", "", "API user name used to look up the zone when psa.base_url is empty."),
    Option("psa.username", "str", "", "Autotask API user name (the secret: see psa.secret_command)."),
    Option(
        "psa.secret_command",
        "str",
        "",
        "A command that prints the PSA API secret (e.g. pass show autotask); CALFERRY_PSA_SECRET wins "
        "over it, the OS keyring or the file of `calferry login --store-file` come after it.",
    ),
    Option("psa.integration_code", "str", "", "Autotask API tracking identifier (integration code)."),
    Option("psa.resource", "str", "", "You in the PSA: resource id or e-mail; your items and calendar."),
    Option(
        "psa.time_zone",
        "zone",
        "",
        "Your time zone (e.g. Europe/Berlin) if the PSA's location zone is wrong; empty = the location's.",
    ),
)

OPTIONS: dict[str, Option] = {o.key: o for o in SCHEMA}


@dataclass(frozen=True)
class CalendarOptions:
    """The plug-in's Calendar tab (R1, R2) plus the conflict policy (R5-B)."""

    enabled: bool
    get_past_days: int
    get_future_days: int
    get_kinds: tuple[PsaKind, ...]
    default_action_type: str
    conflict_policy: Policy
    delete_threshold: int


@dataclass(frozen=True)
class PersonalSettings:
    backend: str
    url: str
    username: str
    password_command: str
    path: str
    graph_tenant: str
    graph_client_id: str
    graph_calendar: str
    graph_url: str
    graph_login_url: str


@dataclass(frozen=True)
class PsaSettings:
    base_url: str
    zone_user: str
    username: str
    secret_command: str
    integration_code: str
    resource: str
    time_zone: str


@dataclass(frozen=True)
class Settings:
    calendar: CalendarOptions
    personal: PersonalSettings
    psa: PsaSettings

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "settings", text: str = "") -> Settings:
        """Validate a nested mapping (as in the TOML file); raise one ConfigError listing every problem."""
        values, problems = _validate(data, text)
        if problems:
            raise ConfigError(f"{source} has {len(problems)} problem(s)", problems=problems)
        return cls(
            calendar=_section(CalendarOptions, "calendar", values),
            personal=_section(PersonalSettings, "personal", values),
            psa=_section(PsaSettings, "psa", values),
        )

    def get(self, key: str) -> Any:
        option = _option(key)
        value = getattr(getattr(self, option.section), option.name)
        return _plain(value)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every setting, nested by section, as plain TOML/JSON values."""
        nested: dict[str, dict[str, Any]] = {}
        for option in SCHEMA:
            nested.setdefault(option.section, {})[option.name] = self.get(option.key)
        return nested


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [v.value if isinstance(v, PsaKind) else v for v in value]
    return value.value if isinstance(value, Policy) else value


def _section(cls: type[Any], name: str, values: Mapping[str, Any]) -> Any:
    return cls(**{f.name: values[f"{name}.{f.name}"] for f in fields(cls)})


def _option(key: str) -> Option:
    try:
        return OPTIONS[key]
    except KeyError:
        raise ConfigError(f"unknown setting {key!r}", hint=f"known settings: {', '.join(OPTIONS)}") from None


def _validate(data: Mapping[str, Any], text: str) -> tuple[dict[str, Any], list[str]]:
    values = {o.key: _converted_default(o) for o in SCHEMA}
    keys = _key_lines(text)
    problems: list[str] = []
    for section, entries in data.items():
        if not isinstance(entries, Mapping):
            problems.append(f"{_where((section,), keys)}[{section}] must be a table")
            continue
        for name, raw in entries.items():
            key = f"{section}.{name}"
            option = OPTIONS.get(key)
            if option is None:
                problems.append(f"{_where((section, name), keys)}{key}: unknown setting")
                continue
            try:
                values[key] = _CONVERTERS[option.kind](option, raw)
            except ValueError as exc:
                problems.append(f"{_where((section, name), keys)}{key}: {exc}")
    return values, problems


def _converted_default(option: Option) -> Any:
    return _CONVERTERS[option.kind](option, option.default)


_KEY_PART = r"""\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')\s*"""
_KEY = rf"{_KEY_PART}(?:\.{_KEY_PART})*"
_TABLE_LINE = re.compile(rf"\s*\[\[?(?P<key>{_KEY})\]\]?\s*(?:#.*)?$")
_KEY_LINE = re.compile(rf"(?P<key>{_KEY})=")
_MULTILINE_QUOTES = re.compile(r"\"\"\"|'''")


def _key_lines(text: str) -> list[tuple[tuple[str, ...], int]]:
    """Each table header and key in the TOML text as a full path (quotes resolved), with its line number.

    Dotted keys, quoted keys, inline tables and sub-tables all end up under the section they set, so a
    problem can point at the line that caused it; lines inside multi-line strings are skipped.
    """
    table: tuple[str, ...] = ()
    found: list[tuple[tuple[str, ...], int]] = []
    in_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not in_string and (header := _TABLE_LINE.match(line)):
            table = _key_path(header["key"])
            found.append((table, number))
        elif not in_string and (assignment := _KEY_LINE.match(line)):
            found.append((table + _key_path(assignment["key"]), number))
        in_string ^= len(_MULTILINE_QUOTES.findall(line)) % 2 == 1
    return found


def _key_path(key: str) -> tuple[str, ...]:
    """The parts of a TOML key exactly as TOML reads them (``"a".b`` is ``("a", "b")``)."""
    path: list[str] = []
    node: Any = tomllib.loads(f"{key} = 0")
    while isinstance(node, dict):
        name, node = next(iter(node.items()))
        path.append(name)
    return tuple(path)


def _where(path: tuple[str, ...], keys: list[tuple[tuple[str, ...], int]]) -> str:
    """``line N: `` for a setting, so a person can find it; empty if the text does not show it.

    The first line that sets the key or something inside it (``personal.url = ...`` for ``bogus.personal``);
    failing that, the nearest enclosing table or inline table (``calendar = { enabled = "x" }``).
    """
    inside = [number for found, number in keys if found[: len(path)] == path]
    enclosing = [(len(found), number) for found, number in keys if path[: len(found)] == found]
    if inside:
        return f"line {inside[0]}: "
    if enclosing:
        return f"line {max(enclosing)[1]}: "
    return ""


def _to_bool(option: Option, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(raw, str) and raw.lower() in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _to_int(option: Option, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a whole number, got {raw!r}")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    if option.maximum is not None and value > option.maximum:
        raise ValueError(f"at most {option.maximum} days (a year), got {value}")
    return value


def _to_str(option: Option, raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f"expected text, got {raw!r}")
    return str(raw)


def _to_choice(option: Option, raw: Any) -> str:
    if raw not in option.choices:
        raise ValueError(f"expected one of {', '.join(option.choices)}, got {raw!r}")
    return str(raw)


def _to_policy(option: Option, raw: Any) -> Policy:
    return Policy(_to_choice(option, raw))


def to_policy(raw: Any) -> Policy:
    """A conflict policy entered on a page or in the org settings; ``InputError`` names the choices."""
    if raw not in POLICIES:
        raise InputError(f"the policy must be one of {', '.join(POLICIES)}")
    return Policy(raw)


def _to_zone(option: Option, raw: Any) -> str:
    """Empty, or a zone name this machine's time-zone database knows (IANA, e.g. Europe/Berlin)."""
    name = _to_str(option, raw).strip()
    if name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}; use a name such as Europe/Berlin") from None
    return name


def _to_kinds(option: Option, raw: Any) -> tuple[PsaKind, ...]:
    items = [p.strip() for p in raw.split(",")] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected a list of {', '.join(ALL_KINDS)}")
    unknown = [i for i in items if i not in ALL_KINDS]
    if unknown:
        raise ValueError(f"unknown kind(s) {', '.join(map(str, unknown))}; expected {', '.join(ALL_KINDS)}")
    return tuple(PsaKind(i) for i in dict.fromkeys(items))


_CONVERTERS: dict[str, Callable[[Option, Any], Any]] = {
    "bool": _to_bool,
    "int": _to_int,
    "str": _to_str,
    "choice": _to_choice,
    "policy": _to_policy,
    "kinds": _to_kinds,
    "zone": _to_zone,
}


# --- the file -------------------------------------------------------------------------------


def read_file(path: Path) -> tuple[dict[str, Any], str]:
    """The raw nested mapping and text of a config file ({} if it does not exist)."""
    if not path.exists():
        return {}, ""
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def load_settings(path: Path | None = None) -> Settings:
    """The settings from ``config.toml`` (defaults for what it does not say)."""
    from calferry.paths import config_file

    target = path or config_file()
    data, text = read_file(target)
    return Settings.from_dict(data, source=str(target), text=text)


def set_value(key: str, raw: str, path: Path | None = None) -> Settings:
    """Validate and write one setting, keeping the rest of the file; returns the new settings."""
    from calferry.paths import config_file, write_private

    option = _option(key)
    target = path or config_file()
    data, _ = read_file(target)
    try:
        value = _plain(_CONVERTERS[option.kind](option, raw))
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    data.setdefault(option.section, {})[option.name] = value
    settings = Settings.from_dict(data, source=str(target))
    write_private(target, tomli_w.dumps(data))
    return settings


def write_settings(values: Mapping[str, Any], path: Path | None = None) -> Settings:
    """Write several settings (dotted keys) at once, e.g. for ``calferry demo``."""
    from calferry.paths import config_file, write_private

    target = path or config_file()
    data, _ = read_file(target)
    for key, value in values.items():
        option = _option(key)
        data.setdefault(option.section, {})[option.name] = _plain(_CONVERTERS[option.kind](option, value))
    settings = Settings.from_dict(data, source=str(target))
    write_private(target, tomli_w.dumps(data))
    return settings


def markdown_table() -> str:
    """The settings reference for the README, generated from the schema."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for o in SCHEMA:
        default = ", ".join(o.default) if isinstance(o.default, tuple) else str(o.default).lower()
        rows.append(f"| `{o.key}` | `{default}` | {o.help} |")
    return "\n".join(rows)

"""No 500, ever: every route of the web page checks its input and answers a bad value with 400 and a
sentence on the page's own HTML; unknown addresses get the page's own 404. A property-based run drives
every route in-process (over ASGI) against the real PSA server app and Radicale with hostile values.
"""

from __future__ import annotations

import html
from datetime import date
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from calferry import config, paths
from calferry.web.app import default_service_factory
from calferry.web.options_routes import FIELDS
from tests.fixtures.web_client import WebClient
from tests.system.conftest import Cli

SEED = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
    "BEGIN:VEVENT\r\nUID:visit\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Visit\r\n"
    "DTSTART:{day}T150000Z\r\nDTEND:{day}T160000Z\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:standup\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Standup\r\n"
    "DTSTART:{day}T130000Z\r\nDTEND:{day}T131500Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)
EDGES = (
    "", " ", "0", "-1", "abc", "9" * 30, "1e309", "NaN", "0001-01-01", "9999-12-31", "2026-12-04",
    "2026-13-45", "2026-12-04T10:00", "9999-12-31T23:59", "0001-01-01T00:00", "2026-12-04T10:00+14:00",
    "visit", "standup@20261130T130000Z", "nobody@home", "../../etc/passwd", "%00", "\x00", "appointment",
    "todo", "service-call", "personal", "psa", "keep-personal", "psa-wins", "ask", "Contoso Dental", "3",
    "Opportunity Update", "true", "false", "appointment,todo", "<script>alert(1)</script>",
)  # fmt: skip
TEXT = st.one_of(
    st.sampled_from(EDGES),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.integers().map(str),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat(timespec="minutes")),
)
MANY = st.lists(TEXT, max_size=3)
Fields = dict[str, Any]


def params(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Fields]:
    """Some of ``fields``, each with a drawn value (a route must cope with any being left out)."""
    return st.fixed_dictionaries({}, optional=fields)


ROUTES: dict[tuple[str, str], st.SearchStrategy[Fields]] = {
    ("GET", "/"): params(),
    ("GET", "/calendar"): params(start=TEXT, end=TEXT, ref=MANY),
    ("GET", "/send"): params(ref=MANY, start=TEXT, end=TEXT),
    ("POST", "/send"): params(
        ref=MANY, kind=MANY, company=MANY, contact=MANY, action_type=MANY, start=TEXT, end=TEXT
    ),
    ("GET", "/get"): params(policy=TEXT),
    ("POST", "/get"): params(plan_id=TEXT),
    ("GET", "/add"): params(kind=TEXT),
    ("POST", "/add"): params(
        kind=TEXT,
        title=TEXT,
        company=TEXT,
        contact=TEXT,
        action_type=TEXT,
        start=TEXT,
        end=TEXT,
        tickets=TEXT,
        tasks=TEXT,
        description=TEXT,
        ticket=MANY,
        task=MANY,
    ),
    ("GET", "/conflicts"): params(),
    ("POST", "/conflicts"): params(ref=TEXT, keep=TEXT),
    ("GET", "/log"): params(limit=TEXT),
    ("GET", "/options"): params(),
    ("POST", "/options"): params(**{key: st.one_of(TEXT, MANY) for key in FIELDS}),
    ("GET", "/static/calferry.css"): params(),
}
UNKNOWN = st.text(st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=12)


def page(cli: Cli) -> WebClient:
    cli.seed_ical(SEED.format(day=f"{date.today():%Y%m%d}"))
    return WebClient(default_service_factory(), raise_server_exceptions=True)


def ask(web: WebClient, method: str, path: str, fields: Fields) -> Any:
    if method == "GET":
        return web.http.get(path, params=fields)
    return web.post(path, fields)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_route_answers_with_a_server_error(cli: Cli, data: st.DataObject) -> None:
    web = page(cli)
    method, path = data.draw(st.sampled_from(sorted(ROUTES)), label="route")
    fields = data.draw(ROUTES[method, path], label="fields")
    answer = ask(web, method, path, fields)
    event(f"{method} {path} {answer.status_code}")
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"].startswith("text/html"), answer.text


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=UNKNOWN, method=st.sampled_from(("GET", "POST")))
def test_an_unknown_address_gets_the_pages_own_404(cli: Cli, path: str, method: str) -> None:
    web = page(cli)
    answer = web.http.get(f"/{path}/x") if method == "GET" else web.post(f"/{path}/x", {})
    assert answer.status_code == 404
    assert "There is no such page here." in answer.text and "<nav" in answer.text


def options_form(**changes: str) -> Fields:
    """The Options form as the page submits it: every field at its current value but ``changes``."""
    current = config.load_settings()
    form: Fields = {key: str(current.get(key)) for key in FIELDS}
    form["calendar.enabled"] = "true" if current.calendar.enabled else []
    form["calendar.get_kinds"] = current.get("calendar.get_kinds")
    return {**form, **{key.replace("__", "."): value for key, value in changes.items()}}


def sentence(answer: Any) -> str:
    assert answer.headers["content-type"].startswith("text/html")
    return html.unescape(answer.text)


def test_the_calendar_refuses_a_range_to_the_year_9999(cli: Cli) -> None:
    answer = page(cli).get("/calendar", start="2026-01-01", end="9999-12-31")
    assert answer.status_code == 400
    assert "between 1900 and 2999" in sentence(answer)


def test_the_log_refuses_a_huge_or_wordy_limit(cli: Cli) -> None:
    web = page(cli)
    for limit, words in (
        ("9" * 30, "less than or equal to 1000"),
        ("abc", "valid integer"),
        ("0", "greater than"),
    ):
        answer = web.get("/log", limit=limit)
        assert answer.status_code == 400, limit
        assert words in sentence(answer) and "limit" in sentence(answer)


def test_a_get_window_of_three_million_days_is_refused_with_a_sentence(cli: Cli) -> None:
    web = page(cli)
    answer = web.post("/options", options_form(calendar__get_future_days="3000000"))
    assert "at most 365 days (a year), got 3000000" in sentence(answer)
    assert config.load_settings().calendar.get_future_days == 30
    refused = cli.run("config", "set", "calendar.get_future_days", "3000000", json_output=False)
    assert refused.exit_code == 3 and "at most 365 days" in refused.stderr

    text = (
        paths.config_file()
        .read_text(encoding="utf-8")
        .replace("[calendar]", "[calendar]\nget_future_days = 3000000")
    )
    paths.config_file().write_text(text, encoding="utf-8")  # edited by hand
    preview = web.get("/get")
    assert 400 <= preview.status_code < 500
    assert "at most 365 days (a year), got 3000000" in sentence(preview)


def test_r5b_the_get_preview_refuses_an_unknown_policy_naming_the_three(cli: Cli) -> None:
    web = page(cli)
    answer = web.get("/get", policy="coin-toss")
    assert answer.status_code == 400
    assert "the policy must be one of keep-personal, psa-wins, ask" in sentence(answer)
    assert web.get("/get", policy="psa-wins").status_code == 200


def test_the_default_action_type_must_exist_and_suit_to_dos(cli: Cli) -> None:
    web = page(cli)
    for name, words in (
        ("No such type", "no action type"),
        ("Opportunity Update", "not one the PSA offers for To-Dos"),
    ):
        answer = web.post("/options", options_form(calendar__default_action_type=name))
        assert words in sentence(answer).lower() or words in sentence(answer), name
        assert config.load_settings().calendar.default_action_type == "3"
    assert "Options saved." in sentence(
        web.post("/options", options_form(calendar__default_action_type="Phone Call"))
    )
    assert config.load_settings().calendar.default_action_type == "Phone Call"


def test_the_cli_refuses_the_same_out_of_range_input_with_a_sentence(cli: Cli) -> None:
    listed = cli.run("items", "--from", "2026-01-01", "--to", "9999-12-31")
    assert listed.exit_code == 5 and "between 1900 and 2999" in listed.data["error"]["message"]
    log = cli.run("log", "--limit", "9" * 30, json_output=False)
    assert log.exit_code == 2 and "1000" in log.stderr
    added = cli.run(
        "add", "appointment", "--title", "Far", "--start", "9999-12-31T23:00", "--end", "9999-12-31T23:30"
    )
    assert added.exit_code == 5 and "between 1900 and 2999" in added.data["error"]["message"]

"""The Graph adapter reads the documented v1.0 payloads (recorded in tests/fixtures/graph/) and signs in.

The payloads are parsed as Graph sends them, error answers are translated, the wire form of times
round-trips, and sign-in runs against an object standing in for msal's application (Microsoft Entra
cannot run here). Only the last test needs the Graph stand-in.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msal
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calferry import errors, http, secrets, wiring
from calferry.config import Settings
from calferry.model import Origin, PersonalItem, PersonalKind, PsaKind, ShowAs, Stamp, Window
from calferry.personal import graph, graph_events, token_cache
from tests.fixtures.graph_standin import GraphStandin

PAYLOADS = Path(__file__).parent.parent / "fixtures" / "graph"


def _payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


def test_calendarview_page_from_the_docs_is_read() -> None:
    event = _payload("calendarview_page.json")["value"][0]
    item = graph.parse_event(event)
    assert item.uid == event["iCalUId"] and not item.recurring and item.recurrence_id is None
    assert item.start == datetime(2017, 1, 3, 18, tzinfo=UTC)  # 10:00 Pacific Standard Time
    assert item.subject == "Review + listen: Lunch & Learn"
    assert item.location == "Conf Room Baker"
    assert item.categories == ("Red category",)
    assert item.reminder_minutes == 15
    assert item.version == 'W/"ZlnW4RIAV06KYYwlrfNZvQAAKGWwbw=="'


def test_r9_event_with_attendees_is_a_meeting() -> None:
    item = graph.parse_event(_payload("calendarview_page.json")["value"][0])
    assert item.attendees == ("samanthab@contoso.com",)
    assert item.kind is PersonalKind.MEETING


def test_occurrence_and_exception_carry_the_series_uid_and_original_start() -> None:
    occurrence, exception = (graph.parse_event(e) for e in _payload("instances_series.json")["value"])
    assert occurrence.uid == exception.uid == "AAMkADAGu0AABIGYDaAAA="
    assert occurrence.recurring and exception.recurring
    assert occurrence.recurrence_id == datetime(2017, 10, 2, 14, tzinfo=UTC)
    assert exception.recurrence_id == datetime(2017, 10, 16, 14, tzinfo=UTC)  # not its moved start
    assert exception.start == datetime(2017, 10, 17, 9, tzinfo=UTC)
    assert occurrence.ref == "AAMkADAGu0AABIGYDaAAA=@20171002T140000Z"


def test_r18_private_and_confidential_sensitivity_read_as_private() -> None:
    occurrence, exception = (graph.parse_event(e) for e in _payload("instances_series.json")["value"])
    assert occurrence.private and exception.private
    assert graph.parse_event(_payload("calendarview_page.json")["value"][0]).private is False


def test_show_as_and_reminder_off_are_read() -> None:
    occurrence, exception = (graph.parse_event(e) for e in _payload("instances_series.json")["value"])
    assert occurrence.show_as is ShowAs.TENTATIVE and occurrence.reminder_minutes is None
    assert exception.show_as is ShowAs.BUSY and exception.reminder_minutes == 30


def test_all_day_event_reads_as_dates_with_the_stamp_from_the_one_extended_property() -> None:
    item = graph.parse_event(_payload("event_all_day_with_stamp.json"))
    assert item.start == date(2026, 12, 24) and item.end == date(2026, 12, 26)
    assert item.kind is PersonalKind.EVENT and item.show_as is ShowAs.OUT_OF_OFFICE
    assert item.stamp == Stamp(PsaKind.APPOINTMENT, 29683, Origin.DOWNLOADED)


def test_delta_pages_from_the_docs_have_sparse_occurrences_and_removals() -> None:
    first, last = _payload("delta_pages.json")
    assert graph.parse_event(first["value"][0]).subject == "Plan shopping list"
    assert "subject" not in first["value"][1]  # why changed items are re-read through $batch
    assert "@removed" in last["value"][0] and "@odata.deltaLink" in last


def test_malformed_event_is_reported_not_guessed() -> None:
    with pytest.raises(errors.MalformedCalendar, match="AAMk-broken"):
        graph.parse_event({"id": "AAMk-broken", "start": {"dateTime": "not a time", "timeZone": "UTC"}})


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("stale_change_key", errors.StaleVersion),
        ("expired_delta_token", errors.SyncTokenExpired),
        ("expired_token", errors.CredentialsMissing),
        ("no_permission", errors.PermissionDenied),
        ("throttled", errors.PersonalUnavailable),
        ("not_found", errors.NotFound),
    ],
)
def test_documented_error_answers_are_translated(case: str, error: type[Exception]) -> None:
    answer = _payload("errors.json")[case]
    assert isinstance(graph.translate(answer["status"], answer["body"]), error)


def test_retry_after_is_read_from_a_batch_member() -> None:
    member = _payload("batch_with_throttled_member.json")["responses"][0]
    assert http.retry_after(member["headers"]) == 3.0


_zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"])


@given(
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    zone=_zones,
)
def test_timed_boundaries_round_trip_the_wire_form_as_the_same_instant(moment: datetime, zone: str) -> None:
    aware = moment.replace(microsecond=0, tzinfo=ZoneInfo(zone))
    # compared as instants: Python never calls a wall time inside a DST gap or fold equal across zones
    assert graph_events._when(graph_events._graph_time(aware), all_day=False) == aware.astimezone(UTC)


@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)), offset_hours=st.integers(-11, 11)
)
def test_all_day_boundaries_read_as_their_day_even_when_given_as_a_zones_midnight_in_utc(
    day: date, offset_hours: int
) -> None:
    assert graph_events._when(graph_events._graph_time(day), all_day=True) == day
    shifted = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=offset_hours)
    assert graph_events._instant(shifted.isoformat(), all_day=True) == day


def test_r9_items_from_the_psa_are_written_without_attendees() -> None:
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    item = PersonalItem("u", start, start + timedelta(hours=1), attendees=("a@example.com",))
    downloaded = Stamp(PsaKind.APPOINTMENT, 1, Origin.DOWNLOADED)
    assert graph_events.invites_allowed(item)
    assert not graph_events.invites_allowed(
        PersonalItem("u", start, start, attendees=("a@example.com",), stamp=downloaded)
    )


# --- sign-in ------------------------------------------------------------------------------------


def _account() -> graph.GraphAccount:
    return graph.GraphAccount("contoso.onmicrosoft.com", "11111111-2222-3333-4444-555555555555")


class _EntraApp:
    """Plays msal.PublicClientApplication's device-code part, answering as Entra's documented flow does."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self.token_cache = _Cache()

    def initiate_device_flow(self, scopes: list[str]) -> dict[str, Any]:
        assert scopes == ["Calendars.ReadWrite"]
        message = "To sign in, use a web browser to open https://microsoft.com/devicelogin and enter ABC123."
        return {"user_code": "ABC123", "message": message, "device_code": "dc"}

    def acquire_token_by_device_flow(self, flow: dict[str, Any]) -> dict[str, Any]:
        return self.result


class _Cache:
    def serialize(self) -> str:
        return '{"AccessToken": {}}'


def test_sign_in_shows_the_device_code_message_and_keeps_the_cache_in_the_keyring() -> None:
    shown: list[str] = []
    claims = {"preferred_username": "tech@contoso.com"}
    who = graph.sign_in(
        _account(), shown.append, app=_EntraApp({"access_token": "t", "id_token_claims": claims})
    )
    assert who == "tech@contoso.com"
    assert "ABC123" in shown[0]
    name = "graph-token-cache:contoso.onmicrosoft.com:11111111-2222-3333-4444-555555555555"
    assert secrets.load(name) == '{"AccessToken": {}}'
    assert graph.sign_out(_account()) is True
    assert secrets.load(name) is None


def test_sign_in_refused_consent_is_credentials_missing() -> None:
    refused = {
        "error": "invalid_grant",
        "error_description": "AADSTS65001: The user or administrator has not consented.",
    }
    with pytest.raises(errors.CredentialsMissing, match="AADSTS65001"):
        graph.sign_in(_account(), print, app=_EntraApp(refused))


def test_r12_without_a_stored_sign_in_the_adapter_asks_to_log_in() -> None:
    tokens = graph.MsalTokens("contoso.onmicrosoft.com", "11111111-2222-3333-4444-555555555555")
    with pytest.raises(errors.CredentialsMissing) as caught:
        tokens()
    assert "calferry login --outlook" in str(caught.value)


TENANT, CLIENT_ID = "contoso.onmicrosoft.com", "11111111-2222-3333-4444-555555555555"
CACHE_NAME = f"graph-token-cache:{TENANT}:{CLIENT_ID}"
TOKEN_ENDPOINT = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _token_answer(access_token: str, refresh_token: str, grant_type: str) -> dict[str, Any]:
    """What msal hands its cache after Entra's token endpoint answered (client_info names the account)."""
    claims = {"oid": "aaaa-oid", "tid": "tttt-tid", "preferred_username": "tech@contoso.com"}
    return {
        "client_id": CLIENT_ID,
        "scope": ["Calendars.ReadWrite"],
        "token_endpoint": TOKEN_ENDPOINT,
        "grant_type": grant_type,
        "response": {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": 3600,
            "token_type": "Bearer",
            "client_info": _b64({"uid": "aaaa-oid", "utid": "tttt-tid"}),
            "id_token": f"{_b64({'alg': 'none'})}.{_b64(claims)}.",
        },
    }


def _signed_in_keyring() -> str:
    """A token cache as ``calferry login --outlook`` leaves it in the keyring."""
    cache = msal.SerializableTokenCache()
    cache.add(
        _token_answer(
            "first-access-token", "first-refresh-token", "urn:ietf:params:oauth:grant-type:device_code"
        )
    )
    stored = str(cache.serialize())
    secrets.store(CACHE_NAME, stored)
    return stored


class _RefreshingEntra:
    """Plays msal.PublicClientApplication's silent part over the token cache it was built with.

    A refresh that Entra grants puts the new (rotated) tokens into that cache, as msal does; a refused
    one returns Entra's error and leaves the cache alone.
    """

    def __init__(self, cache: msal.SerializableTokenCache, refusal: dict[str, Any] | None) -> None:
        self.cache, self.refusal = cache, refusal
        self.asked: list[tuple[list[str], str]] = []

    def get_accounts(self) -> list[dict[str, Any]]:
        return list(self.cache.search(msal.TokenCache.CredentialType.ACCOUNT))

    def acquire_token_silent_with_error(self, scopes: list[str], account: dict[str, Any]) -> dict[str, Any]:
        self.asked.append((scopes, account["username"]))
        if self.refusal is not None:
            return self.refusal
        self.cache.add(_token_answer("refreshed-access-token", "rotated-refresh-token", "refresh_token"))
        return {"access_token": "refreshed-access-token", "token_type": "Bearer", "expires_in": 3600}


def test_silent_refresh_uses_the_stored_sign_in_and_keeps_the_refreshed_cache_in_the_keyring() -> None:
    _signed_in_keyring()
    apps: list[_RefreshingEntra] = []

    def make_app(cache: msal.SerializableTokenCache) -> _RefreshingEntra:
        apps.append(_RefreshingEntra(cache, None))
        return apps[-1]

    tokens = graph.MsalTokens(TENANT, CLIENT_ID, make_app=make_app)
    assert tokens() == "refreshed-access-token"
    assert apps[0].asked == [(["Calendars.ReadWrite"], "tech@contoso.com")]
    stored = json.loads(token_cache.load(CACHE_NAME) or "{}")
    assert {t["secret"] for t in stored["RefreshToken"].values()} == {"rotated-refresh-token"}
    assert {t["secret"] for t in stored["AccessToken"].values()} == {"refreshed-access-token"}


def test_refused_silent_refresh_says_entras_reason_and_asks_to_sign_in_again() -> None:
    before = _signed_in_keyring()
    refusal = {
        "error": "invalid_grant",
        "error_description": "AADSTS700082: The refresh token has expired due to inactivity. The token was "
        "issued on 2026-01-02T10:00:00Z and was inactive for 90.00:00:00.\r\nTrace ID: 0000\r\n",
        "error_codes": [700082],
        "suberror": "bad_token",
    }
    tokens = graph.MsalTokens(TENANT, CLIENT_ID, make_app=lambda cache: _RefreshingEntra(cache, refusal))
    with pytest.raises(errors.CredentialsMissing) as caught:
        tokens()
    assert "AADSTS700082: The refresh token has expired due to inactivity" in caught.value.message
    assert "Trace ID" not in caught.value.message  # only Entra's first line
    assert caught.value.hint is not None and "calferry login --outlook" in caught.value.hint
    assert secrets.load(CACHE_NAME) == before  # nothing new to keep


def test_missing_client_id_is_a_config_error() -> None:
    with pytest.raises(errors.ConfigError, match="graph_client_id"):
        wiring.graph_calendar(Settings.from_dict({"personal": {"backend": "graph"}}).personal)


def test_r12_configured_but_not_signed_in_outlook_asks_to_log_in(graph_standin: GraphStandin) -> None:
    settings = Settings.from_dict(
        {
            "personal": {
                "backend": "graph",
                "graph_client_id": "11111111-2222-3333-4444-555555555555",
                "graph_url": graph_standin.url,
            }
        }
    )
    calendar = wiring.graph_calendar(settings.personal)
    with pytest.raises(errors.CredentialsMissing, match="calferry login --outlook"):
        calendar.snapshot(Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)))
    assert graph_standin.mailbox.stats.requests == []  # nothing was sent without a token
    calendar.close()

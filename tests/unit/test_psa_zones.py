"""``InternalLocations.timeZone`` in every form a tenant may answer, and hostile text never crashes."""

from __future__ import annotations

from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given
from hypothesis import strategies as st
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from calferry.psa.zones import MS_INDEX, iana_zone, is_iana

IANA = sorted(available_timezones())


@given(st.one_of(st.none(), st.text(max_size=120), st.integers(), st.floats()))
def test_any_value_gives_a_usable_zone_or_none_and_never_raises(value: object) -> None:
    zone = iana_zone(value)
    assert zone is None or ZoneInfo(zone)


@given(st.sampled_from(IANA))
def test_an_iana_name_is_kept(name: str) -> None:
    assert iana_zone(name) == name


@given(st.sampled_from(sorted(WINDOWS_TO_OLSON)), st.sampled_from([str, str.upper, str.lower]))
def test_a_windows_zone_name_in_any_case_is_its_iana_zone(name: str, case: object) -> None:
    given = case(name)  # type: ignore[operator]
    expected = given if is_iana(given) else WINDOWS_TO_OLSON[name]  # "UTC" is a name in both tables
    assert iana_zone(given) == expected


@given(st.sampled_from(sorted(MS_INDEX)), st.sampled_from(["{}", " {} ", "{:03d}"]))
def test_a_microsoft_index_as_text_or_number_is_its_zone(index: int, form: str) -> None:
    zone = iana_zone(form.format(index))
    assert zone == MS_INDEX[index] and ZoneInfo(zone)
    assert iana_zone(index) == zone


def test_known_values() -> None:
    assert iana_zone("35") == "America/New_York"
    assert iana_zone("Eastern Standard Time") == "America/New_York"
    assert iana_zone("AUS Eastern Standard Time") == "Australia/Sydney"
    assert iana_zone("(GMT-05:00) Eastern Time (US & Canada)") is None
    assert (
        iana_zone("²") is None
        and iana_zone("999") is None
        and iana_zone("") is None
        and iana_zone(None) is None
    )

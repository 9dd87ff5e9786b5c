"""Hostile input on the org's personal side: settings, a technician's e-mail in the password command, mailboxes.

Whatever an admin types or a technician's address holds, a setting is refused with a reason or kept in a
form that is safe to use; an e-mail address filled into ``caldav_secret_command`` is always exactly one
argument of the command (no shell ever runs it); a mailbox is refused or stays one path segment.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calferry.errors import ConfigError, InputError
from calferry.org.calendars import mailbox_of
from calferry.org.personal_settings import EMAIL_FIELD, PERSONAL_CHECKS
from calferry.org.store import OrgSettings, Technician
from calferry.secrets import command_words

hostile = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(email=hostile)
def test_an_email_filled_into_the_command_is_always_one_argument(email: str) -> None:
    words = command_words(f"pass show 'caldav/{EMAIL_FIELD}' --clip", {EMAIL_FIELD: email})
    assert words == ["pass", "show", f"caldav/{email}", "--clip"]


@given(key=st.sampled_from(sorted(PERSONAL_CHECKS)), raw=hostile)
def test_a_personal_setting_is_refused_with_a_reason_or_kept_as_one_clean_line(key: str, raw: str) -> None:
    try:
        kept = OrgSettings().with_value(key, raw)
    except InputError as error:
        assert str(error)
        return
    value = getattr(kept, key)
    assert isinstance(value, str) and value == value.strip()
    assert not any(ord(c) < 32 for c in value)
    if key == "graph_tenant":
        assert "/" not in value and "?" not in value and "#" not in value
    if key in ("graph_url", "graph_login_url") and value:
        assert value.startswith(("https://", "http://"))


@given(mailbox=hostile)
def test_a_mailbox_is_refused_or_one_path_segment(mailbox: str) -> None:
    technician = Technician(1, 1, "someone@example.com", "graph", mailbox)
    try:
        found = mailbox_of(technician)
    except ConfigError:
        return
    assert "/" not in quote(found, safe="@") and "@" in found


def test_without_a_mailbox_on_the_row_the_email_address_is_the_mailbox() -> None:
    assert mailbox_of(Technician(1, 1, "nora@example.com", "graph", "  ")) == "nora@example.com"
    with pytest.raises(ConfigError, match="not an Outlook mailbox"):
        mailbox_of(Technician(1, 1, "nora@example.com", "graph", "../other/calendar"))


def test_an_outlook_technician_without_the_orgs_app_set_up_is_told_what_the_admin_must_set() -> None:
    from calferry.org.calendars import open_calendar

    with pytest.raises(ConfigError, match="Graph app is not set up") as refused:
        open_calendar(OrgSettings(), Technician(1, 1, "nora@example.com", "graph", "nora@example.com"), "UTC")
    assert "graph_tenant" in str(refused.value.hint) and "graph_client_id" in str(refused.value.hint)

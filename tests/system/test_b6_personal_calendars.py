"""B6: the same commands work on another kind of personal calendar: a plain .ics file instead of CalDAV."""

from __future__ import annotations

from pathlib import Path

from calferry.model import ItemKey, PersonalItem, PsaKind
from calferry.personal.ics import IcsCalendar
from tests.system.conftest import EVERYTHING, Cli, at


def test_b6_send_and_get_with_an_ics_file_as_the_personal_calendar(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "my-calendar.ics"
    cli.set("personal.backend", "ics")
    cli.set("personal.path", str(path))
    IcsCalendar(path).create(PersonalItem("ics-1", at(2, 14), at(2, 15), "Budget review"))

    sent = cli.ok("send", "ics-1")
    psa_id = sent.actions(ref="ics-1", outcome="done")[0]["psa_id"]
    assert cli.psa_get("Appointments", psa_id)["title"] == "Budget review"
    stamp = IcsCalendar(path).get(ItemKey("ics-1")).stamp
    assert stamp is not None and (stamp.psa_kind, stamp.psa_id) == (PsaKind.APPOINTMENT, psa_id)

    fetched = cli.ok("get")
    downloaded = {a["ref"] for a in fetched.actions(action="create", outcome="done")}
    in_file = {i.uid for i in IcsCalendar(path).snapshot(EVERYTHING).items}
    assert downloaded and downloaded <= in_file
    assert "ics-1" in in_file and cli.personal_items() == [], "nothing went to the CalDAV calendar"


def test_b6_items_lists_the_ics_file_with_states(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "cal.ics"
    cli.set("personal.backend", "ics")
    cli.set("personal.path", str(path))
    calendar = IcsCalendar(path)
    calendar.create(PersonalItem("a", at(1, 9), at(1, 10), "Sent one"))
    calendar.create(PersonalItem("b", at(1, 11), at(1, 12), "Kept here"))
    cli.ok("send", "a")
    states = {i["ref"]: i["state"] for i in cli.ok("items").data["items"]}
    assert states == {"a": "sent", "b": "not sent"}

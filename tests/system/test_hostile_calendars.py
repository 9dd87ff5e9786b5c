"""Hostile calendars through the CLI: ``items`` lists the good, names the bad and exits 11; ``import``
stores a runaway series verbatim with a note; Get's guard names unreadable items. Against the real PSA
server, a real Radicale and real .ics files."""

from __future__ import annotations

from pathlib import Path

from calferry.personal.radicale import bulk_put
from tests.system.conftest import Cli, at

SKIPPED_EXIT = 11


def stamp(days: int, hour: int = 9) -> str:
    return f"{at(days, hour):%Y%m%dT%H%M%SZ}"


def vevent(uid: str, days: int, *lines: str, summary: str = "Bad") -> str:
    start, end = stamp(days), stamp(days, 10)
    body = [
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"DTSTART:{start}",
        f"DTEND:{end}",
        f"SUMMARY:{summary}",
        *lines,
    ]
    return "BEGIN:VEVENT\r\n" + "".join(f"{line}\r\n" for line in body) + "END:VEVENT\r\n"


def vcalendar(*events: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hostile//EN\r\n" + "".join(events) + "END:VCALENDAR\r\n"
    )


GOOD = vevent("good-1", 2, summary="Customer visit")
RUNAWAY = vevent("runaway", 1, "RRULE:FREQ=SECONDLY")
STUCK = vevent("stuck", 1, "RRULE:FREQ=DAILY;INTERVAL=0")


def use_file(cli: Cli, path: Path) -> None:
    cli.set("personal.backend", "ics")
    cli.set("personal.path", str(path))


def test_items_on_an_ics_file_lists_the_good_names_the_bad_and_exits_11(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mine.ics"
    path.write_bytes(
        vcalendar(RUNAWAY, "END:VEVENT\r\n", STUCK, vevent("two", 1, f"DTSTART:{stamp(1)}"), GOOD).encode()
    )
    use_file(cli, path)
    listed = cli.run("items")
    assert listed.exit_code == SKIPPED_EXIT
    assert [i["subject"] for i in listed.data["items"]] == ["Customer visit"]
    found = {(p["line"], p["uid"]) for p in listed.data["problems"]}
    assert found == {(4, "runaway"), (12, None), (13, "stuck"), (21, "two")}
    assert all(p["where"] == str(path) and p["skipped"] for p in listed.data["problems"])
    human = cli.run("items", json_output=False)
    assert human.exit_code == SKIPPED_EXIT and "Customer visit" in human.stdout
    assert "4 part(s) of your calendar could not be read" in human.stderr
    assert f"{path}: line 4: event runaway: its rule repeats every second" in " ".join(human.stderr.split())


def test_items_through_caldav_names_the_object_and_keeps_the_rest(cli: Cli) -> None:
    # rules the server itself expands quickly (it filters by time range), but calferry will not
    minutely = vevent("runaway", 1, "RRULE:FREQ=MINUTELY;COUNT=100")
    dates = ",".join(stamp(1, 0)[:8] + f"T{h:02d}{m:02d}00Z" for h in range(20) for m in range(60))
    bulk_put(cli.calendar_url, vcalendar(minutely, vevent("never", 1, f"RDATE:{dates}"), GOOD).encode())
    listed = cli.run("items")
    assert listed.exit_code == SKIPPED_EXIT
    assert [i["subject"] for i in listed.data["items"]] == ["Customer visit"]
    reasons = {p["uid"]: (p["where"], p["reason"]) for p in listed.data["problems"]}
    assert set(reasons) == {"runaway", "never"}
    assert reasons["runaway"][0].startswith(cli.calendar_url) and "every minute" in reasons["runaway"][1]
    assert "1,200 RDATE dates" in reasons["never"][1]


def test_a_clean_calendar_lists_with_exit_0_and_an_empty_problem_list(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mine.ics"
    path.write_bytes(vcalendar(GOOD).encode())
    use_file(cli, path)
    listed = cli.ok("items")
    assert listed.data["problems"] == [] and len(listed.data["items"]) == 1


def test_import_stores_a_runaway_series_verbatim_with_a_note_and_names_what_it_cannot_read(
    cli: Cli, tmp_path: Path
) -> None:
    source, target = tmp_path / "in.ics", tmp_path / "mine.ics"
    source.write_bytes(vcalendar(RUNAWAY, vevent("broken", 3, "DTEND:tomorrow"), GOOD).encode())
    use_file(cli, target)
    imported = cli.run("import", str(source))
    assert imported.exit_code == 0
    assert (imported.data["created"], imported.data["skipped"]) == (2, 0)
    notes = {p["uid"]: p for p in imported.data["problems"]}
    assert notes["broken"]["line"] == 12 and notes["broken"]["skipped"] is True
    assert notes["runaway"]["skipped"] is False and "stored as it is" in notes["runaway"]["reason"]
    assert "RRULE:FREQ=SECONDLY" in target.read_text(encoding="utf-8")
    assert cli.run("items").exit_code == SKIPPED_EXIT


def test_get_on_a_calendar_it_cannot_read_says_so_instead_of_suggesting_force_delete(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "mine.ics"
    path.write_bytes(vcalendar(GOOD).encode())
    use_file(cli, path)
    cli.ok("send", "good-1")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f"DTSTART:{stamp(2)}", "DTSTART:soon"), encoding="utf-8")
    refused = cli.run("get")
    assert refused.exit_code == 7 and refused.data["error"]["type"] == "SideLooksEmpty"
    message = refused.data["error"]["message"]
    assert "1 item(s) calferry cannot read" in message and "force" not in message


def test_get_beside_an_unreadable_item_goes_on_and_names_it_in_its_warnings(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mine.ics"
    path.write_bytes(vcalendar(RUNAWAY, GOOD).encode())
    use_file(cli, path)
    fetched = cli.run("get")
    assert fetched.exit_code == 0, fetched.stdout
    assert any(w.startswith(f"{path}: line 4: event runaway: ") for w in fetched.data["warnings"])
    assert fetched.actions(action="create")  # the PSA's items of the window still came in
    assert "RRULE:FREQ=SECONDLY" in path.read_text(encoding="utf-8")


def test_import_into_caldav_leaves_out_a_runaway_series_and_says_why(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "in.ics"
    source.write_bytes(vcalendar(RUNAWAY, GOOD).encode())
    imported = cli.run("import", str(source))
    assert (imported.exit_code, imported.data["created"], imported.data["skipped"]) == (0, 1, 1)
    [problem] = imported.data["problems"]
    assert problem["uid"] == "runaway" and problem["reason"].startswith(
        "not imported: its rule repeats every second"
    )
    listed = cli.ok("items")
    assert [i["subject"] for i in listed.data["items"]] == ["Customer visit"] and listed.data[
        "problems"
    ] == []


def test_items_on_a_latin1_file_lists_everything_with_a_note_and_exit_0(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "mine.ics"
    path.write_bytes(vcalendar(vevent("cafe", 2, summary="Café Müller")).encode("latin-1"))
    use_file(cli, path)
    listed = cli.run("items", json_output=False)
    assert listed.exit_code == 0 and "Café Müller" in listed.stdout
    assert "Note: " in listed.stderr and "Latin-1" in listed.stderr and "Warning" not in listed.stderr

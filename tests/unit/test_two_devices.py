"""B9: two devices (two link stores) on one calendar and one PSA: a device claims an item before it
makes its PSA copy, and the other leaves a freshly claimed item alone, recovers one whose device
stopped, and never copies into the calendar a PSA item another device is linking."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from calferry.mapping import personal_to_appointment, psa_fingerprint
from calferry.model import CLAIM_TTL, Claim, ItemKey, Origin, PersonalItem, PsaKind, Stamp
from calferry.personal.memory import MemoryCalendar
from tests.unit.engine_helpers import ME, NO_CRM, NOW, Engine, item, new_psa


def two_devices(tmp_path: Path, calendar: MemoryCalendar | None = None) -> tuple[Engine, Engine]:
    shared_calendar, psa = calendar or MemoryCalendar(), new_psa()
    return (
        Engine(tmp_path / "laptop", calendar=shared_calendar, psa=psa),
        Engine(tmp_path / "desktop", calendar=shared_calendar, psa=psa),
    )


def uids(engine: Engine) -> list[str]:
    return sorted(i.uid for i in engine.calendar.snapshot(engine.service._window()).items)


def claim_by_other(engine: Engine, uid: str, at: object = NOW) -> Claim:
    """Another device's claim on ``uid``, as it writes it before its PSA create."""
    current = engine.calendar.get(ItemKey(uid))
    fingerprint = psa_fingerprint(personal_to_appointment(current, ME).value)
    claim = Claim("elsewhere", at, fingerprint)  # type: ignore[arg-type]
    engine.calendar.set_claim(current.key, claim, current.version)
    return claim


def test_b9_a_freshly_claimed_item_is_left_to_the_claiming_device(tmp_path: Path) -> None:
    laptop, _ = two_devices(tmp_path)
    laptop.calendar.create(item("a", subject="Dentist"))
    claim_by_other(laptop, "a")
    (left,) = laptop.service.send(["a"]).results
    assert left.outcome == "left" and "another device" in (left.error or "")
    assert laptop.psa.items == {} and laptop.store.links() == []


def test_b9_a_stale_claim_whose_device_made_the_psa_item_is_linked_not_made_twice(tmp_path: Path) -> None:
    laptop, _ = two_devices(tmp_path)
    laptop.calendar.create(item("a", subject="Dentist"))
    claim_by_other(laptop, "a", NOW - CLAIM_TTL - timedelta(minutes=1))
    made = laptop.psa.create(personal_to_appointment(laptop.calendar.get(ItemKey("a")), ME).value)
    (adopted,) = laptop.service.send(["a"]).results
    assert (adopted.outcome, adopted.psa_id) == ("adopted", made.id)
    stored = laptop.calendar.get(ItemKey("a"))
    assert stored.stamp is not None and stored.stamp.psa_id == made.id and stored.claim is None
    assert len(laptop.psa.items) == 1


def test_b9_a_stale_claim_whose_device_made_nothing_is_taken_over(tmp_path: Path) -> None:
    laptop, _ = two_devices(tmp_path)
    laptop.calendar.create(item("a", subject="Dentist"))
    claim_by_other(laptop, "a", NOW - CLAIM_TTL - timedelta(minutes=1))
    (done,) = laptop.service.send(["a"]).results
    assert done.outcome == "done" and len(laptop.psa.items) == 1
    assert laptop.calendar.get(ItemKey("a")).claim is None


class ClaimedMeanwhile(MemoryCalendar):
    """Another device claims an item between this device's read and its claim write."""

    def set_claim(self, key: ItemKey, claim: Claim | None, version: str | None = None) -> PersonalItem:
        if claim is not None and claim.device != "elsewhere":
            other = Claim("elsewhere", claim.at, claim.fingerprint)
            super().set_claim(key, other, None)
        return super().set_claim(key, claim, version)


def test_b9_of_two_claims_at_once_the_second_fails_on_the_version_and_leaves_the_item(tmp_path: Path) -> None:
    laptop, _ = two_devices(tmp_path, ClaimedMeanwhile())
    laptop.calendar.create(item("a", subject="Dentist"))
    (left,) = laptop.service.send(["a"]).results
    assert left.outcome == "left" and laptop.psa.items == {}
    held = laptop.calendar.get(ItemKey("a")).claim
    assert held is not None and held.device == "elsewhere"


def test_b9_a_get_never_copies_a_psa_item_another_device_is_linking(tmp_path: Path) -> None:
    laptop, desktop = two_devices(tmp_path)
    laptop.calendar.create(item("a", subject="Dentist"))
    claim_by_other(laptop, "a")  # the laptop's claim, written before its create...
    made = laptop.psa.create(personal_to_appointment(laptop.calendar.get(ItemKey("a")), ME).value)
    plan = desktop.service.preview_get()  # ...and the desktop's Get in between create and stamp
    (skip,) = plan.actions
    assert skip.ref == "a" and "another device is sending a" in skip.reason
    desktop.service.get()
    assert uids(desktop) == ["a"]  # no copy of the laptop's PSA item
    laptop.calendar.set_stamp(ItemKey("a"), Stamp(PsaKind.APPOINTMENT, made.id or 0, Origin.SENT))
    desktop.service.get()
    assert uids(desktop) == ["a"] and [link.psa.id for link in desktop.store.links()] == [made.id]


def test_b9_two_devices_sending_in_turn_make_one_psa_item_and_link_it_on_both(tmp_path: Path) -> None:
    laptop, desktop = two_devices(tmp_path)
    laptop.calendar.create(item("a", subject="Dentist"))
    plan = desktop.service.preview_send(["a"])  # the desktop plans before the laptop sends
    laptop.service.send(["a"])
    (adopted,) = desktop.service.send(plan=plan).results
    assert adopted.outcome == "adopted" and len(laptop.psa.items) == 1
    desktop.service.get()
    laptop.service.get()
    assert uids(laptop) == ["a"]


def test_b9_a_refused_create_releases_the_claim(tmp_path: Path) -> None:
    engine = Engine(tmp_path, psa=new_psa(NO_CRM))  # R33: a To-Do needs CRM access
    engine.calendar.create(item("a", subject="Call Alice"))
    (failed,) = engine.service.send(["a"], kind="todo", company="Acme").results
    assert failed.outcome == "failed" and engine.psa.items == {}
    assert engine.calendar.get(ItemKey("a")).claim is None  # no other device need wait for it

"""How the applier groups a plan's actions: consecutive personal creates (or updates, or deletes) go to
the calendar together, at most twenty at a time (a Graph ``$batch``), and nothing else moves or joins
them."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from calferry.apply_downloads import CHUNK, chunks
from calferry.model import ItemKey, PsaAppointment, PsaKind, PsaRef
from calferry.plan import Action, ActionKind, Target, downloaded_uid
from tests.unit.engine_helpers import Engine, at, item

KINDS = [(k, t) for k in ActionKind for t in Target]


def _action(n: int, kind: ActionKind, target: Target) -> Action:
    return Action(kind, f"item-{n}", None, None, "", target)


def _joins(action: Action) -> ActionKind | None:
    """The kind of a personal write that may share a chunk with its neighbours of that kind."""
    writes = (ActionKind.CREATE, ActionKind.UPDATE, ActionKind.DELETE)
    return action.kind if action.target is Target.PERSONAL and action.kind in writes else None


plans = st.lists(st.sampled_from(KINDS), max_size=70).map(
    lambda kinds: [_action(n, k, t) for n, (k, t) in enumerate(kinds)]
)


@given(plans)
def test_chunks_keep_the_plan_s_order_and_join_only_consecutive_personal_writes_of_a_kind(
    plan: list[Action],
) -> None:
    grouped = list(chunks(plan))
    assert [a for chunk in grouped for a in chunk] == plan
    for chunk in grouped:
        kind = _joins(chunk[0])
        assert len(chunk) == 1 or (len(chunk) <= CHUNK and kind and all(_joins(a) is kind for a in chunk))
    for before, after in pairwise(grouped):
        joinable = _joins(before[-1]) is not None and _joins(before[-1]) is _joins(after[0])
        assert not joinable or len(before) == CHUNK, "two runs of one kind that could be one chunk"


def test_forty_five_creates_between_two_updates_go_as_20_20_and_5() -> None:
    update = _action(0, ActionKind.UPDATE, Target.PERSONAL)
    creates = [_action(n, ActionKind.CREATE, Target.PERSONAL) for n in range(1, 46)]
    assert [len(c) for c in chunks([update, *creates, update])] == [1, 20, 20, 5, 1]


def test_a_download_refused_inside_a_chunk_fails_alone_and_every_one_is_audited(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    refs = [PsaRef(PsaKind.APPOINTMENT, n) for n in (1, 2, 3)]
    for ref in refs:
        engine.psa.items[ref] = PsaAppointment(
            ref.id, f"p{ref.id}", at(12, 8 + ref.id), at(12, 9 + ref.id), 7
        )
    taken = downloaded_uid(refs[1])
    journalled: list[str] = []

    def someone_takes_the_uid(step: str) -> None:
        """Between the journal and the write, another writer makes an item of its own under #2's uid."""
        journalled.append(step)
        if journalled.count("journaled") == len(refs) and step == "journaled":
            engine.calendar.create(item(taken, subject="not the PSA's"))

    seen: list[tuple[int, int]] = []
    service = engine.with_checkpoint(someone_takes_the_uid)
    service.on_progress = lambda done, total: seen.append((done, total))
    actions = service.get().to_json()["actions"]
    assert [(a["ref"], a["outcome"]) for a in actions] == [
        (downloaded_uid(refs[0]), "done"),
        (taken, "failed"),
        (downloaded_uid(refs[2]), "done"),
    ]
    assert "not this PSA item's copy" in actions[1]["error"]
    assert journalled[:4] == ["journaled"] * 3 + ["created"]  # one write for the three
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert sorted((e.ref, e.outcome.value) for e in engine.store.log()) == sorted(
        (a["ref"], a["outcome"]) for a in actions
    )
    assert engine.calendar.get(ItemKey(taken)).subject == "not the PSA's"

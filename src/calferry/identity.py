"""How calferry recognises an item again: its change marker, a link's versions after a transfer, and the
fingerprint that finds a PSA item whose create answer was lost.

Pure, like the rest of the core. These sit apart from the planner because the planner, the applier,
the incremental Get and both PSA implementations all need them, and each must agree with the others:
a fingerprint written in the journal by the applier is the one the PSA is searched for (B2).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from calferry.mapping import personal_hash, psa_hash
from calferry.model import Link, PersonalItem, PsaAppointment, PsaItem, PsaRef, PsaToDo, psa_kind_of


def psa_version(item: PsaItem) -> str | None:
    """A PSA item's change marker as text (Autotask's ``lastActivityDate``/``updated`` time)."""
    return None if item.updated is None else item.updated.isoformat()


def with_link_versions(link: Link, personal: PersonalItem | None, item: PsaItem | None) -> Link:
    """The link after a transfer: versions and hashes of what each side now holds."""
    if personal is not None:
        link = replace(link, personal_version=personal.version, personal_hash=personal_hash(personal))
    if item is not None:
        link = replace(
            link,
            psa=PsaRef(psa_kind_of(item), item.id or 0),
            psa_version=psa_version(item),
            psa_hash=psa_hash(item),
        )
    return link


def fingerprint(item: PsaItem) -> dict[str, Any]:
    """What identifies a created PSA item when its id was lost: kind, who or what it is for, start, end.

    An appointment by its resource and title, a to-do by its assignee and company, a service call by
    its company. The journal records it before a create; ``Psa.find_matching`` looks for items with
    the same values (the memory PSA compares them, Autotask is queried for them). Unlike
    :func:`calferry.mapping.psa_fingerprint` (a claim's coarse digest) it keeps the values themselves.
    """
    data: dict[str, Any] = {"kind": psa_kind_of(item).value}
    if isinstance(item, PsaAppointment):
        data.update(resource_id=item.resource_id, title=item.title)
    elif isinstance(item, PsaToDo):
        data.update(assigned_resource_id=item.assigned_resource_id, company_id=item.company_id)
    else:
        data.update(company_id=item.company_id)
    return {**data, "start": item.start, "end": item.end}

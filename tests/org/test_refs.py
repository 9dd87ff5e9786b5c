"""The org store keeps a PSA record whatever its text: a hostile name costs nobody the poll.

JSON carries any text; PostgreSQL's JSONB refuses NUL and a surrogate without its pair. Such a character is
kept as U+FFFD, everything else exactly as the PSA sent it.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from calferry.model import PsaKind
from calferry.org.refs import RefCache
from calferry.org.store import CachedItem, OrgStore

_TEXT = st.text(st.characters(), max_size=40) | st.sampled_from(
    ["Nul\x00Ltd", "\\u0000", "\ud800 lone", "\\\x00"]
)
_ROWS = st.dictionaries(
    st.sampled_from(["companyName", "address1", "city"]), _TEXT | st.none() | st.integers()
)


def _as_kept(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return "".join("\ufffd" if c == "\x00" or unicodedata.category(c) == "Cs" else c for c in value)


@example(rows=[{"companyName": "Nul\x00Ltd", "city": "\\u0000", "address1": "\udc00"}])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_ROWS, min_size=1, max_size=5))
def test_records_come_back_as_the_psa_sent_them_whatever_their_text(
    org_store: OrgStore, rows: list[dict[str, Any]]
) -> None:
    refs = RefCache(org_store.engine)
    sent = {n + 1: {"id": n + 1, **row} for n, row in enumerate(rows)}
    refs.put("Companies", {**sent, 999: None})
    kept = {i: {k: _as_kept(v) for k, v in row.items()} for i, row in sent.items()}
    assert refs.rows("Companies", [*sent, 999, 1000]) == {**kept, 999: None}  # 999: none; 1000: never read


def test_a_cached_item_with_a_nul_in_its_text_is_kept_and_the_poll_goes_on(org_store: OrgStore) -> None:
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    row = {"id": 7, "title": "Nul\x00here", "resourceID": 3, "startDateTime": "2026-03-01T09:00:00Z"}
    item = CachedItem(PsaKind.APPOINTMENT, 7, 3, start, start, start + timedelta(hours=1), "h", row)
    org_store.replace_cached(PsaKind.APPOINTMENT, {7: [item]})
    (kept,) = org_store.cached(PsaKind.APPOINTMENT, [7])[7]
    assert kept.row["title"] == "Nul\ufffdhere" and kept.hash == "h"

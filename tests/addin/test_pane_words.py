"""What the pane says: the technician's words, never a rule code (those belong in logs and --json)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calferry.addin.pane import sentence


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("R14 a To-Do needs a company", "A To-Do needs a company."),
        ("select at least one item to send (R13)", "Select at least one item to send."),
        (
            "R7 a service call cannot be sent from the personal calendar",
            "A service call cannot be sent from the personal calendar.",
        ),
        ("Already a sentence.", "Already a sentence."),
    ],
)
def test_reasons_become_sentences_without_rule_codes(reason: str, said: str) -> None:
    assert sentence(reason) == said


@given(st.integers(min_value=1, max_value=33), st.text(alphabet="abcdefgh ,", min_size=1, max_size=40))
def test_no_rule_code_survives(rule: int, words: str) -> None:
    for reason in (f"R{rule} {words}", f"{words} (R{rule})"):
        assert f"R{rule}" not in sentence(reason)

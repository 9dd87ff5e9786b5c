"""What became of each action of a run: the results the applier returns and the faces render.

Apart from :mod:`calferry.apply` so a face (the CLI, the pages, the pane) reads results without
importing the code that writes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from calferry.errors import CalferryError
from calferry.model import Outcome
from calferry.plan import Action


@dataclass(frozen=True)
class ActionResult:
    """What became of one action (an :class:`Outcome`), and the error or the PSA id it produced."""

    action: Action
    outcome: Outcome
    error: str | None = None
    psa_id: int | None = None
    exc: CalferryError | None = field(default=None, compare=False, repr=False)

    @property
    def rule(self) -> str:
        """The rule a refusal enforces (R33), else the rule the action follows."""
        return getattr(self.exc, "rule", None) or self.action.rule

    def to_json(self) -> dict[str, Any]:
        head = self.action.to_json()
        return {
            "action": head["action"],
            "ref": head["ref"],
            "psa_kind": head["psa_kind"],
            "psa_id": self.psa_id if self.psa_id is not None else head["psa_id"],
            "reason": head["reason"],
            "rule": self.rule,
            "outcome": str(self.outcome),
            "error": self.error,
        }


@dataclass
class RunResult:
    """A Send, Get, Add or delete: every action's outcome, the PSA requests used, warnings."""

    results: list[ActionResult] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[ActionResult]:
        """Failures of items still not done at the end of the run.

        An item's last result counts: a failure made good later in the same run (the reconcile of an
        interrupted create that was "planned again" and then done) is history, not a failure.
        """
        return [r for r in self.last_results() if r.outcome is Outcome.FAILED]

    def last_results(self) -> list[ActionResult]:
        """The last result of each item (ref and the side written); actions without a ref each count."""
        last: dict[object, ActionResult] = {}
        for n, r in enumerate(self.results):
            last[(r.action.ref, r.action.target) if r.action.ref else n] = r
        return list(last.values())

    def outcomes(self) -> dict[Outcome, int]:
        return dict(Counter(r.outcome for r in self.results))

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": [r.to_json() for r in self.results],
            "requests": dict(self.requests),
            "warnings": list(self.warnings),
        }

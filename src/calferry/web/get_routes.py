"""Get (R23-R29, B1): the preview first; on confirm exactly the previewed plan is applied.

The plan stays on the server under a random id (the page only carries the id), so what is applied is
what was shown; a plan whose items moved meanwhile fails those actions instead of overwriting (stale).
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from calferry.config import to_policy
from calferry.errors import InputError
from calferry.plan import Plan
from calferry.web.common import render, service
from calferry.web.views import plan_rows, plan_summary, result_rows, result_summary

router = APIRouter()

KEPT_PLANS = 20


@router.get("/get")
def preview(request: Request, policy: str | None = None) -> Response:
    chosen = to_policy(policy) if policy else None
    with service(request) as svc:
        plan = svc.preview_get(chosen)
    plan_id = _keep(request, plan)
    return render(
        request, "get.html", active="get", plan=plan, plan_id=plan_id, actions=plan_rows(plan),
        summary=plan_summary(plan), result=None,
    )  # fmt: skip


@router.post("/get")
def apply(request: Request, plan_id: str = Form("")) -> Response:
    plan = request.app.state.plans.pop(plan_id, None)
    if plan is None:
        raise InputError("this preview is no longer available", hint="open Get again for a fresh preview")
    with service(request) as svc:
        result = svc.get(plan=plan)
    return render(
        request, "get.html", active="get", plan=plan, actions=result_rows(result.results),
        summary=result_summary(result), result=result,
    )  # fmt: skip


def _keep(request: Request, plan: Plan) -> str:
    """Store the plan under a fresh id; only the newest few previews are kept."""
    plans: dict[str, Plan] = request.app.state.plans
    plan_id = secrets.token_urlsafe(16)
    plans[plan_id] = plan
    while len(plans) > KEPT_PLANS:
        plans.pop(next(iter(plans)))
    return plan_id

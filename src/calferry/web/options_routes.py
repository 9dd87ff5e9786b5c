"""The Calendar tab (R1, R2): options written through :func:`calferry.config.set_value`, and credentials status."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from calferry import config, secrets
from calferry.errors import ConfigError, UserError
from calferry.web.common import render, service

router = APIRouter()

FIELDS = (
    "calendar.enabled",
    "calendar.get_past_days",
    "calendar.get_future_days",
    "calendar.get_kinds",
    "calendar.default_action_type",
    "calendar.conflict_policy",
    "calendar.delete_threshold",
)
KIND_LABELS = {"appointment": "Appointments", "todo": "To-Dos", "service-call": "Service Calls"}


@router.get("/options")
def options_page(request: Request) -> Response:
    return _page(request, config.load_settings(), errors={}, saved=False)


@router.post("/options")
async def save_options(request: Request) -> Response:
    """Write each changed option; a bad value is shown next to its field and the others are still saved."""
    form = await request.form()
    current = config.load_settings()
    errors: dict[str, str] = {}
    for key in FIELDS:
        raw = _raw_value(key, form)
        if raw == _raw_current(current.get(key)):
            continue
        try:
            _check_with_psa(request, key, raw)
            config.set_value(key, raw)
        except UserError as exc:
            errors[key] = str(exc)
    return _page(request, config.load_settings(), errors=errors, saved=not errors, form=form)


def _check_with_psa(request: Request, key: str, raw: str) -> None:
    """The default action type must be one the PSA has and offers for To-Dos (not "No such type", not
    the calendar-only "Opportunity Update"); when the PSA cannot be asked it is not saved unchecked."""
    if key != "calendar.default_action_type":
        return
    if not raw:
        raise ConfigError("give the name (or id) of an action type for To-Dos")
    with service(request) as svc:
        svc.todo_action_type(raw)


def _raw_value(key: str, form: FormData) -> str:
    """The form's value for ``key`` as the text ``set_value`` takes (checkboxes become lists and flags)."""
    getlist = form.getlist
    if key == "calendar.enabled":
        return "true" if getlist(key) else "false"
    if key == "calendar.get_kinds":
        return ",".join(str(v) for v in getlist(key))
    values = getlist(key)
    return str(values[0]).strip() if values else ""


def _raw_current(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _page(
    request: Request,
    settings: config.Settings,
    *,
    errors: dict[str, str],
    saved: bool,
    form: FormData | None = None,
) -> Response:
    entered = {key: _raw_value(key, form) for key in FIELDS} if form is not None else {}
    return render(
        request,
        "options.html",
        active="options",
        settings=settings,
        options=config.OPTIONS,
        policies=config.POLICIES,
        kinds=KIND_LABELS,
        errors=errors,
        entered=entered,
        saved=saved,
        credentials=credentials_status(settings),
    )


_SOURCES = {
    secrets.ENVIRONMENT: f"taken from the environment ({secrets.PSA_SECRET_ENV})",
    secrets.COMMAND: "printed by the secret command (psa.secret_command)",
    secrets.KEYRING: "stored in the OS keyring",
    secrets.FILE: "stored unencrypted in a file in calferry's home (secrets.json)",
}
_NONE = "not stored: run `calferry login`"


def credentials_status(settings: config.Settings) -> dict[str, str]:
    """Whether a PSA secret is available and from where; never the secret itself."""
    username = settings.psa.username
    source = _SOURCES.get(secrets.psa_secret_source(username, settings.psa.secret_command) or "", _NONE)
    return {
        "psa_user": username or "(psa.username not set)",
        "psa_secret": source,
        "psa_url": settings.psa.base_url or "(looked up from the zone)",
        "personal": settings.personal.backend,
    }

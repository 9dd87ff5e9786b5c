"""The engine's commands: ``items``, ``send``, ``get``, ``add``, ``series delete``, ``resolve``, ``status``, ``log``.

Each parses its flags, calls one :class:`calferry.service.Service` use case and renders the outcome:
a Rich table for people, ``--json`` for scripts. ``--dry-run`` prints the plan (B1) and changes
nothing; for send and get its JSON is a plan file that ``--plan FILE`` applies exactly. A run in which some item failed exits with that
item's error code after reporting every other item's outcome.

One module past 500 lines on purpose: the eight commands share the rendering of plans and results,
the progress bar, the warnings and the exit codes below; split per command, each would import all of
that back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from calferry import localtime
from calferry.commands.common import JsonOption, console, emit_json, err_console, handles_errors
from calferry.config import load_settings
from calferry.contracts import Problem
from calferry.errors import InputError, UserError
from calferry.model import Outcome, Policy, PsaKind
from calferry.plan import ActionKind, Plan
from calferry.service import LOG_MAX, AddForm, RunResult, Service
from calferry.wiring import open_records, open_service

series_app = typer.Typer(help="Recurring series: delete one or all occurrences on both sides.")

# Runs touching more items than this show a progress bar (on stderr, so --json stays clean).
PROGRESS_FROM = 5
# `items` exits with this after listing when something in the calendar could not be read (and is not
# listed): a scheduled script sees the gap without parsing the output.
SKIPPED_EXIT_CODE = 11


class SendKind(StrEnum):
    appointment = "appointment"
    todo = "todo"


class Keep(StrEnum):
    personal = "personal"
    psa = "psa"


DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show the plan and change nothing; with --json, a plan file.")
]
PlanOption = Annotated[
    Path | None, typer.Option("--plan", help="Apply this saved plan (from --dry-run --json) exactly.")
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also show the PSA requests used, per entity and verb.")
]
CompanyOption = Annotated[
    str | None, typer.Option("--company", help="Company id or name (a To-Do needs one).")
]
ContactOption = Annotated[
    str | None, typer.Option("--contact", help="Contact id or name, within the company.")
]
ActionTypeOption = Annotated[
    str | None, typer.Option("--action-type", help="To-Do action type id or name (default: the options').")
]


def register(app: typer.Typer) -> None:
    for command in (items, send, get, add, resolve, status, log):
        app.command(command.__name__)(command)
    app.add_typer(series_app, name="series")


# --- commands ----------------------------------------------------------------------------------


@handles_errors
def items(
    from_: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD); default: the Get window.")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last day (YYYY-MM-DD); default: the Get window.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Your personal items with their state: not sent, sent, downloaded, edited since sent, conflict.

    What cannot be read is named (a warning; ``problems`` in --json) and makes the exit code 11."""
    start, end = _days(from_, to)
    with _service(locked=False, lazy_psa=True) as svc:
        listing = svc.listing(start, end)
        zone = svc.time_zone()
    found = listing.items
    if json_output:
        emit_json(
            {"items": [i.to_json() for i in found], "problems": [p.to_json() for p in listing.problems]}
        )
    else:
        table = _table(
            f"{len(found)} personal item(s), times in {zone}", ("ref", "when", "subject", "state", "PSA")
        )
        for i in found:
            psa = f"{i.psa_kind.value} {i.psa_id}" if i.psa_kind is not None else ""
            subject = ("(private) " if i.private else "") + i.subject
            table.add_row(i.ref, localtime.span(i.start, i.end, zone), subject, i.state, psa)
        console.print(table)
        _show_problems(listing.problems)
    if any(p.skipped for p in listing.problems):
        raise typer.Exit(SKIPPED_EXIT_CODE)


def _show_problems(problems: Sequence[Problem]) -> None:
    """What was left out under one warning; notes about what was read anyway after it."""
    skipped = [p for p in problems if p.skipped]
    if skipped:
        err_console.print(
            f"[yellow]Warning:[/] {len(skipped)} part(s) of your calendar could not be read; "
            "what they hold is not listed:",
            highlight=False,
        )
    for problem in skipped:
        err_console.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)
    for note in (p for p in problems if not p.skipped):
        err_console.print(f"Note: {note}", highlight=False, markup=False, soft_wrap=True)


@handles_errors
def send(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Items to send: the refs `calferry items` shows.")
    ] = None,
    as_: Annotated[
        SendKind | None, typer.Option("--as", help="PSA kind: appointment (default) or todo.")
    ] = None,
    company: CompanyOption = None,
    contact: ContactOption = None,
    action_type: ActionTypeOption = None,
    series: Annotated[
        str | None,
        typer.Option("--series", help="Send the occurrences of this series in --from..--to."),
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="With --series: first day (YYYY-MM-DD).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="With --series: last day (YYYY-MM-DD).")] = None,
    dry_run: DryRunOption = False,
    plan: PlanOption = None,
    verbose: VerboseOption = False,
    json_output: JsonOption = False,
) -> None:
    """Send the selected items to the PSA: created the first time, updated after."""
    _alone_with_plan(plan, {
        "refs": refs, "--as": as_, "--company": company, "--contact": contact, "--action-type": action_type,
        "--series": series, "--from": from_, "--to": to, "--dry-run": dry_run,
    })  # fmt: skip
    series_from, series_to = _days(from_, to)
    if series is None and series_from is not None:
        raise InputError("--from and --to choose the occurrences of a series", hint="give --series too")
    choices: dict[str, Any] = {
        "kind": None if as_ is None else as_.value,
        "company": _id_or_name(company),
        "contact": _id_or_name(contact),
        "action_type": _id_or_name(action_type),
        "series_uid": series,
        "series_from": series_from,
        "series_to": series_to,
    }
    saved = _load_plan(plan)
    with _service("Send", locked=not dry_run) as svc:
        if dry_run:
            _show_plan(svc.preview_send(refs or (), **choices), svc, json_output, verbose)
            return
        result = _with_progress(svc, json_output, lambda: svc.send(refs or (), **choices, plan=saved))
    _show_result(result, json_output, verbose, skips_fail=True)


@handles_errors
def get(
    dry_run: DryRunOption = False,
    policy: Annotated[
        Policy | None,
        typer.Option("--policy", help="For unsent personal edits: keep-personal, psa-wins or ask."),
    ] = None,
    force_delete: Annotated[
        bool,
        typer.Option("--force-delete", help="Allow a Get that deletes more than calendar.delete_threshold."),
    ] = False,
    plan: PlanOption = None,
    verbose: VerboseOption = False,
    json_output: JsonOption = False,
) -> None:
    """Bring the PSA's items of the Get window into your calendar."""
    _alone_with_plan(plan, {"--policy": policy, "--force-delete": force_delete, "--dry-run": dry_run})
    saved = _load_plan(plan)
    with _service("Get", locked=not dry_run) as svc:
        if dry_run:
            _show_plan(svc.preview_get(policy, force_delete), svc, json_output, verbose)
            return
        result = _with_progress(svc, json_output, lambda: svc.get(policy, force_delete, plan=saved))
    _show_result(result, json_output, verbose)


@handles_errors
def add(
    kind: Annotated[PsaKind, typer.Argument(help="appointment, todo or service-call.")],
    title: Annotated[
        str, typer.Option("--title", help="Appointment name (required for an appointment).")
    ] = "",
    company: CompanyOption = None,
    contact: ContactOption = None,
    action_type: ActionTypeOption = None,
    start: Annotated[
        str | None,
        typer.Option("--start", help="Start, e.g. 2026-12-02T09:00 (your PSA time zone if no offset)."),
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="End, same form as --start.")] = None,
    description: Annotated[str, typer.Option("--description", help="Description / activity text.")] = "",
    ticket: Annotated[
        list[str] | None,
        typer.Option("--ticket", help="Service call: a ticket number or title (repeatable)."),
    ] = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Service call: a task number or title (repeatable).")
    ] = None,
    dry_run: DryRunOption = False,
    verbose: VerboseOption = False,
    json_output: JsonOption = False,
) -> None:
    """Create a PSA Appointment, To-Do or Service Call, then run Get."""
    form = AddForm(
        PsaKind(kind.value),
        title,
        _datetime(start, "--start"),
        _datetime(end, "--end"),
        description,
        _id_or_name(company),
        _id_or_name(contact),
        _id_or_name(action_type),
        tuple(ticket or ()),
        tuple(task or ()),
    )
    with _service("Add", locked=not dry_run) as svc:
        if dry_run:
            _show_plan(svc.preview_add(form), svc, json_output, verbose)
            return
        result = _with_progress(svc, json_output, lambda: svc.add(form))
    _show_result(result, json_output, verbose)


@series_app.command("delete")
@handles_errors
def delete_series(
    series_uid: Annotated[str, typer.Argument(help="The series uid (the part of a ref before '@').")],
    occurrence: Annotated[
        str | None, typer.Option("--occurrence", help="Only this occurrence (its recurrence id, after '@').")
    ] = None,
    dry_run: DryRunOption = False,
    verbose: VerboseOption = False,
    json_output: JsonOption = False,
) -> None:
    """Delete one or all occurrences of a series in your calendar and in the PSA."""
    with _service("Delete", locked=not dry_run) as svc:
        if dry_run:
            _show_plan(svc.preview_delete_series(series_uid, occurrence), svc, json_output, verbose)
            return
        result = svc.delete_series(series_uid, occurrence)
    _show_result(result, json_output, verbose)


@handles_errors
def resolve(
    ref: Annotated[str, typer.Argument(help="The item in conflict (see `calferry items`).")],
    keep: Annotated[Keep, typer.Option("--keep", help="personal: send your version; psa: take the PSA's.")],
    dry_run: DryRunOption = False,
    verbose: VerboseOption = False,
    json_output: JsonOption = False,
) -> None:
    """Settle a conflict that Get reported, keeping your version or the PSA's."""
    with _service(locked=not dry_run) as svc:
        if dry_run:
            _show_plan(svc.preview_resolve(ref, keep.value), svc, json_output, verbose)
            return
        result = svc.resolve_conflict(ref, keep.value)
    _show_result(result, json_output, verbose)


@handles_errors
def status(json_output: JsonOption = False) -> None:
    """Whether integration is on, which calendars are used, the links kept and the last run."""
    with open_records(load_settings()) as records:
        info = records.status()
    if json_output:
        emit_json(info)
        return
    console.print(f"Calendar integration: {'enabled' if info['enabled'] else 'disabled'}")
    for line in (
        f"Your calendar ({info['backends']['personal']}): {info['calendar_url']}",
        f"PSA: {info['psa_url']}",
        f"You in the PSA: {info['resource'] or 'not set'}",
    ):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    links = ", ".join(f"{k} {v}" for k, v in (info["links"] or {}).items()) or "none"
    console.print(f"Links: {links}; interrupted writes to reconcile: {info['pending_intents']}")
    console.print(
        f"Last run: {json.dumps(info['last_run']) if info['last_run'] else 'none'}", highlight=False
    )


@handles_errors
def log(
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=LOG_MAX, help="How many entries, newest first.")
    ] = 50,
    json_output: JsonOption = False,
) -> None:
    """The audit log: every applied action, when, which ids, the outcome."""
    with open_records(load_settings()) as records:
        entries = records.log(limit)
        zone = records.time_zone()
    if json_output:
        emit_json({"entries": [e.to_json() for e in entries]})
        return
    table = _table(
        f"Audit log (newest first), times in {zone}", ("at", "item", "what happened", "details", "PSA")
    )
    for e in entries:
        psa = f"{e.psa_kind} {e.psa_id}" if e.psa_kind else ""
        table.add_row(localtime.stamp(e.at, zone), e.subject or e.ref, e.happened(), e.message, psa)
    console.print(table)


# --- rendering ---------------------------------------------------------------------------------


def _show_plan(plan: Plan, svc: Service, json_output: bool, verbose: bool) -> None:
    if json_output:
        emit_json({**plan.to_json(), "requests": svc.request_counts()})
        return
    table = _actions_table(f"Plan: {plan.operation} (nothing changed yet)", with_outcome=False)
    for a in plan.actions:
        table.add_row(a.kind.value, a.ref or "(new)", _psa(a.psa_kind, a.psa_id), a.reason)
    console.print(table if plan.actions else "Nothing to do.")
    _show_warnings(plan.warnings)
    if verbose:
        _show_requests(svc.request_counts())


def _show_result(result: RunResult, json_output: bool, verbose: bool, *, skips_fail: bool = False) -> None:
    if json_output:
        emit_json(result.to_json())
    else:
        table = _actions_table("Done", with_outcome=True)
        for r in result.results:
            action = r.action
            psa_id = r.psa_id if r.psa_id is not None else action.psa_id
            outcome = r.outcome if r.error in (None, action.reason) else f"{r.outcome}: {r.error}"
            table.add_row(
                action.kind.value,
                action.ref or "(new)",
                _psa(action.psa_kind, psa_id),
                action.reason,
                outcome,
            )
        console.print(table if result.results else "Nothing to do.")
        _show_warnings(result.warnings)
        if verbose:
            _show_requests(result.requests)
    _exit_on_failure(result, skips_fail=skips_fail)


def _actions_table(title: str, *, with_outcome: bool) -> Table:
    return _table(title, ("action", "ref", "PSA", "reason", *(("outcome",) if with_outcome else ())))


def _table(title: str, columns: tuple[str, ...]) -> Table:
    """A table whose refs stay on one line, to copy and paste into the next command; the rest folds."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=column == "ref", overflow="fold")
    return table


def _show_warnings(warnings: Any) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]Warning:[/] {warning}", highlight=False)


def _show_requests(requests: dict[str, int]) -> None:
    counts = {k: v for k, v in requests.items() if k != "total"}
    total = requests.get("total", sum(counts.values()))
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    err_console.print(f"PSA requests: {total} ({parts})" if parts else "PSA requests: 0", highlight=False)


def _exit_on_failure(result: RunResult, *, skips_fail: bool) -> None:
    """Every item was reported; the exit code says whether some selected item is still not done.

    Done, unchanged and adopted items count as done, also after an earlier failure in the same run;
    an item left to another device that is sending it is named but is no failure here.
    """
    failed = result.failed
    skipped = [
        r
        for r in result.last_results()
        if skips_fail
        and r.outcome is Outcome.SKIPPED
        and r.action.kind is ActionKind.SKIP
        and not r.action.unchanged
    ]
    left = [r.action.ref for r in result.last_results() if r.outcome is Outcome.LEFT]
    if left:
        err_console.print(f"Left to another device that is sending them: {', '.join(left)}", highlight=False)
    not_done = [r.action.ref or "(new)" for r in (*failed, *skipped)]
    if not not_done:
        return
    err_console.print(
        f"[bold red]{len(not_done)} item(s) not done[/]: {', '.join(not_done)}; the others were applied.",
        highlight=False,
    )
    first = failed[0].exc if failed else None
    code = InputError.exit_code if not failed else (first.exit_code if isinstance(first, UserError) else 0)
    raise typer.Exit(code or 1)


def _psa(kind: Any, psa_id: int | None) -> str:
    if kind is None:
        return ""
    return f"{getattr(kind, 'value', kind)} {psa_id if psa_id is not None else '(new)'}"


# --- plumbing ----------------------------------------------------------------------------------


@contextmanager
def _service(writing: str | None = None, *, locked: bool = True, lazy_psa: bool = False) -> Iterator[Service]:
    """Reading commands (``items``, ``--dry-run``) pass ``locked=False``: they never wait for a run;
    ``lazy_psa`` opens the PSA only when first used (``items`` needs only the personal side)."""
    with open_service(load_settings(), writing=writing, locked=locked, lazy_psa=lazy_psa) as svc:
        yield svc


def _with_progress(svc: Service, json_output: bool, run: Callable[[], RunResult]) -> RunResult:
    """Run with a progress bar on stderr once the run touches more than a handful of items."""
    columns = (TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=json_output) as bar:
        task: list[Any] = []

        def advance(done: int, total: int) -> None:
            if total <= PROGRESS_FROM:
                return
            if not task:
                task.append(bar.add_task("applying", total=total))
            bar.update(task[0], completed=done, total=total)

        svc.on_progress = advance
        return run()


def _load_plan(path: Path | None) -> Plan | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Plan.from_json(data)
    except OSError as exc:
        raise InputError(f"cannot read the plan {path}: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a calferry plan (from --dry-run --json): {exc}") from exc


def _alone_with_plan(plan: Path | None, given: dict[str, Any]) -> None:
    """A saved plan is applied exactly: flags that would shape a new plan would be silently ignored."""
    ignored = [flag for flag, value in given.items() if value]
    if plan is not None and ignored:
        raise InputError(
            f"--plan applies the saved plan as it is; {', '.join(ignored)} would be ignored",
            hint="drop them, or make a new plan with --dry-run --json",
        )


def _days(from_: str | None, to: str | None) -> tuple[date | None, date | None]:
    """--from and --to, both or neither: one alone would quietly fall back to the Get window."""
    start, end = _date(from_, "--from"), _date(to, "--to")
    if (start is None) != (end is None):
        raise InputError("give both --from and --to", hint="or neither, for the Get window")
    if start is not None and end is not None and start > end:
        raise InputError(f"--from {start} is later than --to {end}")
    return start, end


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag} wants a date like 2026-12-01, not {text!r}") from None


def _datetime(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag} wants a date and time like 2026-12-02T09:00, not {text!r}") from None


def _id_or_name(value: str | None) -> str | int | None:
    """A number is an id, anything else a name to look up."""
    if value is None:
        return None
    stripped = value.strip()
    return int(stripped) if stripped.isdigit() else stripped

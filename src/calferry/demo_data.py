"""A week of realistic personal items for ``calferry demo``, as one iCalendar text.

A weekly recurring meeting with one moved and one cancelled occurrence, a private appointment,
an all-day event and plain appointments, all around ``today`` in the technician's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event


def demo_calendar(today: date, time_zone: str) -> str:
    """The demo's personal calendar for the week of ``today`` (Monday first)."""
    week = _Week(today - timedelta(days=today.weekday()), ZoneInfo(time_zone))
    calendar = Calendar()
    calendar.add("prodid", "-//calferry//demo//EN")
    calendar.add("version", "2.0")
    for event in _singles(week) + _weekly_standup(week):
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return str(calendar.to_ical().decode("utf-8"))


@dataclass(frozen=True)
class _Week:
    monday: date
    zone: ZoneInfo

    def day(self, offset: int) -> date:
        return self.monday + timedelta(days=offset)

    def at(self, offset: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.day(offset), time(hour, minute), self.zone)


def _event(uid: str, summary: str, start: datetime | date, end: datetime | date, **extra: object) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo("UTC")))
    event.add("summary", summary)
    event.add("dtstart", start)
    event.add("dtend", end)
    for name, value in extra.items():
        event.add(name.rstrip("_").replace("_", "-"), value)
    return event


def _singles(week: _Week) -> list[Event]:
    when = week.at
    return [
        _event(
            "demo-onsite-acme",
            "On-site: Acme Dental network check",
            when(1, 9),
            when(1, 11, 30),
            description="Check the switch in the back office; bring a spare patch cable.",
            location="Acme Dental, 12 Harbour Road",
        ),
        _event(
            "demo-dentist",
            "Dentist",
            when(2, 8),
            when(2, 9),
            description="Dr. Patel, bring the x-rays from last year.",
            class_="PRIVATE",
        ),
        _event("demo-training", "Firewall vendor training", when(3, 13), when(3, 16)),
        _event(
            "demo-conference",
            "IT Nation Connect",
            week.day(4),
            week.day(5),
            transp="TRANSPARENT",
            description="All-day conference.",
        ),
        _event("demo-call-back", "Call back Northwind about backups", when(0, 15), when(0, 15, 30)),
    ]


def _weekly_standup(week: _Week) -> list[Event]:
    when = week.at
    master = _event(
        "demo-weekly-standup",
        "Team stand-up",
        when(0, 9),
        when(0, 9, 30),
        description="Weekly stand-up of the service desk.",
        rrule={"FREQ": "WEEKLY", "COUNT": 8},
        exdate=when(14, 9),
        organizer="mailto:lead@demo.calferry.local",
        attendee=["mailto:tess.tech@demo.calferry.local", "mailto:sam.support@demo.calferry.local"],
    )
    moved = _event(
        "demo-weekly-standup",
        "Team stand-up (moved to the afternoon)",
        when(7, 14),
        when(7, 14, 30),
        recurrence_id=when(7, 9),
        description="Weekly stand-up of the service desk.",
    )
    return [master, moved]

"""Autotask's ``InternalLocations.timeZone`` as an IANA zone name.

The REST swagger types the field as a string of up to 100 characters and the entity page says it holds
"the Microsoft Time Zone Index value"; no live sample is public, and Autotask has no IANA field. So every
form a tenant may answer is accepted: an index as text (``"35"``), a Windows zone name
(``"Eastern Standard Time"``), or an IANA name (``"America/New_York"``). Anything else is unknown, and
the caller decides what to do (calferry warns and uses UTC or the configured ``psa.time_zone``).
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

__all__ = ["iana_zone", "is_iana"]

# Microsoft Time Zone Index values (the Windows "Index" of each standard zone) -> IANA.
MS_INDEX = {
    0: "Etc/GMT+12", 1: "Pacific/Pago_Pago", 2: "Pacific/Honolulu", 3: "America/Anchorage",
    4: "America/Los_Angeles", 10: "America/Denver", 13: "America/Chihuahua", 15: "America/Phoenix",
    20: "America/Chicago", 25: "America/Regina", 30: "America/Mexico_City", 33: "America/Guatemala",
    35: "America/New_York", 40: "America/Indiana/Indianapolis", 45: "America/Bogota",
    50: "America/Halifax", 55: "America/La_Paz", 56: "America/Santiago", 60: "America/St_Johns",
    65: "America/Sao_Paulo", 70: "America/Argentina/Buenos_Aires", 73: "America/Nuuk",
    75: "Atlantic/South_Georgia", 80: "Atlantic/Azores", 83: "Atlantic/Cape_Verde", 85: "Europe/London",
    90: "Atlantic/Reykjavik", 95: "Europe/Budapest", 100: "Europe/Warsaw", 105: "Europe/Paris",
    110: "Europe/Berlin", 113: "Africa/Lagos", 115: "Europe/Bucharest", 120: "Africa/Cairo",
    125: "Europe/Helsinki", 130: "Europe/Athens", 135: "Asia/Jerusalem", 140: "Africa/Johannesburg",
    145: "Europe/Moscow", 150: "Asia/Riyadh", 155: "Africa/Nairobi", 158: "Asia/Baghdad",
    160: "Asia/Tehran", 165: "Asia/Dubai", 170: "Asia/Yerevan", 175: "Asia/Kabul",
    180: "Asia/Yekaterinburg", 185: "Asia/Karachi", 190: "Asia/Kolkata", 193: "Asia/Kathmandu",
    195: "Asia/Dhaka", 200: "Asia/Colombo", 201: "Asia/Novosibirsk", 203: "Asia/Yangon",
    205: "Asia/Bangkok", 207: "Asia/Krasnoyarsk", 210: "Asia/Shanghai", 215: "Asia/Singapore",
    220: "Asia/Taipei", 225: "Australia/Perth", 227: "Asia/Irkutsk", 230: "Asia/Seoul",
    235: "Asia/Tokyo", 240: "Asia/Yakutsk", 245: "Australia/Darwin", 250: "Australia/Adelaide",
    255: "Australia/Sydney", 260: "Australia/Brisbane", 265: "Australia/Hobart",
    270: "Asia/Vladivostok", 275: "Pacific/Port_Moresby", 280: "Pacific/Guadalcanal",
    285: "Pacific/Fiji", 290: "Pacific/Auckland", 300: "Pacific/Tongatapu",
}  # fmt: skip


def iana_zone(value: object) -> str | None:
    """The IANA name for an Autotask time-zone value, or None when it is empty or not recognised."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return MS_INDEX.get(int(text))
    if is_iana(text):
        return text
    return _windows_names().get(text.casefold())


def is_iana(name: str) -> bool:
    """True for a zone name this machine's time-zone database knows (``Europe/Berlin``, ``UTC``)."""
    if name not in _iana_names():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@cache
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _windows_names() -> dict[str, str]:
    return {name.casefold(): zone for name, zone in WINDOWS_TO_OLSON.items()}

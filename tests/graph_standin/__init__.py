"""A stand-in for Microsoft Graph's Outlook calendar API (v1.0), for tests only.

Graph cannot run here, so the Graph adapter is tested against this small server, which replays the
documented wire format: ``calendarView`` paging with ``@odata.nextLink``, ``calendarView/delta`` with
skip and delta tokens (410 ``SyncStateNotFound`` once tokens are expired), ``$batch`` (at most 20
members, answered in any order), single-value extended properties, series / occurrence / exception
shapes, change keys as ``@odata.etag`` with 412 on a stale ``If-Match``, the default calendar's
``owner``, and, when switched on, 429 with ``Retry-After`` and answers lost after a request was
carried out. For the org service: several users' mailboxes under ``/v1.0/users/{id or UPN}/...`` for an
app-only token from the Entra stand-in's client credentials grant (secret or certificate assertion),
403 ``ErrorAccessDenied`` for a mailbox outside the app's allowed group or without the application
permission, 404 ``ErrorInvalidUser``, 400 for ``/me`` without a user. It is not Graph: only what calferry
uses is there.
"""

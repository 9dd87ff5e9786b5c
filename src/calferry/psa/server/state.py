"""What one running server holds: settings, the database, counters, the fault plan, the marker clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, func, or_, select

from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME, models, seed
from calferry.psa.server.faults import FaultPlan
from calferry.psa.server.limits import HourlyCounter, ThreadLimiter
from calferry.psa.server.problems import ApiError
from calferry.psa.server.rules import Actor
from calferry.psa.server.values import MarkerClock, storable_text


@dataclass
class Settings:
    """Everything ``calferry psa serve`` takes; ``create_app(Settings(db_url=...))`` runs it in-process."""

    db_url: str
    seed: str | None = None
    integration_code: str = DEMO_INTEGRATION_CODE
    username: str = DEMO_USERNAME
    secret: str = DEMO_SECRET
    hourly_limit: int = 10_000
    thread_limit: int = 3
    thread_refusal_status: int = 429
    """The status of a thread-limit refusal: Autotask's may come as 429 or not (500)."""
    faults: FaultPlan = field(default_factory=FaultPlan)
    impersonation: bool = True
    """The API user's security level may impersonate (and the technicians' levels allow it)."""
    appointments_for_others: bool = True
    """Autotask's service-desk setting "Allow users that can view all tickets to create, edit, and
    delete appointments for other resources"."""


class ServerState:
    """Shared by the gate and the routes of one app (``app.state.psa``)."""

    def __init__(self, settings: Settings) -> None:
        if settings.seed not in (None, "demo"):
            raise ValueError(f"unknown seed {settings.seed!r}; the only one is 'demo'")
        self.settings = settings
        self.engine: Engine = models.make_engine(settings.db_url)
        self.hourly = HourlyCounter(settings.hourly_limit)
        self.threads = ThreadLimiter(settings.thread_limit, settings.thread_refusal_status)
        self.clock = MarkerClock()
        models.create_schema(self.engine)
        self._fill()

    def _fill(self) -> None:
        seed.ensure_countries(self.engine)
        if self.settings.seed == "demo":
            seed.seed_demo(self.engine, self.settings.username)
        seed.ensure_api_user(self.engine, self.settings.username)

    def reset(self) -> None:
        """Empty the database, seed it again and zero the counters: a fresh server, cheaply (tests)."""
        models.clear(self.engine)
        self._fill()
        self.hourly.reset()
        self.settings.faults.reset()

    def _resource_by_user(self, user: str) -> dict[str, object] | None:
        table = models.TABLES["Resources"]
        stmt = select(table).where(
            or_(func.lower(table.c.email) == user.lower(), func.lower(table.c.userName) == user.lower())
        )
        with self.engine.connect() as conn:
            found = conn.execute(stmt.order_by(table.c.id)).mappings().first()
        return dict(found) if found else None

    def knows_user(self, user: str) -> bool:
        if user.lower() == self.settings.username.lower():
            return True
        try:
            storable_text(user)
        except ValueError:
            return False  # no resource can have such a name; the database must not see it
        return self._resource_by_user(user) is not None

    def actor(self, impersonation: str | None) -> Actor:
        """The API user's resource, or the impersonated one (which must exist and be active)."""
        api_user = self._resource_by_user(self.settings.username)
        api_id = int(api_user["id"]) if api_user else None  # type: ignore[call-overload]
        others = self.settings.appointments_for_others
        if impersonation is None or not impersonation.strip():
            return Actor(api_user, api_id, appointments_for_others=others)
        if not self.settings.impersonation:
            raise ApiError(
                f"Impersonation of resource {impersonation.strip()} is not allowed for the logged in Resource."
            )
        target = self._active_resource(impersonation.strip())
        return Actor(target, api_id, impersonating=True, appointments_for_others=others)

    def _active_resource(self, text: str) -> dict[str, object]:
        if not (text.isascii() and text.isdigit() and len(text) < 19):
            raise ApiError(f"ImpersonationResourceId '{text}' is not a resource id.")
        table = models.TABLES["Resources"]
        with self.engine.connect() as conn:
            found = conn.execute(select(table).where(table.c.id == int(text))).mappings().first()
        if found is None or not found["isActive"]:
            raise ApiError(f"Impersonation failed: resource {text} does not exist or is not active.")
        return dict(found)

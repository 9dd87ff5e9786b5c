"""Property-based run over the server's OpenAPI: no server error except documented ``{"errors": [...]}``."""

from __future__ import annotations

import tempfile

import schemathesis
from hypothesis import HealthCheck, settings

from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME
from calferry.psa.server.app import create_app
from calferry.psa.server.state import Settings

HEADERS = {"ApiIntegrationCode": DEMO_INTEGRATION_CODE, "UserName": DEMO_USERNAME, "Secret": DEMO_SECRET}

_app = create_app(Settings(db_url=f"sqlite:///{tempfile.mkdtemp()}/schema.sqlite3", seed="demo"))
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


def _errors_are_documented(response) -> None:
    """A 5xx must be Autotask's error shape, never a crash page."""
    if response.status_code >= 500:
        body = response.json()
        assert isinstance(body.get("errors"), list) and body["errors"], response.text


@schema.parametrize()
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_undocumented_server_errors(case):
    response = case.call(headers=HEADERS)
    _errors_are_documented(response)

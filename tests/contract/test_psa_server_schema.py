"""Property-based run over the server's OpenAPI with valid, negative and boundary data (schemathesis'
fuzzing, negative mode and coverage phase): every answer is a documented shape, no request crashes."""

from __future__ import annotations

import tempfile

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from calferry.psa.server import DEMO_INTEGRATION_CODE, DEMO_SECRET, DEMO_USERNAME
from calferry.psa.server.app import create_app
from calferry.psa.server.gate import INTERNAL_ERROR
from calferry.psa.server.state import Settings

HEADERS = {"ApiIntegrationCode": DEMO_INTEGRATION_CODE, "UserName": DEMO_USERNAME, "Secret": DEMO_SECRET}
DOCUMENTED = {200, 400, 401, 404, 405, 413, 429, 500}

_app = create_app(Settings(db_url=f"sqlite:///{tempfile.mkdtemp()}/schema.sqlite3", seed="demo"))
_config = SchemathesisConfig.from_dict({"generation": {"mode": "all", "deterministic": True}})
schema = schemathesis.openapi.from_asgi("/openapi.json", _app, config=_config)


def _answer_is_documented(response) -> None:
    """A documented status; an error is Autotask's ``{"errors": [...]}``, never the last-resort answer."""
    assert response.status_code in DOCUMENTED, response.text
    if response.status_code >= 400:
        errors = response.json().get("errors")
        assert isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors), response.text
        assert INTERNAL_ERROR not in errors, response.request.url


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_crashes_the_server(case):
    _answer_is_documented(case.call(headers=HEADERS))

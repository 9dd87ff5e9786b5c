"""R1/R2 through the CLI: integration starts disabled, and the Calendar tab's options are the config's."""

from __future__ import annotations

from calferry.model import PersonalItem
from tests.system.conftest import Cli, at


def test_r1_send_and_get_refuse_until_integration_is_enabled(cli: Cli) -> None:
    cli.create(PersonalItem("r1", at(1), at(1, 10), "Plan the week"))
    cli.ok("config", "disable")
    for command in (("send", "r1"), ("get",)):
        refused = cli.run(*command)
        assert refused.exit_code == 3
        assert refused.data["error"]["type"] == "IntegrationDisabled"
        assert (
            "calferry config enable" in refused.data["error"]["message"]
            or "R1" in refused.data["error"]["message"]
        )
    assert cli.psa_query("Appointments", {"op": "eq", "field": "title", "value": "Plan the week"}) == []
    cli.ok("config", "enable")
    sent = cli.ok("send", "r1")
    assert [a["outcome"] for a in sent.actions(ref="r1")] == ["done"]

"""The README's "Demo data" section names what the demo PSA really holds (a newcomer types these names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def _demo_data_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("## Demo data", 1)[1].split("\n## ", 1)[0]


def _rows(server: Any, entity: str) -> list[dict[str, Any]]:
    with server.client() as client:
        answer = client.post(f"{entity}/query", json={"filter": [{"op": "gte", "field": "id", "value": 0}]})
    answer.raise_for_status()
    rows: list[dict[str, Any]] = answer.json()["items"]
    return rows


def test_the_readme_names_every_demo_contact_company_and_technician_as_seeded(psa_server: Any) -> None:
    section = " ".join(_demo_data_section().split())
    companies = {c["id"]: c["companyName"] for c in _rows(psa_server, "Companies")}
    for company_id, name in companies.items():
        assert f"{name} ({company_id})" in section
    for contact in _rows(psa_server, "Contacts"):
        assert f'"{contact["firstName"]} {contact["lastName"]}"' in section
    technicians = [r for r in _rows(psa_server, "Resources") if r["email"].startswith("tech.")]
    for tech in technicians:
        assert f"{tech['firstName']} {tech['lastName']} `{tech['email'].split('@')[0]}`" in section

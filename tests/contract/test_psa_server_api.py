"""The PSA server's endpoints and answer shapes (autotask-api.md §2, §5), over real HTTP with httpx."""

from __future__ import annotations

import json

import httpx
import pytest

from calferry.psa.server.entities import ENTITIES
from calferry.psa.server.problems import INVALID_CODE, UNKNOWN_USER

ALL = {"filter": [{"op": "gte", "field": "id", "value": 0}]}


def test_zone_information_needs_no_credentials_and_points_back_here(psa_server):
    answer = httpx.get(f"{psa_server.base_url}zoneInformation", params={"user": "API@demo.calferry.local"})
    assert answer.status_code == 200
    zone = answer.json()
    assert set(zone) == {"zoneName", "url", "webUrl", "ci"}
    assert psa_server.base_url.startswith(zone["url"])
    assert zone["url"].endswith("/atservicesrest/")
    version_url = zone["url"] + "V1.0/ThresholdInformation"
    assert httpx.get(version_url, headers=psa_server.headers).status_code == 200


@pytest.mark.parametrize("user", ["", "nobody@example.com"])
def test_zone_information_refuses_unknown_or_blank_user_with_500(psa_server, user):
    answer = httpx.get(f"{psa_server.base_url}zoneInformation", params={"user": user})
    assert answer.status_code == 500
    assert answer.json()["errors"]


def test_version_information_on_root_and_versioned_path(psa_server):
    root = psa_server.base_url.removesuffix("v1.0/")
    assert httpx.get(root + "versioninformation").json() == {"apiVersions": ["V1.0"]}
    assert httpx.get(root + "VersionInformation").json() == {"apiVersions": ["V1.0"]}


def test_threshold_information_counts_requests(psa_server):
    with psa_server.client() as client:
        first = client.get("ThresholdInformation").json()
        client.post("Appointments/query", json=ALL)
        second = client.get("ThresholdInformation").json()
    assert first["externalRequestThreshold"] == 10_000
    assert first["requestThresholdTimeframe"] == 60
    assert second["currentTimeframeRequestCount"] == first["currentTimeframeRequestCount"] + 2


CREDENTIAL_ANSWERS = [
    ("ApiIntegrationCode", 500, INVALID_CODE),
    ("UserName", 500, UNKNOWN_USER),
    ("Secret", 401, "Authentication failed"),
]


@pytest.mark.parametrize("missing", [True, False], ids=["missing", "wrong"])
@pytest.mark.parametrize(("header", "status", "words"), CREDENTIAL_ANSWERS)
def test_r12_only_a_wrong_secret_is_401_a_wrong_user_or_code_is_500(
    psa_server, missing, header, status, words
):
    headers = {k: v for k, v in psa_server.headers.items() if k != header}
    if not missing:
        headers[header] = "someone-else"
    answer = httpx.post(f"{psa_server.base_url}Appointments/query", json=ALL, headers=headers)
    assert answer.status_code == status
    [message] = answer.json()["errors"]
    assert words in message


def test_wrong_secret_is_401_and_not_counted(psa_server):
    bad = psa_server.headers | {"Secret": "wrong"}
    assert httpx.get(f"{psa_server.base_url}ThresholdInformation", headers=bad).status_code == 401
    with psa_server.client() as client:
        assert client.get("ThresholdInformation").json()["currentTimeframeRequestCount"] == 1


def test_paths_are_case_insensitive(psa_server):
    root = psa_server.base_url.removesuffix("atservicesrest/v1.0/")
    url = f"{root}ATServicesRest/V1.0/appointments/QUERY/Count"
    answer = httpx.post(url, json=ALL, headers=psa_server.headers)
    assert answer.status_code == 200
    assert answer.json()["queryCount"] > 0


def test_get_by_id_answers_item_and_404_when_missing(psa_server):
    with psa_server.client() as client:
        first = client.post("Companies/query", json=ALL).json()["items"][0]
        found = client.get(f"Companies/{first['id']}")
        missing = client.get("Companies/987654321")
    assert found.json()["item"]["companyName"] == first["companyName"]
    assert missing.status_code == 404
    assert missing.json()["errors"] == ["Companies 987654321 does not exist."]


def test_query_by_get_search_and_post_agree(psa_server):
    flt = {"filter": [{"op": "eq", "field": "isSystemActionType", "value": True}]}
    with psa_server.client() as client:
        by_get = client.get("ActionTypes/query", params={"search": json.dumps(flt)}).json()
        by_post = client.post("ActionTypes/query", json=flt).json()
        count_get = client.get("ActionTypes/query/count", params={"search": json.dumps(flt)}).json()
        count_post = client.post("ActionTypes/query/count", json=flt).json()
    assert by_get == by_post
    assert [i["id"] for i in by_get["items"]] == [0, 1, 2, 3, 5]
    assert count_get == count_post == {"queryCount": 5}
    assert by_get["pageDetails"] == {
        "count": 5,
        "requestCount": 500,
        "prevPageUrl": None,
        "nextPageUrl": None,
    }


@pytest.mark.parametrize("entity", [e.name for e in ENTITIES])
def test_every_entity_answers_query_count_and_metadata(psa_server, entity):
    with psa_server.client() as client:
        items = client.post(f"{entity}/query", json=ALL).json()["items"]
        count = client.post(f"{entity}/query/count", json=ALL).json()["queryCount"]
        info = client.get(f"{entity}/entityInformation").json()["info"]
        fields = client.get(f"{entity}/entityInformation/fields").json()["fields"]
        udfs = client.get(f"{entity}/entityInformation/userDefinedFields").json()
    assert count == len(items) > 0
    assert info["name"] == entity and info["canQuery"] is True
    assert {f["name"] for f in fields} >= {"id"}
    assert set(items[0]) - {"userDefinedFields"} == {f["name"] for f in fields}
    assert udfs == {"fields": []}


def test_fields_metadata_describes_required_readonly_length_and_references(psa_server):
    with psa_server.client() as client:
        fields = {f["name"]: f for f in client.get("Appointments/entityInformation/fields").json()["fields"]}
        ticket_fields = {
            f["name"]: f for f in client.get("Tickets/entityInformation/fields").json()["fields"]
        }
    assert fields["title"]["isRequired"] and fields["title"]["length"] == 256
    assert fields["updateDateTime"]["isReadOnly"] and fields["updateDateTime"]["dataType"] == "dateTime"
    assert fields["resourceID"]["isReference"] and fields["resourceID"]["referenceEntityType"] == "Resources"
    assert ticket_fields["creatorType"]["isQueryable"] is False
    assert (
        ticket_fields["priority"]["isPickList"]
        and ticket_fields["priority"]["picklistValues"][0]["value"] == "1"
    )


def test_entity_information_reflects_write_urls(psa_server):
    with psa_server.client() as client:
        todos = client.get("CompanyToDos/entityInformation").json()["info"]
        resources = client.get("Resources/entityInformation").json()["info"]
        locations = client.get("InternalLocations/entityInformation").json()["info"]
    assert todos["canCreate"] and todos["canUpdate"] and todos["canDelete"]
    assert not resources["canCreate"] and resources["canUpdate"] and not resources["canDelete"]
    assert not locations["canCreate"]


def test_unknown_entity_is_404_with_errors(psa_server):
    with psa_server.client() as client:
        answer = client.post("Unicorns/query", json=ALL)
    assert answer.status_code == 404
    assert answer.json()["errors"]


def test_internal_location_time_zone_is_a_string_as_in_autotask(psa_server):
    with psa_server.client() as client:
        flt = {"filter": [{"op": "eq", "field": "email", "value": "tech.berlin@demo.calferry.local"}]}
        tech = client.post("Resources/query", json=flt).json()["items"][0]
        location = client.get(f"InternalLocations/{tech['locationID']}").json()["item"]
        fields = client.get("InternalLocations/entityInformation/fields").json()["fields"]
    assert location["timeZone"] == "W. Europe Standard Time"
    assert "ianaTimeZone" not in location  # Autotask has no IANA field
    assert {f["name"]: f["dataType"] for f in fields}["timeZone"] == "string"


def test_countries_answer_get_query_and_count_with_autotask_fields(psa_server):
    default = {"filter": [{"op": "eq", "field": "isDefaultCountry", "value": True}]}
    german = {"filter": [{"op": "eq", "field": "countryCode", "value": "DE"}]}
    with psa_server.client() as client:
        us = client.get("Countries/237").json()["item"]
        some = client.post(
            "Countries/query", json={"filter": [{"op": "in", "field": "id", "value": [14, 83]}]}
        )
        count = client.post("Countries/query/count", json=default).json()
        by_code = client.get("Countries/query", params={"search": json.dumps(german)}).json()["items"]
        fields = {f["name"]: f for f in client.get("Countries/entityInformation/fields").json()["fields"]}
    assert us == {
        "id": 237, "name": "United States of America", "displayName": "United States", "countryCode": "US",
        "addressFormatID": 1, "isActive": True, "isDefaultCountry": True, "invoiceTemplateID": None,
        "quoteTemplateID": None, "userDefinedFields": [],
    }  # fmt: skip
    assert [(c["id"], c["displayName"], c["countryCode"]) for c in some.json()["items"]] == [
        (14, "Australia", "AU"),
        (83, "Germany", "DE"),
    ]
    assert count == {"queryCount": 1}
    assert [c["id"] for c in by_code] == [83]
    assert fields["countryCode"]["length"] == 2 and fields["countryCode"]["isReadOnly"]
    assert fields["name"]["length"] == 50 and fields["displayName"]["length"] == 100
    assert (
        fields["addressFormatID"]["dataType"] == "long"
        and fields["isDefaultCountry"]["dataType"] == "boolean"
    )


def test_countries_can_be_renamed_but_not_created_or_deleted(psa_server):
    with psa_server.client() as client:
        info = client.get("Countries/entityInformation").json()["info"]
        create = client.post("Countries", json={"name": "Atlantis", "countryCode": "AT"})
        delete = client.delete("Countries/83")
        patch = client.patch("Countries", json={"id": 237, "displayName": "USA", "name": "Renamed"})
        put_missing = client.put("Countries", json={"id": 237, "displayName": "USA"})
        put = client.put("Countries", json={"id": 237, "displayName": "U.S.", "addressFormatID": 1})
        after = client.post("Countries/query/count", json=ALL).json()["queryCount"]
        us = client.get("Countries/237").json()["item"]
    assert info["canQuery"] and info["canUpdate"] and not (info["canCreate"] or info["canDelete"])
    assert [r.status_code for r in (create, delete)] == [405] * 2
    assert patch.json() == put.json() == {"itemId": 237}
    assert put_missing.status_code == 500 and "addressFormatID" in put_missing.json()["errors"][0]
    assert after == 3 and us["displayName"] == "U.S." and us["name"] == "United States of America"
    assert us["isActive"] is None  # PUT nulls what it was not sent, as Autotask does


def test_company_country_is_a_reference_to_countries(psa_server):
    with psa_server.client() as client:
        fields = {f["name"]: f for f in client.get("Companies/entityInformation/fields").json()["fields"]}
        owner = client.post("Resources/query", json=ALL).json()["items"][0]["id"]
        body = {"companyName": "Globex", "companyType": 1, "ownerResourceID": owner, "phone": "+49 30 1"}
        unknown = client.post("Companies", json=body | {"countryID": 999})
        made = client.post("Companies", json=body | {"countryID": 83})
        changed = client.patch("Companies", json={"id": made.json()["itemId"], "countryID": 998})
        company = client.get(f"Companies/{made.json()['itemId']}").json()["item"]
    assert fields["countryID"]["isReference"] and fields["countryID"]["referenceEntityType"] == "Countries"
    assert fields["countryID"]["dataType"] == "integer"
    assert unknown.status_code == 500
    assert "Companies.countryID: Countries 999 does not exist." in unknown.json()["errors"]
    assert made.status_code == 200 and changed.status_code == 500
    assert company["countryID"] == 83

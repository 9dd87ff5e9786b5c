"""The REST routes: thin, each parses, calls ``store`` and renders Autotask's answer shape.

Paths are canonicalised (case-insensitive) by ``gate.Gate`` before they reach these routes.
A missing item answers ``404 {"errors": [...]}`` on GET (as Autotask does; clients also guard against
``{"item": null}``) and on PUT/PATCH, and Autotask's ``500 "No matching records found"`` on DELETE.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Header, Path, Query, Request

from calferry.psa.server import query as q
from calferry.psa.server import store
from calferry.psa.server.entities import CREATE, DELETE, ENTITIES, UPDATE, Entity, Field, child_entity, entity
from calferry.psa.server.gate import PREFIX, ROOT
from calferry.psa.server.models import TABLES
from calferry.psa.server.problems import UNKNOWN_USER, ApiError
from calferry.psa.server.state import ServerState

EntityName = StrEnum("EntityName", {e.name: e.name for e in ENTITIES})  # type: ignore[misc]
ParentName = StrEnum("ParentName", {p: p for p in sorted({e.parent.parent for e in ENTITIES if e.parent})})  # type: ignore[misc]
ChildName = StrEnum("ChildName", {c: c for c in sorted({e.parent.child for e in ENTITIES if e.parent})})  # type: ignore[misc]

JsonBody = Annotated[dict[str, Any], Body()]
Impersonation = Annotated[str | None, Header(alias="ImpersonationResourceId")]
ItemId = Annotated[int, Path(ge=0, le=2**63 - 1)]
"""An id the database can hold; any other (negative, 2^63 and up, 4,300 digits) is a 404 like a missing one."""

router = APIRouter()
api = APIRouter(prefix=PREFIX)


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.psa
    return state


def _entity(name: str) -> Entity:
    found = entity(str(name))
    if found is None:
        raise ApiError(f"Unknown entity '{name}'.", status=404)
    return found


@router.get(f"{ROOT}/versionInformation")
@api.get("/versionInformation")
def version_information() -> dict[str, Any]:
    return {"apiVersions": ["V1.0"]}


@api.get("/zoneInformation")
def zone_information(request: Request, user: str = "") -> dict[str, Any]:
    """No credentials needed; ``url`` points back at this server, without the version (like Autotask)."""
    if not user.strip() or not _state(request).knows_user(user):
        raise ApiError(UNKNOWN_USER)
    base = str(request.base_url)
    return {"zoneName": "Calferry local", "url": f"{base}atservicesrest/", "webUrl": base, "ci": 0}


@api.get("/ThresholdInformation")
def threshold_information(request: Request) -> dict[str, Any]:
    hourly = _state(request).hourly
    return {
        "externalRequestThreshold": hourly.limit,
        "requestThresholdTimeframe": 60,
        "currentTimeframeRequestCount": hourly.current(),
    }


@api.get("/{entity_name}/entityInformation")
def entity_information(entity_name: EntityName) -> dict[str, Any]:
    ent = _entity(entity_name)
    verbs = ent.all_verbs
    access = {v: ("All" if v in verbs else "None") for v in (CREATE, DELETE, "query", UPDATE)}
    return {
        "info": {
            "name": ent.name,
            "canCreate": CREATE in verbs,
            "canDelete": DELETE in verbs,
            "canQuery": True,
            "canUpdate": UPDATE in verbs,
            "userAccessForCreate": access[CREATE],
            "userAccessForDelete": access[DELETE],
            "userAccessForQuery": access["query"],
            "userAccessForUpdate": access[UPDATE],
            "hasUserDefinedFields": False,
            "supportsWebhookCallouts": False,
        }
    }


def _field_info(spec: Field) -> dict[str, Any]:
    picklist = [
        {
            "value": str(v),
            "label": label,
            "isDefaultValue": i == 0,
            "sortOrder": i,
            "parentValue": "",
            "isActive": True,
            "isSystem": True,
        }
        for i, (v, label) in enumerate(spec.picklist)
    ]
    return {
        "name": spec.name,
        "dataType": spec.type,
        "length": spec.length,
        "isRequired": spec.required,
        "isReadOnly": spec.read_only,
        "isQueryable": spec.queryable,
        "isReference": spec.reference is not None,
        "referenceEntityType": spec.reference or "",
        "isPickList": bool(spec.picklist) or spec.tenant_picklist,
        "picklistValues": picklist if (picklist or spec.tenant_picklist) else None,
        "picklistParentValueField": "",
        "isSupportedWebhookField": False,
    }


@api.get("/{entity_name}/entityInformation/fields")
def entity_fields(entity_name: EntityName) -> dict[str, Any]:
    return {"fields": [_field_info(f) for f in _entity(entity_name).fields]}


@api.get("/{entity_name}/entityInformation/userDefinedFields")
def entity_udfs(entity_name: EntityName) -> dict[str, Any]:
    _entity(entity_name)
    return {"fields": []}


def _search(search: str) -> Any:
    try:
        return json.loads(search)
    except (ValueError, RecursionError):
        raise ApiError("The 'search' parameter is not valid JSON.") from None


def _query_answer(
    request: Request, ent: Entity, body: Any, paging: str | None = None, search: str | None = None
) -> dict[str, Any]:
    """One page; the page URLs carry ``search`` when the query came by GET, so they are followed by GET."""
    parsed = q.parse(ent, TABLES[ent.name], body)
    token = q.PageToken.decode(paging, ent, parsed) if paging else None
    page = store.page(_state(request).engine, ent, parsed, token)
    if parsed.include is not None and "id" not in parsed.include and (page.next or token):
        raise ApiError("IncludeFields must contain 'id' when the result has more than 500 records.")

    def url(tok: q.PageToken | None) -> str | None:
        if tok is None:
            return None
        params = {"paging": tok.encode()} | ({"search": search} if search is not None else {})
        return f"{request.base_url}atservicesrest/v1.0/{ent.name}/query/next?{urlencode(params)}"

    return {
        "items": [store.wire(row, parsed.include) for row in page.items],
        "pageDetails": {
            "count": len(page.items),
            "requestCount": token.page_size if token else parsed.page_size,
            "prevPageUrl": url(page.prev),
            "nextPageUrl": url(page.next),
        },
    }


@api.get("/{entity_name}/query")
def query_get(request: Request, entity_name: EntityName, search: str = Query()) -> dict[str, Any]:
    return _query_answer(request, _entity(entity_name), _search(search), search=search)


@api.get("/{entity_name}/query/next")
def query_next_get(
    request: Request, entity_name: EntityName, paging: str = Query(), search: str | None = Query(None)
) -> dict[str, Any]:
    """Follow the page URLs of a GET ``?search=`` query with GET; those of a POST query answer 405."""
    if search is None:
        raise ApiError(
            "This page belongs to a POST query: follow it with POST and the same body.", status=405
        )
    return _query_answer(request, _entity(entity_name), _search(search), paging, search=search)


@api.post("/{entity_name}/query")
def query_post(request: Request, entity_name: EntityName, body: JsonBody) -> dict[str, Any]:
    return _query_answer(request, _entity(entity_name), body)


@api.post("/{entity_name}/query/next")
def query_next(
    request: Request, entity_name: EntityName, body: JsonBody, paging: str = Query()
) -> dict[str, Any]:
    """Follow the page URLs of a POST query with POST and the original body."""
    return _query_answer(request, _entity(entity_name), body, paging)


def _count(request: Request, ent: Entity, body: Any) -> dict[str, int]:
    parsed = q.parse(ent, TABLES[ent.name], body)
    return {"queryCount": store.count(_state(request).engine, ent, parsed)}


@api.get("/{entity_name}/query/count")
def count_get(request: Request, entity_name: EntityName, search: str = Query()) -> dict[str, int]:
    return _count(request, _entity(entity_name), _search(search))


@api.post("/{entity_name}/query/count")
def count_post(request: Request, entity_name: EntityName, body: JsonBody) -> dict[str, int]:
    return _count(request, _entity(entity_name), body)


@api.get("/{entity_name}/{item_id}")
def get_item(request: Request, entity_name: EntityName, item_id: ItemId) -> dict[str, Any]:
    ent = _entity(entity_name)
    row = store.get(_state(request).engine, ent, item_id)
    if row is None:
        raise ApiError(f"{ent.name} {item_id} does not exist.", status=404)
    return {"item": store.wire(row)}


def _root_write(request: Request, name: str, verb: str, imp: str | None) -> store.Write:
    ent = _entity(name)
    if verb not in ent.root_verbs:
        where = (
            f" Use /{ent.parent.parent}/{{id}}/{ent.parent.child}."
            if ent.parent and verb in ent.parent.verbs
            else ""
        )
        raise ApiError(f"{ent.name} does not support {verb} at this URL.{where}", status=405)
    state = _state(request)
    return store.Write(ent, state.actor(imp), state.clock.now())


def _child_write(
    request: Request, parent: str, parent_id: int, child: str, verb: str, imp: str | None
) -> store.Write:
    ent = child_entity(str(parent), str(child))
    if ent is None or ent.parent is None:
        raise ApiError(f"There is no URL /{parent}/{{id}}/{child}.", status=404)
    if verb not in ent.parent.verbs:
        raise ApiError(f"{ent.name} does not support {verb}.", status=405)
    state = _state(request)
    return store.Write(ent, state.actor(imp), state.clock.now(), ent.parent.key, parent_id)


@api.post("/{entity_name}")
def create_root(
    request: Request, entity_name: EntityName, body: JsonBody, imp: Impersonation = None
) -> dict[str, int]:
    return {
        "itemId": store.create(_state(request).engine, _root_write(request, entity_name, CREATE, imp), body)
    }


@api.patch("/{entity_name}")
def patch_root(
    request: Request, entity_name: EntityName, body: JsonBody, imp: Impersonation = None
) -> dict[str, int]:
    w = _root_write(request, entity_name, UPDATE, imp)
    return {"itemId": store.update(_state(request).engine, w, body, replace=False)}


@api.put("/{entity_name}")
def put_root(
    request: Request, entity_name: EntityName, body: JsonBody, imp: Impersonation = None
) -> dict[str, int]:
    w = _root_write(request, entity_name, UPDATE, imp)
    return {"itemId": store.update(_state(request).engine, w, body, replace=True)}


@api.delete("/{entity_name}/{item_id}")
def delete_root(
    request: Request, entity_name: EntityName, item_id: ItemId, imp: Impersonation = None
) -> dict[str, int]:
    w = _root_write(request, entity_name, DELETE, imp)
    return {"itemId": store.delete(_state(request).engine, w, item_id)}


@api.post("/{parent}/{parent_id}/{child}")
def create_child(
    request: Request,
    parent: ParentName,
    parent_id: ItemId,
    child: ChildName,
    body: JsonBody,
    imp: Impersonation = None,
) -> dict[str, int]:
    w = _child_write(request, parent, parent_id, child, CREATE, imp)
    return {"itemId": store.create(_state(request).engine, w, body)}


@api.patch("/{parent}/{parent_id}/{child}")
def patch_child(
    request: Request,
    parent: ParentName,
    parent_id: ItemId,
    child: ChildName,
    body: JsonBody,
    imp: Impersonation = None,
) -> dict[str, int]:
    w = _child_write(request, parent, parent_id, child, UPDATE, imp)
    return {"itemId": store.update(_state(request).engine, w, body, replace=False)}


@api.put("/{parent}/{parent_id}/{child}")
def put_child(
    request: Request,
    parent: ParentName,
    parent_id: ItemId,
    child: ChildName,
    body: JsonBody,
    imp: Impersonation = None,
) -> dict[str, int]:
    w = _child_write(request, parent, parent_id, child, UPDATE, imp)
    return {"itemId": store.update(_state(request).engine, w, body, replace=True)}


@api.delete("/{parent}/{parent_id}/{child}/{item_id}")
def delete_child(
    request: Request,
    parent: ParentName,
    parent_id: ItemId,
    child: ChildName,
    item_id: ItemId,
    imp: Impersonation = None,
) -> dict[str, int]:
    w = _child_write(request, parent, parent_id, child, DELETE, imp)
    return {"itemId": store.delete(_state(request).engine, w, item_id)}


router.include_router(api)

"""The root document: a Swagger 2.0 description of the exposed tables and functions.

Built from the schema cache alone, so it lists every relation in the exposed
schemas whatever the caller's privileges (PostgREST's ``ignore-privileges`` mode);
what a role may actually read is still decided by grants and RLS.
"""

from __future__ import annotations

import json
from typing import Any

from rowgate.dataapi.request import ApiRequest
from rowgate.dataapi.response import Response
from rowgate.dataapi.schema_cache import Column, SchemaCache, Table

_JSON_TYPES = {
    "int2": ("integer", "smallint"),
    "int4": ("integer", "integer"),
    "int8": ("integer", "bigint"),
    "float4": ("number", "real"),
    "float8": ("number", "double precision"),
    "numeric": ("number", "numeric"),
    "bool": ("boolean", "boolean"),
}


def openapi_document(req: ApiRequest, cache: SchemaCache) -> Response:
    tables = sorted(
        (t for t in cache.tables.values() if t.schema == req.schema),
        key=lambda t: t.name,
    )
    functions = sorted(
        name for (schema, name) in cache.functions if schema == req.schema
    )
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "OpenAPI description (this document)"}}
    }
    for table in tables:
        paths[f"/{table.name}"] = {
            verb: {"tags": [table.name], "responses": {"200": {"description": "OK"}}}
            for verb in ("get", "post", "patch", "delete")
        }
    for name in functions:
        paths[f"/rpc/{name}"] = {
            verb: {
                "tags": ["(rpc) " + name],
                "responses": {"200": {"description": "OK"}},
            }
            for verb in ("get", "post")
        }
    document = {
        "swagger": "2.0",
        "info": {"title": "rowgate data API", "description": "", "version": "1"},
        "basePath": "/",
        "schemes": ["http", "https"],
        "consumes": [
            "application/json",
            "application/vnd.pgrst.object+json",
            "text/csv",
        ],
        "produces": [
            "application/json",
            "application/vnd.pgrst.object+json",
            "text/csv",
        ],
        "paths": paths,
        "definitions": {table.name: _definition(table) for table in tables},
    }
    body = json.dumps(document, ensure_ascii=False).encode()
    return Response(
        200, [("Content-Type", "application/openapi+json; charset=utf-8")], body
    )


def _definition(table: Table) -> dict[str, Any]:
    required = [
        c.name
        for c in table.columns
        if not c.nullable and c.default is None and not c.generated
    ]
    definition: dict[str, Any] = {
        "type": "object",
        "properties": {c.name: _property(c, table) for c in table.columns},
    }
    if required:
        definition["required"] = required
    return definition


def _property(column: Column, table: Table) -> dict[str, Any]:
    json_type, fmt = _JSON_TYPES.get(column.base_type, ("string", column.data_type))
    prop: dict[str, Any] = {"type": json_type, "format": fmt}
    if column.base_type.startswith("_"):
        prop = {
            "type": "array",
            "format": column.data_type,
            "items": {"type": "string"},
        }
    if column.name in table.primary_key:
        prop["description"] = "Note:\nThis is a Primary Key.<pk/>"
    return prop

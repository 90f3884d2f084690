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
from rowgate.dataapi.schema_cache import (
    Column,
    ForeignKey,
    Function,
    SchemaCache,
    Table,
)

_JSON_TYPES = {
    "int2": ("integer", "smallint"),
    "int4": ("integer", "integer"),
    "int8": ("integer", "bigint"),
    "float4": ("number", "real"),
    "float8": ("number", "double precision"),
    "numeric": ("number", "numeric"),
    "bool": ("boolean", "boolean"),
}


# Parameters every table operation shares, referenced by name as PostgREST does.
_COMMON_PARAMETERS: dict[str, dict[str, Any]] = {
    "select": {"name": "select", "in": "query", "type": "string"},
    "order": {"name": "order", "in": "query", "type": "string"},
    "range": {"name": "Range", "in": "header", "type": "string"},
    "rangeUnit": {
        "name": "Range-Unit",
        "in": "header",
        "type": "string",
        "default": "items",
    },
    "offset": {"name": "offset", "in": "query", "type": "string"},
    "limit": {"name": "limit", "in": "query", "type": "string"},
    "on_conflict": {"name": "on_conflict", "in": "query", "type": "string"},
    "columns": {"name": "columns", "in": "query", "type": "string"},
    "preferReturn": {
        "name": "Prefer",
        "in": "header",
        "type": "string",
        "enum": ["return=representation", "return=minimal", "return=headers-only"],
    },
    "preferCount": {
        "name": "Prefer",
        "in": "header",
        "type": "string",
        "enum": ["count=none", "count=exact", "count=planned", "count=estimated"],
    },
    "preferPost": {
        "name": "Prefer",
        "in": "header",
        "type": "string",
        "enum": [
            "return=representation",
            "return=minimal",
            "return=headers-only",
            "resolution=merge-duplicates",
            "resolution=ignore-duplicates",
            "missing=default",
        ],
    },
}
_OPERATION_PARAMETERS = {
    "get": ("select", "order", "range", "rangeUnit", "offset", "limit", "preferCount"),
    "post": ("select", "columns", "on_conflict", "preferPost"),
    "put": ("preferReturn",),
    "patch": ("columns", "preferReturn"),
    "delete": ("preferReturn",),
}
_OK = {"200": {"description": "OK"}}


def openapi_document(req: ApiRequest, cache: SchemaCache) -> Response:
    """Swagger 2.0 for the request's schema (its profile), JSON-encoded."""
    tables = sorted(
        (t for t in cache.tables.values() if t.schema == req.schema),
        key=lambda t: t.name,
    )
    functions = sorted(
        (key, overloads)
        for key, overloads in cache.functions.items()
        if key[0] == req.schema
    )
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "OpenAPI description (this document)"}}
    }
    parameters = {
        name: {**spec, "required": False} for name, spec in _COMMON_PARAMETERS.items()
    }
    for table in tables:
        paths[f"/{table.name}"] = _table_path(table)
        parameters.update(_table_parameters(table))
    for (_schema, name), overloads in functions:
        paths[f"/rpc/{name}"] = _function_path(name, overloads)
    document = {
        "swagger": "2.0",
        "info": {
            "title": "rowgate data API",
            "description": f"The tables and functions of schema '{req.schema}'.",
            "version": "1",
        },
        "basePath": "/",
        "schemes": ["http", "https"],
        "consumes": [
            "application/json",
            "application/vnd.pgrst.object+json",
            "text/csv",
            "application/x-www-form-urlencoded",
            "text/plain",
            "text/xml",
            "application/octet-stream",
        ],
        "produces": [
            "application/json",
            "application/vnd.pgrst.object+json",
            "text/csv",
        ],
        "paths": paths,
        "definitions": {
            table.name: _definition(table, cache.foreign_keys) for table in tables
        },
        "parameters": parameters,
    }
    body = json.dumps(document, ensure_ascii=False).encode()
    return Response(
        200, [("Content-Type", "application/openapi+json; charset=utf-8")], body
    )


def _table_path(table: Table) -> dict[str, Any]:
    verbs = ["get", "post", "patch", "delete"]
    if table.primary_key:
        verbs.insert(2, "put")
    path: dict[str, Any] = {}
    for verb in verbs:
        refs = [f"rowFilter.{table.name}.{c.name}" for c in table.columns]
        if verb == "post":
            refs = []
        if verb in ("post", "put", "patch"):
            refs.append(f"body.{table.name}")
        refs = [*_OPERATION_PARAMETERS[verb], *refs]
        path[verb] = {
            "tags": [table.name],
            "parameters": [{"$ref": f"#/parameters/{ref}"} for ref in refs],
            "responses": _OK,
        }
    return path


def _table_parameters(table: Table) -> dict[str, Any]:
    found: dict[str, Any] = {
        f"rowFilter.{table.name}.{c.name}": {
            "name": c.name,
            "in": "query",
            "required": False,
            "type": "string",
            "format": c.data_type,
        }
        for c in table.columns
    }
    found[f"body.{table.name}"] = {
        "name": table.name,
        "in": "body",
        "required": False,
        "schema": {"$ref": f"#/definitions/{table.name}"},
    }
    return found


def _function_path(name: str, overloads: tuple[Function, ...]) -> dict[str, Any]:
    params = {p.name: p for fn in overloads for p in fn.params if p.name}
    required = sorted(set.intersection(*(set(fn.required) for fn in overloads)))
    body: dict[str, Any] = {
        "type": "object",
        "properties": {
            p.name: {"type": _json_type(p.data_type), "format": p.data_type}
            for p in params.values()
        },
    }
    if required:
        body["required"] = required
    tags = [f"(rpc) {name}"]
    path: dict[str, Any] = {
        "post": {
            "tags": tags,
            "parameters": [
                {"name": "args", "in": "body", "required": True, "schema": body}
            ],
            "responses": _OK,
        }
    }
    if not all(fn.volatile for fn in overloads):
        path["get"] = {
            "tags": tags,
            "parameters": [
                {
                    "name": p.name,
                    "in": "query",
                    "required": p.name in required,
                    "type": _json_type(p.data_type),
                    "format": p.data_type,
                }
                for p in params.values()
            ],
            "responses": _OK,
        }
    return path


def _json_type(data_type: str) -> str:
    return _JSON_TYPE_NAMES.get(data_type, "string")


_JSON_TYPE_NAMES = {
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "real": "number",
    "double precision": "number",
    "numeric": "number",
    "boolean": "boolean",
}


def _definition(table: Table, foreign_keys: tuple[ForeignKey, ...]) -> dict[str, Any]:
    required = [
        c.name
        for c in table.columns
        if not c.nullable and c.default is None and not c.generated
    ]
    references = {
        fk.columns[0]: fk
        for fk in foreign_keys
        if (fk.schema, fk.table) == (table.schema, table.name) and len(fk.columns) == 1
    }
    definition: dict[str, Any] = {
        "type": "object",
        "properties": {
            c.name: _property(c, table, references.get(c.name)) for c in table.columns
        },
    }
    if required:
        definition["required"] = required
    return definition


def _property(column: Column, table: Table, fk: ForeignKey | None) -> dict[str, Any]:
    json_type, fmt = _JSON_TYPES.get(column.base_type, ("string", column.data_type))
    prop: dict[str, Any] = {"type": json_type, "format": fmt}
    if column.base_type.startswith("_"):
        prop = {
            "type": "array",
            "format": column.data_type,
            "items": {"type": "string"},
        }
    notes = []
    if column.name in table.primary_key:
        notes.append("Note:\nThis is a Primary Key.<pk/>")
    if fk is not None:
        target = f"{fk.ref_table}.{fk.ref_columns[0]}"
        notes.append(
            f"Note:\nThis is a Foreign Key to `{target}`."
            f"<fk table='{fk.ref_table}' column='{fk.ref_columns[0]}'/>"
        )
    if notes:
        prop["description"] = "\n\n".join(notes)
    return prop

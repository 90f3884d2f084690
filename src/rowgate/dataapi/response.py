"""Render results and errors as HTTP responses, PostgREST's way; pure.

Statuses (200/201/204/206/416), ``Content-Range``, ``Location``,
``Preference-Applied``, ``Content-Profile``, the singular-object check and the
response GUCs a statement may set (``response.headers``, ``response.status``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote

from rowgate.dataapi.errors import ApiError, RequestError, error_json
from rowgate.dataapi.plan import Call, Delete, Insert, Plan, Read, Update
from rowgate.dataapi.request import MEDIA_CSV, MEDIA_OBJECT, ApiRequest
from rowgate.dataapi.tx import Check, Result

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def error_response(error: ApiError, *, head: bool = False) -> Response:
    headers = [("Content-Type", JSON_TYPE), *error.headers()]
    return Response(error.status, headers, b"" if head else error_json(error))


def check_result(plan: Plan) -> Check:
    """A check run inside the transaction: failing it rolls the work back."""

    def check(result: Result) -> None:
        action = plan.action
        if isinstance(action, Insert) and action.put and result.page_total != 1:
            raise RequestError(
                "PGRST115", "Payload values do not match URL in primary key column(s)"
            )
        if plan.singular and result.page_total != 1 and not _scalar_call(plan):
            raise ApiError(
                "PGRST116",
                "JSON object requested, multiple (or no) rows returned",
                details=f"The result contains {result.page_total} rows",
            )
        if plan.max_affected is not None and result.page_total > plan.max_affected:
            raise RequestError(
                "PGRST124",
                "Query result exceeds max-affected preference constraint",
                details=f"The query affects {result.page_total} rows",
            )

    return check


def _scalar_call(plan: Plan) -> bool:
    action = plan.action
    return isinstance(action, Call) and not action.function.returns_set


def render(req: ApiRequest, plan: Plan, result: Result) -> Response:
    action = plan.action
    if isinstance(action, Read | Call):
        response = _read_response(req, plan, result)
    else:
        response = _write_response(req, plan, action, result)
    if plan.applied:
        response.headers.append(("Preference-Applied", ", ".join(plan.applied)))
    if req.schema_negotiated:
        response.headers.append(("Content-Profile", req.schema))
    return _override(response, result)


def _content_type(plan: Plan) -> str:
    if plan.csv:
        return f"{MEDIA_CSV}; charset=utf-8"
    if plan.strip_nulls:
        return f"{plan.media}; charset=utf-8"
    if plan.singular:
        return f"{MEDIA_OBJECT}; charset=utf-8"
    return JSON_TYPE


def _read_response(req: ApiRequest, plan: Plan, result: Result) -> Response:
    action = plan.action
    if isinstance(action, Call) and action.function.returns_void:
        return Response(204)
    assert isinstance(action, Read | Call)
    node = action.node
    offset = node.offset
    total = _total(action, result)
    status = 200
    if total is not None and offset > total:
        raise RequestError(
            "PGRST103",
            "Requested range not satisfiable",
            details=f"An offset of {offset} was requested, but there are only "
            f"{total} rows.",
        )
    if total is not None and result.page_total < total:
        status = 206
    headers = [
        ("Content-Type", _content_type(plan)),
        ("Content-Range", content_range(offset, result.page_total, total)),
    ]
    if isinstance(action, Call) and not action.function.returns_set:
        headers = headers[:1]
    if isinstance(action, Read):
        headers.append(("Content-Location", _content_location(req)))
    return Response(status, headers, result.body.encode())


def _total(action: Read | Call, result: Result) -> int | None:
    """The count after ``/`` in Content-Range: exact, or the planner's estimate.

    ``estimated`` keeps the exact count while it is within ``max_rows`` and
    takes the estimate (never below the rows returned) beyond, as PostgREST does.
    """
    if not isinstance(action, Read) or action.estimate is None:
        return result.total
    if result.planned is None:
        return result.total
    if action.estimate == "planned":
        return result.planned
    exact = result.total
    if exact is not None and action.max_rows is not None and exact > action.max_rows:
        return max(result.page_total, result.planned)
    return exact


def content_range(offset: int, page: int, total: int | None) -> str:
    shown = "*" if total is None else str(total)
    if page == 0:
        return f"*/{shown}"
    return f"{offset}-{offset + page - 1}/{shown}"


def _content_location(req: ApiRequest) -> str:
    query = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='*(),.:!')}"
        for k, v in sorted(req.query_pairs)
    )
    return req.pgrst_path + (f"?{query}" if query else "")


def _write_response(
    req: ApiRequest, plan: Plan, action: Insert | Update | Delete, result: Result
) -> Response:
    if isinstance(action, Insert) and action.put:
        return _put_response(plan, result)
    shown = "*" if result.total is None else str(result.total)
    if isinstance(action, Update) and result.page_total:
        content_range_value = f"0-{result.page_total - 1}/{shown}"
    else:
        content_range_value = f"*/{shown}"
    headers = [("Content-Range", content_range_value)]

    if isinstance(action, Insert):
        status = 201
        if action.resolution == "merge-duplicates" and result.inserted == 0:
            status = 200
        location = _location(req, result)
        if location:
            headers.append(("Location", location))
    else:
        status = 200 if plan.returning is not None else 204

    if plan.returning is None:
        return Response(status, headers)
    headers.insert(0, ("Content-Type", _content_type(plan)))
    return Response(status, headers, result.body.encode())


def _put_response(plan: Plan, result: Result) -> Response:
    """204 without a representation; with one, 201 if the row is new, else 200."""
    if plan.returning is None:
        return Response(204)
    status = 201 if result.inserted else 200
    headers = [("Content-Type", _content_type(plan))]
    return Response(status, headers, result.body.encode())


def _location(req: ApiRequest, result: Result) -> str | None:
    if result.location is None:
        return None
    rows = json.loads(result.location)
    if len(rows) != 1:
        return None
    parts = []
    for key, value in rows[0].items():
        if value is None:
            parts.append(f"{quote(key, safe='')}=is.null")
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            parts.append(f"{quote(key, safe='')}=eq.{quote(text, safe='')}")
    return f"/{req.target.name}?{'&'.join(parts)}"


def _override(response: Response, result: Result) -> Response:
    """Apply ``response.headers``/``response.status`` set during the transaction."""
    if result.response_status is not None:
        text = result.response_status.strip()
        if not text.isdigit() or not 100 <= int(text) <= 599:
            raise ApiError(
                "PGRST112", "response.status guc must be a valid status code"
            )
        response.status = int(text)
    if result.response_headers is not None:
        extra = _guc_headers(result.response_headers)
        names = {name.lower() for name, _ in extra}
        response.headers = [h for h in response.headers if h[0].lower() not in names]
        response.headers.extend(extra)
    return response


def _guc_headers(text: str) -> list[tuple[str, str]]:
    invalid = ApiError(
        "PGRST111",
        "response.headers guc must be a JSON array composed of objects with a single "
        "key and a string value",
    )
    try:
        value = json.loads(text)
    except ValueError:
        raise invalid from None
    if not isinstance(value, list):
        raise invalid
    headers = []
    for item in value:
        if not (isinstance(item, dict) and len(item) == 1):
            raise invalid
        ((name, header),) = item.items()
        if not isinstance(header, str) or "\n" in header or "\r" in header:
            raise invalid
        headers.append((name, header))
    return headers

"""Composite: up to 25 REST subrequests in one API call, chained with `@{referenceId.field}` references.

Subrequests run through the same route handlers as direct calls, under one store savepoint, so allOrNone can roll
all of them back and a subrequest sees exactly what the ones before it wrote.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zensync_pipelines.sandbox.core import Request, Response

from .errors import ApiError
from .host import SalesforceHost


MAX_SUBREQUESTS = 25
_REFERENCE = re.compile(r"@\{([^}]+)\}")
_HALTED = "The transaction was rolled back since another operation in the same transaction failed."


class UnresolvedReference(Exception):
    pass


class CompositeRoutes:
    def __init__(self, sb: SalesforceHost):
        self.sb = sb
        sb.router.add("POST", "/services/data/{version}/composite", self.composite)

    def composite(self, request: Request) -> Response:
        body = request.json() or {}
        subrequests = body.get("compositeRequest")
        if not isinstance(subrequests, list) or not subrequests:
            raise ApiError(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty array")
        if len(subrequests) > MAX_SUBREQUESTS:
            raise ApiError(400, "LIMIT_EXCEEDED", f"Composite requests can't have more than {MAX_SUBREQUESTS} "
                                                  "subrequests")
        all_or_none = bool(body.get("allOrNone", False))
        results: dict[str, Any] = {}
        replies: list[dict[str, Any]] = []
        with self.sb.store.savepoint() as savepoint:
            for index, sub in enumerate(subrequests):
                reference_id = sub.get("referenceId") or f"ref{index}"
                reply = self._run(request, sub, results)
                results[reference_id] = reply["body"] if reply["httpStatusCode"] < 400 else None
                replies.append({**reply, "referenceId": reference_id})
                if all_or_none and reply["httpStatusCode"] >= 400:
                    savepoint.rollback()
                    halted = _halted_reply()
                    replies = [r if r is replies[-1] else {**halted, "referenceId": r["referenceId"]} for r in replies]
                    replies += [{**halted, "referenceId": s.get("referenceId") or f"ref{i}"}
                                for i, s in enumerate(subrequests) if i > index]
                    break
        return Response(body={"compositeResponse": replies})

    def _run(self, request: Request, sub: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
        try:
            url = _substitute(sub.get("url", ""), results)
            body = _substitute(sub.get("body"), results)
        except UnresolvedReference as missing:
            return _reply(Response(400, [{"errorCode": "PROCESSING_HALTED", "message": f"Invalid reference "
                                          f"specified. No value for {missing} found"}]))
        split = urlsplit(url)
        inner = Request(method=str(sub.get("method", "GET")).upper(), path=split.path,
                        query=parse_qs(split.query, keep_blank_values=True), headers=request.headers,
                        body=json.dumps(body).encode() if body is not None else b"")
        handler, pattern, params, _ = self.sb.router.match(inner.method, inner.path)
        if handler is None or not pattern.startswith("/services/data/") or "composite" in pattern:
            return _reply(ApiError(404, "NOT_FOUND", "The requested resource does not exist").response())
        inner.params = params
        try:
            response = handler(inner)
        except Exception as error:  # one subrequest's failure is its own reply, not the composite's
            response = self.sb.handle_error(inner, error)
        return _reply(response)


def _reply(response: Response) -> dict[str, Any]:
    return {"body": response.body, "httpHeaders": dict(response.headers), "httpStatusCode": response.status}


def _halted_reply() -> dict[str, Any]:
    return _reply(Response(400, [{"errorCode": "PROCESSING_HALTED", "message": _HALTED}]))


def _lookup(path: str, results: dict[str, Any]) -> Any:
    """Follows `ref.field`, `ref.records[0].Id` into an earlier subrequest's reply body."""
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    if not parts or results.get(parts[0]) is None:
        raise UnresolvedReference(path)
    value = results[parts[0]]
    for part in parts[1:]:
        try:
            value = value[int(part[1:-1])] if part.startswith("[") else value[part]
        except (KeyError, IndexError, TypeError, ValueError):
            raise UnresolvedReference(path) from None
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return _lookup(whole.group(1), results)  # keeps the referenced value's JSON type
        return _REFERENCE.sub(lambda m: str(_lookup(m.group(1), results)), value)
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    return value



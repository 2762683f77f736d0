"""Salesforce's two error shapes and the exceptions that carry them through the sandbox.

Request-level failures answer `[{"message", "errorCode", "fields"?}]` with an HTTP status; per-record failures
inside Collections use `{"statusCode", "message", "fields"}` and Bulk 2.0 renders them as `CODE:message:fields --`.
One exception type per shape keeps handlers free of status bookkeeping.
"""

from __future__ import annotations

from typing import Any, Optional

from zensync_pipelines.sandbox.core import Response


class ApiError(Exception):
    """Fails a whole request: the handler's reply is `status` with the standard error list."""

    def __init__(self, status: int, code: str, message: str, fields: Optional[list[str]] = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields

    def response(self) -> Response:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return Response(self.status, [item])


class RecordError(Exception):
    """Fails one record; several field problems can be reported at once, as Salesforce does."""

    def __init__(self, errors: list[tuple[str, str, list[str]]]):
        super().__init__("; ".join(message for _, message, _ in errors))
        self.errors = errors

    @classmethod
    def one(cls, code: str, message: str, fields: Optional[list[str]] = None) -> "RecordError":
        return cls([(code, message, fields or [])])

    def rest_body(self) -> list[dict[str, Any]]:
        return [{"message": m, "errorCode": c, "fields": f} for c, m, f in self.errors]

    def collection_errors(self) -> list[dict[str, Any]]:
        return [{"statusCode": c, "message": m, "fields": f} for c, m, f in self.errors]

    def bulk_text(self) -> str:
        return " ".join(f"{c}:{m}:{','.join(f)} --" for c, m, f in self.errors)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_type(name: str) -> ApiError:
    """SOQL, Collections and Bulk name the type in the error; sObject URLs answer a bare 404 instead."""
    return ApiError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")


def lock_row(record_id: Optional[str]) -> RecordError:
    return RecordError.one(
        "UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record or 1 records: {record_id or ''}"
    )

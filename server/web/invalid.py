"""Requests that can't be read, answered 422 with where and why, and never a 500.

FastAPI's own handler echoes each bad value back, and a value JSON can't carry (`1e999`, which
Python reads as infinity, or a lone surrogate like `"\\ud800"`) made that answer itself fail.
This one names the field and the reason only, with any text made encodable. A number too large
for the database (beyond a signed 64-bit integer) that reached it anyway, through a route whose
parameters are not bounded, is refused the same way instead of failing in the driver."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)

TOO_LARGE = "a number in the request is out of range (ids are at most 9223372036854775807)"


def _encodable(value: Any) -> Any:
    """value as JSON can carry it: text with lone surrogates escaped, numbers as they are."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, int):
        return value
    return _encodable(str(value))


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """A request that failed validation: 422, each error's type, location and message."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "type": _encodable(error.get("type", "invalid")),
            "loc": [_encodable(part) for part in error.get("loc", ())],
            "msg": _encodable(error.get("msg", "invalid")),
        }
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def out_of_range(exc: BaseException) -> bool:
    """Whether exc is a database driver refusing a parameter too large for its column (SQLite's
    OverflowError, PostgreSQL's data error), which only a client's number can cause."""
    if isinstance(exc, OverflowError):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and (
        isinstance(exc, sa_exc.DataError) or "out of int64 range" in str(exc.orig)
    )


async def too_large(request: Request, exc: Exception) -> JSONResponse:
    """A number beyond the database's integers: 422, as if its parameter had been bounded."""
    log.warning("%s %s: %s", request.method, request.url.path, type(exc).__name__)
    detail = [{"type": "out_of_range", "loc": ["request"], "msg": TOO_LARGE}]
    return JSONResponse({"detail": detail}, status_code=422)


def document(app: FastAPI) -> None:
    """Make the OpenAPI's 422 honest: it is FastAPI's list of validation errors, or one of the
    refusals' sentence (`Invalid`: a request that names something that can't be)."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = plain()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Refusal"] = {
            "type": "object",
            "properties": {"detail": {"type": "string", "title": "Detail"}},
            "required": ["detail"],
            "title": "Refusal",
        }
        either = {
            "anyOf": [
                {"$ref": "#/components/schemas/HTTPValidationError"},
                {"$ref": "#/components/schemas/Refusal"},
            ]
        }
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                invalid = operation.get("responses", {}).get("422")
                if invalid is not None:
                    invalid["content"] = {"application/json": {"schema": either}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

"""One error shape for the API, `{"error": {"code": ..., "message": ...}}`, from exception handlers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import AoError, NotFound, RuntimeFailure, RuntimeMissing, UsageError
from ..manifest.loader import ManifestError


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def not_found_code(code: str):  # type: ignore[no-untyped-def]
    """A route dependency: the code a `NotFound` from the service gets on this route (default NOT_FOUND)."""

    def mark(request: Request) -> None:
        request.state.not_found = code

    return mark


# Service errors, most specific first: (type, HTTP status, code); NotFound's code depends on the route.
SERVICE_ERRORS: tuple[tuple[type[AoError], int, str], ...] = (
    (UsageError, 409, "CONFLICT"),
    (RuntimeMissing, 503, "RUNTIME_MISSING"),
    (RuntimeFailure, 502, "RUNTIME_FAILURE"),
    (AoError, 409, "OPERATION_FAILED"),
)


def _status_and_code(request: Request, exc: AoError) -> tuple[int, str]:
    if isinstance(exc, NotFound):
        return 404, getattr(request.state, "not_found", "NOT_FOUND")
    return next((status, code) for kind, status, code in SERVICE_ERRORS if isinstance(exc, kind))


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(error_body("INVALID_REQUEST", problems), status_code=422)

    @app.exception_handler(ManifestError)
    async def _manifest(_: Request, exc: ManifestError) -> JSONResponse:
        return JSONResponse(error_body("MANIFEST_INVALID", str(exc)), status_code=422)

    @app.exception_handler(AoError)
    async def _service(request: Request, exc: AoError) -> JSONResponse:
        status, code = _status_and_code(request, exc)
        return JSONResponse(error_body(code, str(exc)), status_code=status)

"""Request dependencies: the bearer token and one service (one registry connection) per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..manifest.models import NAME_PATTERN
from ..reconcile.service import Service
from ..sessions.naming import SESSION_ID_PATTERN
from . import auth
from .errors import ApiError, not_found_code

UNAUTHORIZED = ("missing or wrong token: send `Authorization: Bearer <token>` "
                "(the token is in $AO_DATA_DIR/api-token)")

bearer = HTTPBearer(auto_error=False, description="The token in `$AO_DATA_DIR/api-token` (the dashboard sends "
                    "it as a cookie after the login link that `ao serve` prints).")


def require_token(request: Request,
                  _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None) -> None:
    if not auth.valid(request.app.state.token, request.headers.get("authorization"),
                      request.cookies.get(auth.COOKIE)):
        raise ApiError(401, "UNAUTHORIZED", UNAUTHORIZED)


def service(request: Request) -> Iterator[Service]:
    """A service for this request; its registry connection (opened on first use) is closed afterwards."""
    ao = request.app.state.new_service()
    try:
        yield ao
    finally:
        ao.close()


ServiceDep = Annotated[Service, Depends(service)]
ProjectName = Annotated[str, Path(pattern=NAME_PATTERN)]
SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN)]

PROJECT_NOT_FOUND: Any = Depends(not_found_code("PROJECT_NOT_FOUND"))
SESSION_NOT_FOUND: Any = Depends(not_found_code("SESSION_NOT_FOUND"))

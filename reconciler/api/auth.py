"""The API token: generated once into the data dir, sent as a bearer header or a cookie."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..paths import DataDir

COOKIE = "ao_token"
# Methods a browser lets any site send with our cookie (a form, an image) must change nothing.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CROSS_ORIGIN = ("refused: a cookie-authenticated request that changes something must come from the dashboard's "
                "own origin; scripts send `Authorization: Bearer <token>` instead")


def token_path(data_dir: DataDir):  # type: ignore[no-untyped-def]
    return data_dir.root / "api-token"


def load_or_create_token(data_dir: DataDir) -> str:
    path = token_path(data_dir.ensure())
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def bearer(header: str | None) -> bool:
    return bool(header) and header.lower().startswith("bearer ")  # type: ignore[union-attr]


def valid(expected: str, header: str | None, cookie: str | None) -> bool:
    offered = cookie
    if bearer(header):
        offered = header[7:].strip()
    return bool(offered) and hmac.compare_digest(offered.encode(), expected.encode())  # type: ignore[union-attr]


def forgeable(method: str, headers: Mapping[str, str]) -> bool:
    """A request another site could have made the browser send: it changes something and its only
    credential would be the cookie (a bearer header cannot be set across sites without CORS)."""
    return method.upper() not in SAFE_METHODS and not bearer(headers.get("authorization"))


def same_origin(headers: Mapping[str, str]) -> bool:
    """The browser says the request comes from a page of this server (`Sec-Fetch-Site`, else `Origin`
    against `Host`). Neither header: not a browser page of ours, so not trusted with the cookie."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")  # none: typed by the user, not sent by a page
    origin, host = headers.get("origin"), headers.get("host")
    if not origin or not host or origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


class OneTimeCodes:
    """Login codes for the URL `ao serve` prints: each works once, so the URL can be shown safely."""

    def __init__(self) -> None:
        self._codes: set[str] = set()

    def issue(self) -> str:
        code = secrets.token_urlsafe(16)
        self._codes.add(code)
        return code

    def redeem(self, code: str) -> bool:
        if code and code in self._codes:
            self._codes.discard(code)
            return True
        return False

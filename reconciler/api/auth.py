"""The API token: generated once into the data dir, sent as a bearer header or a cookie."""

from __future__ import annotations

import hmac
import os
import secrets

from ..paths import DataDir

COOKIE = "ao_token"


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


def valid(expected: str, header: str | None, cookie: str | None) -> bool:
    offered = cookie
    if header and header.lower().startswith("bearer "):
        offered = header[7:].strip()
    return bool(offered) and hmac.compare_digest(offered.encode(), expected.encode())  # type: ignore[union-attr]


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

"""A real `ao serve` subprocess on a free loopback port, for the API and dashboard tests."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from dataclasses import dataclass

import httpx

from tests.conftest import AO, retry_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    base: str
    token: str
    login_url: str
    proc: subprocess.Popen

    def client(self, *, token: str | None = "default") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token if token == 'default' else token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


def start_server(data_dir, *extra: str) -> Server:
    port = free_port()
    log = data_dir.root / "serve.log"
    env = {**os.environ, "AO_DATA_DIR": str(data_dir.root)}
    proc = subprocess.Popen([AO, "serve", "--port", str(port), "--resync", "0.5", *extra],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"ao serve exited: {log.read_text()}")
        try:
            return httpx.get(f"{base}/api/v1/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    retry_until(up, timeout=30, message="ao serve answers")
    login = re.search(r"(http://\S+/login\?code=\S+)", log.read_text()).group(1).replace("localhost", "127.0.0.1")
    token = (data_dir.root / "api-token").read_text().strip()
    return Server(base, token, login, proc)


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()

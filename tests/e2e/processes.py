"""The service as real OS processes: `tenwatch`-style uvicorn workers sharing Redis and a DB."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.services import free_port


def _start(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """Start an app process on a free port and wait until it is ready; retry if the port was
    taken between choosing and binding it."""
    for _ in range(3):
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "server.web.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--ws",
                "websockets-sansio",
                "--log-level",
                "warning",
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).json()["status"] == "ok":
                    return proc, base
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
            raise RuntimeError("the service did not become ready in 30 s")
    raise RuntimeError(f"the service exited with {proc.returncode}, three times")


@contextmanager
def service(**env: str) -> Iterator[str]:
    """Run one app process with TENWATCH_* settings from env; yields its base URL."""
    environ = {**os.environ, **{f"TENWATCH_{k.upper()}": v for k, v in env.items()}}
    proc, base = _start(environ)
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

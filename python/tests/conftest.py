"""Shared fixtures: a private state directory per test, helpers to wait with deadlines,
and the CI rule for tests that need tmux or podman (skip loudly here, fail under CI)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import pytest

T = TypeVar("T")

IMAGE = "localhost/proctor-test:latest"


def in_ci() -> bool:
    v = os.environ.get("CI", "")
    return v not in ("", "0") and v.lower() != "false"


def require(what: str, why_missing: "str | None") -> None:
    """Skips (loudly) when ``why_missing`` is set; fails instead under CI, which installs
    everything (.ci/run)."""
    if why_missing is None:
        return
    if in_ci():
        pytest.fail(f"needs {what}, which CI provides (.ci/run): {why_missing}")
    sys.stderr.write(f"\n!!!!! SKIPPING: needs {what}: {why_missing} !!!!!\n")
    pytest.skip(f"needs {what}: {why_missing}")


def podman_missing() -> "str | None":
    if shutil.which("podman") is None:
        return "podman is not on PATH; run .ci/containers.sh"
    r = subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True)
    if r.returncode != 0:
        return f"podman has no {IMAGE}; run .ci/containers.sh"
    return None


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private XDG_STATE_HOME (where daemons keep their state) for every test: short,
    since control sockets live under it and a socket path is limited to 107 bytes."""
    state = Path(tempfile.mkdtemp(prefix="pxs"))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("PROCTOR_HOME", raising=False)
    yield state
    shutil.rmtree(state, ignore_errors=True)


def wait_for(what: str, check: Callable[[], T], timeout: float = 10.0) -> T:
    """Waits until ``check()`` returns something true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_server_argv(port: int) -> list:
    """A tiny TCP server answering ``pong`` to every connection."""
    code = (
        "import socket,sys\n"
        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('127.0.0.1',{port})); s.listen(16)\n"
        "print('listening', flush=True)\n"
        "while True:\n"
        "    c,_=s.accept(); c.sendall(b'pong'); c.close()\n"
    )
    return [sys.executable, "-c", code]


def ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
        return c.recv(16)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

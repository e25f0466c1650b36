"""``Project``: a proctor.toml project, its supervisor and its services, from Python."""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _native
from ._errors import ControlTimeout, ProctorError, ReadyTimeout, StartFailed

__all__ = ["Project"]

Names = Union[str, Sequence[str]]


def _names(names: Optional[Names]) -> List[str]:
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    return list(names)


def _supervisor_argv() -> List[str]:
    from ._daemon import supervisor_program

    try:
        return [supervisor_program()]
    except ProctorError:
        return [sys.executable, "-m", "proctor._supervisor"]


class Project:
    """The project of the ``proctor.toml`` at ``path``: what ``proctor up -d``, ``down``,
    ``status``, ``start``, ``stop``, ``restart``, ``wait`` and ``install`` do, from Python.

    ``up()`` starts the project's supervisor in the background (it outlives this process,
    as ``proctor up -d``'s does) and the CLI sees it (``proctor status`` in that project).
    Requests go over its control socket; the GIL is released while they wait.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"] = "proctor.toml") -> None:
        self.path = os.path.abspath(os.fspath(path))
        info = _native.project_info(self.path)  # validates the spec: SpecError lists all
        self.name: str = info["name"]
        self.state_dir: str = os.fspath(info["state_dir"])
        self.services: List[str] = list(info["services"])
        self.roles: List[str] = list(info["roles"])

    def _request(self, cmd: Dict[str, Any], timeout: Optional[float]) -> Dict[str, Any]:
        import json

        reply: Dict[str, Any] = json.loads(_native.project_request(self.path, json.dumps(cmd), timeout))
        return reply

    def _until_ready(self, cmd: Dict[str, Any], names: List[str], timeout: Optional[float]) -> Dict[str, Any]:
        try:
            reply = self._request(cmd, timeout)
        except ControlTimeout as e:
            what = ", ".join(names) or "the services"
            raise ReadyTimeout(f"{what} did not become ready within {e.waited:g}s",
                               name=what, waited=e.waited, log_tail=[]) from e
        return self._settled(reply, "ready")

    def logs(self, name: str, lines: int = 100) -> List[str]:
        """The last ``lines`` lines of service ``name``'s output, oldest first (from its
        log files: works with or without a supervisor)."""
        return _native.log_tail(self.state_dir, name, lines)

    def _settled(self, reply: Dict[str, Any], verb: str) -> Dict[str, Any]:
        failures = reply.get("failures") or []
        if failures:
            f = failures[0]
            lines = "; ".join(f"{x['service']}: {x['reason']}" for x in failures)
            raise StartFailed(
                f"{f['service']} did not become {verb}: {lines}",
                name=f["service"], cause=f["reason"], log_tail=[],
            )
        return reply

    def _supervisor(self) -> bool:
        return _native.project_ensure_supervisor(self.path, _supervisor_argv())

    def up(self, role: Optional[str] = None, services: Optional[Names] = None,
           timeout: Optional[float] = 60) -> Dict[str, Any]:
        """Starts the supervisor if none runs, then what ``role`` autostarts (default: every
        ``autostart = true`` service), or ``services``; returns once each is ready. Raises
        :class:`proctor.StartFailed` naming what did not become ready."""
        if role is not None and role not in self.roles:
            raise ProctorError(f"unknown role {role!r}; roles declared in [project] roles: {', '.join(self.roles) or '(none)'}")
        self._supervisor()
        names = _names(services)
        return self._until_ready({"cmd": "up", "services": names, "role": role}, names, timeout)

    def down(self, timeout: Optional[float] = None) -> bool:
        """Stops every service (``timeout``: grace period before SIGKILL) and the
        supervisor; returns once it is gone. False when no supervisor ran."""
        return _native.project_down(self.path, timeout)

    def status(self, names: Optional[Names] = None) -> List[Dict[str, Any]]:
        """Each service's status (``name``, ``state``, ``pid``, ``ready``, ``restarts``,
        ``uptime_ms``, ``last_exit``, …) as ``proctor status --json`` gives it. Raises
        :class:`proctor.NotRunning` when no supervisor runs."""
        reply = self._request({"cmd": "status", "services": _names(names)}, 10)
        return list(reply.get("services") or [])

    def is_up(self) -> bool:
        """Whether a supervisor runs for the project."""
        from ._errors import NotRunning

        try:
            self.status()
            return True
        except NotRunning:
            return False

    def start(self, names: Names, timeout: Optional[float] = 60) -> Dict[str, Any]:
        """Starts services (and what they depend on), starting a supervisor if none runs;
        returns once each is ready."""
        self._supervisor()
        return self._until_ready({"cmd": "start", "services": _names(names)}, _names(names), timeout)

    def stop(self, names: Names, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Stops services (dependents first); ``timeout`` overrides the grace period."""
        cmd: Dict[str, Any] = {"cmd": "stop", "services": _names(names)}
        if timeout is not None:
            cmd["timeout_ms"] = int(timeout * 1000)
        wait = None if timeout is None else timeout + 30
        return self._request(cmd, wait)

    def restart(self, names: Names, timeout: Optional[float] = 60) -> Dict[str, Any]:
        """Restarts services; returns once each is ready again."""
        return self._until_ready({"cmd": "restart", "services": _names(names)}, _names(names), timeout)

    def wait(self, names: Names, timeout: Optional[float] = 30) -> Dict[str, Any]:
        """Waits until each service is ready; raises :class:`proctor.StartFailed` if one
        failed, :class:`proctor.ReadyTimeout` when ``timeout`` seconds pass first."""
        return self._until_ready({"cmd": "wait", "services": _names(names)}, _names(names), timeout)

    def install(self, role: Optional[str] = None, target: Optional[str] = None, *,
                exe: Optional[str] = None, system: bool = False, name: Optional[str] = None,
                env: Optional[Mapping[str, str]] = None, print_only: bool = False) -> Dict[str, Any]:
        """A boot service (systemd unit, launchd plist, Windows script) that runs
        ``proctor up`` for this project (with ``role``). ``exe`` is the ``proctor`` command
        (default: the one on PATH). ``print_only=True`` returns ``{"text": …}`` without
        writing anything; otherwise returns ``{"files", "ran", "to_run"}``."""
        import shutil

        program = exe or shutil.which("proctor")
        if program is None:
            raise ProctorError("the boot service runs the `proctor` command, which is not on PATH; "
                               "pass exe=/path/to/proctor (cargo install --path . builds it)")
        return _native.project_install(
            self.path, os.path.abspath(program), role=role, target=target, system=system,
            name=name, env=dict(env) if env else None, print_only=print_only,
        )

    def __enter__(self) -> "Project":
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def __repr__(self) -> str:
        return f"<proctor.Project {self.name!r} {self.path!r}>"

"""``SessionManager``: named tmux sessions, containers or processes, from code or YAML."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Union

from . import _native
from ._daemon import Command, Daemon, DaemonStatus
from ._errors import AmbiguousBackend, NotRunning, ProctorError

__all__ = ["SessionManager", "SessionStatus", "auto_detect_backend"]

BACKENDS = ("tmux", "container", "process")


class SessionStatus(NamedTuple):
    """A session's state: the daemon's status, and where its name was found."""

    name: str
    backend: str
    exists: bool
    """Whether a tmux session or container of its name exists."""
    daemon: DaemonStatus
    found: List[Dict[str, Any]] = []

    @property
    def state(self) -> str:
        """The daemon's state (``running``, ``stopped``, …)."""
        return self.daemon.state

    @property
    def pid(self) -> Optional[int]:
        """Its pid while it runs."""
        return self.daemon.pid


def auto_detect_backend(name: str, *, state_dir: Optional[str] = None, tmux_binary: Optional[str] = None,
                        container_name: Optional[str] = None) -> Optional[str]:
    """Which backend holds a session called ``name``: ``"tmux"``, ``"container"``, or
    ``None`` when none does. Raises :class:`proctor.AmbiguousBackend` when more than one
    does (a tmux session and a container, or containers in podman and docker)."""
    state = state_dir if state_dir is not None else os.fspath(_native.default_state_dir(name))
    found = _native.find_backends(name, state, tmux_binary=tmux_binary, container_name=container_name)
    if len(found) > 1:
        where = " and ".join(f"{f['backend']} {f['name']!r}" for f in found)
        raise AmbiguousBackend(f"{name!r} is ambiguous: found {where}", name=name, found=found)
    return found[0]["backend"] if found else None


class SessionManager:
    """One named session run by a backend: a tmux session, a container, or a process.

    It is a :class:`proctor.Daemon` whose backend is ``backend``, so the Rust supervisor
    starts it once, captures its output, restarts it per ``restart`` and stops it cleanly.

    Args:
        name: the session's name.
        backend: ``"tmux"``, ``"container"`` or ``"process"``.
        command: what runs in it (for a container: the command inside, optional).
        image: the container image (container backend).
        volumes, ports, container_name, container_runtime: container settings.
        tmux_binary: the tmux program (default ``tmux``).
        cwd, env, ready, restart, state_dir, stop_timeout: as for :class:`proctor.Daemon`.
        supervisor: ``"thread"`` (default) or ``"process"`` (tmux and process sessions
            only), as for :class:`proctor.Daemon`: with ``"process"``, a session left by
            :meth:`detach` stays supervised after this program exits.

    A session is found by name: a new ``SessionManager`` (in any process) of a session that
    is already running takes charge of it, so ``stop()``, ``status()`` and ``logs()`` work
    from a later run of your program too.
    """

    def __init__(
        self,
        name: str,
        backend: str = "tmux",
        command: Optional[Command] = None,
        *,
        image: Optional[str] = None,
        volumes: Sequence[str] = (),
        ports: Sequence[str] = (),
        container_name: Optional[str] = None,
        container_runtime: Optional[str] = None,
        tmux_binary: Optional[str] = None,
        cwd: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        ready: Any = None,
        restart: str = "no",
        state_dir: Optional[str] = None,
        stop_timeout: Optional[float] = None,
        supervisor: str = "thread",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        self.name = name
        self.backend = backend
        self._settings: Dict[str, Any] = dict(
            command=command, image=image, volumes=list(volumes), ports=list(ports),
            container_name=container_name, container_runtime=container_runtime,
            tmux_binary=tmux_binary, cwd=cwd, env=dict(env) if env else None, ready=ready,
            restart=restart, state_dir=state_dir, stop_timeout=stop_timeout, supervisor=supervisor,
        )
        self._daemon = self._build(self._settings)

    def _build(self, s: Mapping[str, Any]) -> Daemon:
        command = s["command"] if s["command"] is not None else []
        if self.backend != "container" and not command:
            raise ValueError(f"session {self.name!r} needs a command")
        extra: Dict[str, Any] = {"backend": self.backend, "tmux_binary": s["tmux_binary"]}
        if self.backend == "container":
            if not s["image"]:
                raise ValueError(f"container session {self.name!r} needs an image")
            extra["container"] = {
                "image": s["image"], "volumes": s["volumes"], "ports": s["ports"],
                "runtime": s["container_runtime"], "container_name": s["container_name"],
            }
            extra["container_runtime"] = s["container_runtime"]
        return Daemon(
            self.name, command, env=s["env"], cwd=s["cwd"], ready=s["ready"],
            restart=s["restart"], state_dir=s["state_dir"], stop_timeout=s["stop_timeout"],
            supervisor=s["supervisor"], **extra,
        )

    @classmethod
    def from_config(cls, name: str, path: Union[str, "os.PathLike[str]"] = "ops.yml") -> "SessionManager":
        """The session ``name`` of the YAML file at ``path``::

            ops:
              default_backend: tmux        # for sessions that name none
              tmux_binary: tmux
              container_runtime: podman    # or docker; default: whichever is installed
              sessions:
                web: {command: "python -m http.server 8000", cwd: /srv}
                db:  {backend: container, image: "postgres:16", ports: ["5432:5432"]}

        A session takes ``backend``, ``command``, ``cwd``, ``env``, ``image``, ``volumes``,
        ``ports``, ``container_name``, ``restart``, ``stop_timeout`` and ``state_dir``.
        Needs PyYAML.
        """
        try:
            import yaml  # type: ignore[import-untyped, unused-ignore]
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ProctorError("SessionManager.from_config needs PyYAML: pip install pyyaml") from e
        with open(os.fspath(path), encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        ops = doc.get("ops") if isinstance(doc, dict) else None
        if not isinstance(ops, dict):
            raise ProctorError(f"{os.fspath(path)}: no `ops` map")
        sessions = ops.get("sessions") or {}
        if name not in sessions:
            known = ", ".join(sorted(sessions)) or "(none)"
            raise ProctorError(f"{os.fspath(path)}: no session {name!r} in ops.sessions; sessions: {known}")
        s = dict(sessions[name] or {})
        allowed = {"backend", "command", "cwd", "env", "image", "volumes", "ports", "container_name",
                   "restart", "stop_timeout", "state_dir", "container_runtime", "tmux_binary",
                   "supervisor"}
        unknown = set(s) - allowed
        if unknown:
            raise ProctorError(f"{os.fspath(path)}: ops.sessions.{name}: unknown keys {sorted(unknown)}")
        backend = s.pop("backend", None) or ops.get("default_backend") or "tmux"
        s.setdefault("tmux_binary", ops.get("tmux_binary"))
        s.setdefault("container_runtime", ops.get("container_runtime"))
        if s.get("cwd") is not None:
            s["cwd"] = os.path.join(os.path.dirname(os.path.abspath(os.fspath(path))), s["cwd"])
        return cls(name, backend, **s)

    @property
    def state_dir(self) -> str:
        """Where its lock, logs and (tmux) socket live."""
        return self._daemon.state_dir

    def _adopt(self) -> None:
        """Takes charge of the session if a supervisor (of another handle or process) runs
        it and this handle does not."""
        d = self._daemon
        if d._native is not None and d.get_status().state != "stopped":
            return
        try:
            d.attach()
        except NotRunning:
            pass

    @property
    def daemon(self) -> Daemon:
        """The :class:`proctor.Daemon` running it."""
        return self._daemon

    def start(self, command: Optional[Command] = None, **overrides: Any) -> None:
        """Starts the session (idempotent) and returns once it is ready. A ``command`` or
        other settings given here replace the configured ones for this start (a running
        session is stopped first). Without a ``ready`` probe, "ready" means started: a
        container session's runtime is running, and the container appears a moment later."""
        if command is not None or overrides:
            settings = dict(self._settings)
            if command is not None:
                settings["command"] = command
            for key in overrides:
                if key not in settings:
                    raise TypeError(f"start() got an unexpected setting {key!r}")
            settings.update(overrides)
            self._adopt()
            self._daemon.stop()
            self._daemon = self._build(settings)
        self._adopt()
        self._daemon.start()

    def stop(self, graceful: bool = True, timeout: float = 10) -> None:
        """Stops it: the stop signal, then SIGKILL after ``timeout`` seconds; at once with
        ``graceful=False``. Idempotent."""
        self._adopt()
        self._daemon.stop(timeout if graceful else 0)

    def attach(self) -> int:
        """Attaches this terminal: a tmux client of its session, or a shell in its container.
        Returns the tool's exit status once you detach."""
        argv = _native.attach_argv(
            self.name, self.backend, self.state_dir,
            tmux_binary=self._settings["tmux_binary"],
            container_runtime=self._settings["container_runtime"],
            container_name=self._settings["container_name"],
        )
        import subprocess

        return subprocess.call(argv)

    def exists(self) -> bool:
        """Whether a tmux session or container of its name exists (a process session:
        whether it runs)."""
        if self.backend == "process":
            return self.is_running()
        return bool(self._found())

    def _found(self) -> List[Dict[str, Any]]:
        found = _native.find_backends(
            self.name, self.state_dir, tmux_binary=self._settings["tmux_binary"],
            container_name=self._settings["container_name"],
        )
        return [f for f in found if f["backend"] == self.backend]

    def is_running(self) -> bool:
        """Whether its process is up."""
        self._adopt()
        return self._daemon.is_running()

    def status(self) -> SessionStatus:
        """Its daemon status and where its name was found."""
        self._adopt()
        found = self._found() if self.backend != "process" else []
        daemon = self._daemon.get_status()
        exists = bool(found) if self.backend != "process" else daemon.is_running
        return SessionStatus(self.name, self.backend, exists, daemon, found)

    def logs(self, lines: int = 100) -> List[str]:
        """Its last ``lines`` lines of output."""
        return self._daemon.logs(lines)

    def detach(self) -> None:
        """Leaves the session running after this handle is gone (and, with
        ``supervisor="process"``, after this program exits). A later ``SessionManager`` of
        the same name takes it back."""
        self._daemon.detach()

    def __enter__(self) -> "SessionManager":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<proctor.SessionManager name={self.name!r} backend={self.backend!r}>"

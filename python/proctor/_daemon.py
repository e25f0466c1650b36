"""``Daemon``: one daemon of your own, started once, ready, kept alive, stopped."""

from __future__ import annotations

import atexit
import os
import sys
import weakref
from typing import Any, Awaitable, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, TypeVar, Union

from . import _native
from ._native import Probe, Storage
from ._errors import ProctorError

__all__ = ["Daemon", "DaemonStatus", "ExitInfo", "supervisor_program"]

T = TypeVar("T")

Command = Union[str, Sequence[str]]


class ExitInfo(NamedTuple):
    """How a daemon's previous run ended."""

    code: Optional[int]
    """Exit code, when it exited on its own."""
    signal: Optional[int]
    """Signal number, when a signal killed it."""
    timed_out: bool
    """A stop timed out and it was killed."""
    spawn_error: Optional[str]
    """Why the start itself failed (program not found, …)."""
    description: str
    """``exited 1``, ``killed by SIGKILL``, …"""


class DaemonStatus(NamedTuple):
    """A daemon's state as its supervisor sees it (from :meth:`Daemon.get_status`)."""

    state: str
    """``stopped``, ``starting``, ``running`` (ready), ``backoff``, ``exited``, ``failed``,
    ``stopping``."""
    pid: Optional[int]
    """Its pid (and process group) while it runs."""
    ready: bool
    """Whether it passed its readiness probe since it last started."""
    restarts: int
    """Automatic restarts so far."""
    uptime: float
    """Seconds its current process has run."""
    last_exit: Optional[ExitInfo]
    """How the previous run ended."""
    storage_dir: Optional[str]
    """Its ``PROCTOR_STATE_DIR`` while that exists."""
    reason: Optional[str] = None
    """Why it waits, failed or restarts."""
    probe_error: Optional[str] = None
    """The last failed probe attempt."""
    supervisor_pid: Optional[int] = None
    """The process supervising it."""

    @classmethod
    def _from_native(cls, d: Dict[str, Any]) -> "DaemonStatus":
        last = d.get("last_exit")
        storage = d.get("storage_dir")
        return cls(
            state=d["state"],
            pid=d["pid"],
            ready=d["ready"],
            restarts=d["restarts"],
            uptime=d["uptime"],
            last_exit=ExitInfo(**last) if last else None,
            storage_dir=os.fspath(storage) if storage is not None else None,
            reason=d.get("reason"),
            probe_error=d.get("probe_error"),
            supervisor_pid=d.get("supervisor_pid"),
        )

    @property
    def is_running(self) -> bool:
        """Whether its process is up (starting or running)."""
        return self.state in ("starting", "running") and self.pid is not None


def supervisor_program() -> str:
    """The ``proctor-py-supervisor`` program installed with this package."""
    import shutil

    candidates = [
        os.path.join(os.path.dirname(sys.executable), "proctor-py-supervisor"),
        shutil.which("proctor-py-supervisor"),
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise ProctorError(
        "cannot find the proctor-py-supervisor program that `pip install` puts beside "
        f"{sys.executable}; reinstall the package, or use supervisor=\"thread\""
    )


# Daemons started by this process and not detached: stopped at interpreter exit, since a
# module-level Daemon may never be collected, and a thread supervisor dies with the process.
_started: "weakref.WeakSet[Daemon]" = weakref.WeakSet()


@atexit.register
def _stop_at_exit() -> None:
    for d in list(_started):
        try:
            if d._native is not None:
                d._native.stop()
        except Exception:  # noqa: BLE001 - exiting; nothing better to do with it
            pass


def _argv(command: Command) -> List[str]:
    if isinstance(command, str):
        import shlex

        return shlex.split(command)
    return [os.fspath(a) for a in command]


def _probe(ready: Union[None, str, Probe]) -> Optional[Probe]:
    """A Probe, or a URL-like string: ``tcp://host:port``, ``http(s)://…``, ``unix:///path``."""
    if ready is None or isinstance(ready, Probe):
        return ready
    if ready.startswith("tcp://"):
        return Probe.tcp(ready[len("tcp://"):], interval=0.02)
    if ready.startswith(("http://", "https://")):
        return Probe.http(ready, interval=0.05)
    if ready.startswith("unix://"):
        return Probe.unix(ready[len("unix://"):], interval=0.02)
    raise ValueError(f"ready must be a proctor.Probe or tcp://, http://, unix:// URL, not {ready!r}")


def _supervisor(supervisor: str) -> Optional[str]:
    if supervisor == "thread":
        return None
    if supervisor == "process":
        return supervisor_program()
    raise ValueError(f'supervisor must be "thread" or "process", not {supervisor!r}')


class Daemon:
    """A daemon managed from Python by the Rust core.

    ``start()`` returns once it is ready (its ``ready`` probe passed); ``stop()`` sends the
    stop signal to its whole process group and SIGKILL after the grace period. Both are
    idempotent. Used as a context manager it starts on enter and stops on exit, also when
    the block raises. Dropping the last reference stops it too, unless it was detached.

    Exactly once: its lifecycle lock (``state_dir/locks/NAME.lock``) is taken before it is
    spawned, so a second ``Daemon`` of the same name and state directory, in any process,
    gets :class:`proctor.AlreadyRunning` naming the holder.

    Args:
        name: letters, digits, ``_``, ``.``, ``-``.
        command: argv list, or a string split like a shell would (no shell runs).
        env: variables added to this process's environment.
        cwd: working directory (default: the current one).
        ready: a :class:`proctor.Probe` (or ``"tcp://host:port"``, ``"http://…"``,
            ``"unix:///path"``); default: ready once spawned.
        restart: ``"no"``, ``"on-failure"`` (default) or ``"always"``.
        storage: ``Storage.sandboxed()`` or ``Storage.physical(path, persist_on_exit=…)``,
            handed to it as ``PROCTOR_STATE_DIR``.
        supervisor: ``"thread"`` (default; a thread of this process) or ``"process"`` (a
            process of its own, which keeps a detached daemon supervised after this
            process exits).
        state_dir: where the lock, control socket and logs go (default
            ``$XDG_STATE_HOME/proctor/daemons/NAME``).
        stop_timeout: seconds between the stop signal and SIGKILL (default 10).
        live: a liveness :class:`proctor.Probe`; failures restart it.
        backend: ``"process"`` (default), ``"tmux"`` (a session on a private tmux server)
            or ``"container"`` (needs ``container={"image": …, "volumes": […], "ports":
            […], "runtime": "podman"|"docker", "container_name": …}``).
        tmux_binary: the tmux program; container_runtime: the default runtime.
    """

    def __init__(
        self,
        name: str,
        command: Command,
        *,
        env: Optional[Mapping[str, str]] = None,
        cwd: Union[None, str, "os.PathLike[str]"] = None,
        ready: Union[None, str, Probe] = None,
        restart: str = "on-failure",
        storage: Optional[Storage] = None,
        supervisor: str = "thread",
        state_dir: Union[None, str, "os.PathLike[str]"] = None,
        stop_timeout: Optional[float] = None,
        live: Optional[Probe] = None,
        backend: str = "process",
        container: Optional[Mapping[str, Any]] = None,
        tmux_binary: Optional[str] = None,
        container_runtime: Optional[str] = None,
    ) -> None:
        kwargs: Dict[str, Any] = dict(
            env=dict(env) if env is not None else None,
            cwd=os.fspath(cwd) if cwd is not None else None,
            ready=_probe(ready),
            live=live,
            restart=restart,
            storage=storage,
            supervisor=_supervisor(supervisor),
            state_dir=os.fspath(state_dir) if state_dir is not None else None,
            stop_timeout=stop_timeout,
            backend=backend,
            container=dict(container) if container is not None else None,
            tmux_binary=tmux_binary,
            container_runtime=container_runtime,
        )
        argv = _argv(command)
        self._supervisor_kind = supervisor
        self._make: Callable[[], _native.NativeDaemon] = lambda: _native.NativeDaemon(name, argv, **kwargs)
        self._native: Optional[_native.NativeDaemon] = self._make()

    @classmethod
    def from_spec(
        cls,
        path: Union[str, "os.PathLike[str]"],
        name: str,
        *,
        supervisor: str = "thread",
        **overrides: Any,
    ) -> "Daemon":
        """The daemon declared as ``[service.NAME]`` in the proctor.toml at ``path``.

        Keyword arguments (``env``, ``cwd``, ``ready``, ``restart``, ``storage``,
        ``state_dir``, ``stop_timeout``) override the file's settings. Raises
        :class:`proctor.SpecError` (every problem, with file:line:col) or
        :class:`proctor.UnknownService`.
        """
        spec = os.fspath(path)
        if "ready" in overrides:
            overrides["ready"] = _probe(overrides["ready"])
        program = _supervisor(supervisor)
        self = cls.__new__(cls)
        self._supervisor_kind = supervisor
        self._make = lambda: _native.NativeDaemon.from_spec(spec, name, supervisor=program, **overrides)
        self._native = self._make()
        return self

    # -- the handle ------------------------------------------------------------------

    def _handle(self) -> _native.NativeDaemon:
        if self._native is None:
            raise ProctorError(f"this handle was detached; call attach() to take the daemon back")
        return self._native

    @property
    def name(self) -> str:
        """The daemon's name."""
        return self._handle().name if self._native is not None else self._make().name

    @property
    def state_dir(self) -> str:
        """Where its lock, control socket and logs are (``PROCTOR_HOME`` for the CLI)."""
        return os.fspath(self._handle().state_dir)

    # -- life ------------------------------------------------------------------------

    def start(self) -> None:
        """Starts it and returns once it is ready. Idempotent while this handle runs it.

        Raises :class:`proctor.AlreadyRunning` when another live process runs it,
        :class:`proctor.StartFailed` (with ``cause`` and ``log_tail``) when it cannot start,
        :class:`proctor.ReadyTimeout` when its probe does not pass in time. A failed start
        leaves nothing running. The GIL is released while it waits.
        """
        self._handle().start()
        _started.add(self)

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stops it: the stop signal to its process group, SIGKILL after ``timeout``
        seconds (default: its ``stop_timeout``). Releases its lock and removes sandboxed
        storage. Idempotent."""
        self._handle().stop(timeout)

    def ensure_running(self) -> None:
        """Starts it if stopped, restarts it if it died, and waits until it is ready."""
        self._handle().ensure_running()
        _started.add(self)

    def is_running(self) -> bool:
        """Whether its process is up (starting or running)."""
        return self._handle().is_running()

    def get_status(self) -> DaemonStatus:
        """Its state, pid, readiness, restarts, uptime, last exit and storage dir."""
        return DaemonStatus._from_native(self._handle().status())

    @property
    def status(self) -> DaemonStatus:
        """Same as :meth:`get_status`."""
        return self.get_status()

    @property
    def pid(self) -> Optional[int]:
        """Its pid while it runs."""
        return self.get_status().pid

    def call_with_recovery(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Calls ``fn(*args, **kwargs)``. If it raises, checks the daemon: if it died (or
        is failing its liveness probe, or was restarted since last seen healthy), brings it
        back, waits until ready and calls ``fn`` once more. If the daemon is healthy, the
        exception is not its doing and is raised as is. A failed recovery raises the
        proctor error, chained to ``fn``'s exception."""
        result: T = self._handle().call_with_recovery(lambda: fn(*args, **kwargs))
        return result

    def logs(self, lines: int = 100) -> List[str]:
        """Its last ``lines`` lines of output (stdout and stderr), oldest first."""
        if self._native is None:
            return self._make().logs(lines)
        return self._native.logs(lines)

    def detach(self) -> None:
        """Lets the daemon outlive this handle, still supervised (with
        ``supervisor="process"`` also after this process exits). ``attach()`` takes it
        back, from this object or a new one in any process."""
        if self._native is not None:
            self._native.detach()
            self._native = None

    def attach(self) -> None:
        """Takes charge of the daemon that a supervisor already runs in its state dir (one
        left by :meth:`detach`, perhaps by an earlier run of this program). Raises
        :class:`proctor.NotRunning` when none runs it."""
        native = self._native if self._native is not None else self._make()
        native.attach()
        self._native = native
        _started.add(self)

    # -- async twins -----------------------------------------------------------------

    async def _off(self, fn: Callable[..., T], *args: Any) -> T:
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def start_async(self) -> None:
        """:meth:`start` without blocking the event loop."""
        await self._off(self.start)

    async def stop_async(self, timeout: Optional[float] = None) -> None:
        """:meth:`stop` without blocking the event loop."""
        await self._off(self.stop, timeout)

    async def ensure_running_async(self) -> None:
        """:meth:`ensure_running` without blocking the event loop."""
        await self._off(self.ensure_running)

    async def get_status_async(self) -> DaemonStatus:
        """:meth:`get_status` without blocking the event loop."""
        return await self._off(self.get_status)

    async def call_with_recovery_async(self, fn: Callable[[], Awaitable[T]]) -> T:
        """:meth:`call_with_recovery` for a coroutine function: ``await fn()`` runs on this
        loop, the recovery steps on a worker thread."""
        import asyncio

        loop = asyncio.get_running_loop()

        def call() -> T:
            return asyncio.run_coroutine_threadsafe(fn(), loop).result()  # type: ignore[arg-type]

        return await self._off(self._handle().call_with_recovery, call)

    # -- protocols -------------------------------------------------------------------

    def __enter__(self) -> "Daemon":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._native is not None:
            self.stop()

    async def __aenter__(self) -> "Daemon":
        await self.start_async()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._native is not None:
            await self.stop_async()

    def __del__(self) -> None:
        # What the Rust handle's drop would do, but with the GIL released while it stops.
        native = getattr(self, "_native", None)
        if native is not None:
            try:
                native.stop()
            except Exception:  # noqa: BLE001 - a finalizer must not raise
                pass

    def __repr__(self) -> str:
        if self._native is None:
            return f"<proctor.Daemon name={self.name!r} detached>"
        try:
            s = self.get_status()
            return f"<proctor.Daemon name={self._native.name!r} state={s.state!r} pid={s.pid}>"
        except ProctorError as e:
            return f"<proctor.Daemon name={self._native.name!r} state=unknown ({e})>"

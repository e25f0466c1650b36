"""The exceptions proctor raises: one hierarchy under :class:`ProctorError`.

Each is raised from the Rust core with the Rust error's fields as attributes.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional

__all__ = [
    "ProctorError",
    "AlreadyRunning",
    "NotRunning",
    "SpecError",
    "SpecErrorItem",
    "UnknownService",
    "LockConflict",
    "LockError",
    "StartFailed",
    "ReadyTimeout",
    "BackendError",
    "AmbiguousBackend",
    "ControlError",
    "ControlTimeout",
    "SupervisorRunning",
    "InstallError",
    "ProctorOSError",
    "LockHolder",
]


class LockHolder(NamedTuple):
    """Who holds a lifecycle lock: the record in its JSON file."""

    pid: int
    """The service's pid (the locking process itself for a plain LifecycleLock)."""
    pgid: int
    """Its process group."""
    start_time: int
    """The kernel start time of ``pid``, which tells a reused pid apart."""
    hostname: str
    """The host it runs on."""
    started_at: str
    """When it was taken (RFC 3339, UTC)."""
    supervisor_pid: int
    """The process that supervises it (the one holding the lock)."""
    schema_version: int = 1
    """The lock file format's version."""

    @classmethod
    def from_record(cls, record: Optional[Dict[str, Any]]) -> Optional["LockHolder"]:
        """The holder named by a lock record dict (``None`` stays ``None``)."""
        if record is None:
            return None
        known = {k: record[k] for k in cls._fields if k in record}
        return cls(**known)


class ProctorError(Exception):
    """Base class of every proctor error. ``str(e)`` is the Rust error's message."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        for key, value in fields.items():
            setattr(self, key, value)


class AlreadyRunning(ProctorError):
    """Another live process runs this daemon: ``holder`` (a :class:`LockHolder`) holds its
    lifecycle lock; ``holder.supervisor_pid`` is the process that started it."""

    name: str
    holder: LockHolder

    def __init__(self, message: str, *, name: str, holder: Dict[str, Any]) -> None:
        super().__init__(message, name=name)
        self.holder = LockHolder.from_record(holder)  # type: ignore[assignment]


class NotRunning(ProctorError):
    """The daemon is not started, or no supervisor runs for the project."""

    name: Optional[str]


class SpecErrorItem(NamedTuple):
    """One problem in a spec, with where it is."""

    file: str
    line: int
    col: int
    message: str
    help: Optional[str] = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class SpecError(ProctorError):
    """The spec (a proctor.toml or a Daemon's arguments) is invalid; ``errors`` lists every
    problem, each with ``file``, ``line``, ``col``, ``message`` and ``help``."""

    errors: List[SpecErrorItem]

    def __init__(self, message: str, *, errors: List[Dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = [SpecErrorItem(**e) for e in errors]


class UnknownService(ProctorError):
    """The spec declares no service of that name (``name``, ``path``)."""

    name: str
    path: str


class LockError(ProctorError):
    """A lifecycle lock could not be read, written or removed."""


class LockConflict(LockError):
    """The lock is held by a live process: ``holder`` (a :class:`LockHolder`, or ``None``
    when the winner of a race has not written its record yet) and ``path``."""

    holder: Optional[LockHolder]
    path: str

    def __init__(self, message: str, *, holder: Optional[Dict[str, Any]], path: str) -> None:
        super().__init__(message, path=path)
        self.holder = LockHolder.from_record(holder)


class StartFailed(ProctorError):
    """The daemon could not be started or gave up before it was ready: ``cause`` says why
    and ``log_tail`` holds the last lines it printed."""

    name: str
    cause: str
    log_tail: List[str]


class ReadyTimeout(ProctorError):
    """The readiness probe did not pass within ``waited`` seconds; ``log_tail`` holds the
    daemon's last lines."""

    name: str
    waited: float
    log_tail: List[str]


class BackendError(ProctorError):
    """A backend (tmux, podman, docker) is missing or failed."""


class AmbiguousBackend(BackendError):
    """More than one backend holds a session of ``name``; ``found`` lists them."""

    name: str
    found: List[Dict[str, Any]]


class ControlError(ProctorError):
    """Talking to a supervisor failed; ``remote`` is its error body when it answered one."""

    remote: Optional[Dict[str, Any]]


class ControlTimeout(ControlError):
    """The supervisor did not answer within ``waited`` seconds."""

    waited: float


class SupervisorRunning(ProctorError):
    """A supervisor already runs for this state directory (``pid``, ``state_dir``)."""


class InstallError(ProctorError):
    """A boot service could not be rendered or installed."""


class ProctorOSError(ProctorError, OSError):
    """An OS operation failed: ``context`` says what, ``errno`` the OS error number."""

    def __init__(self, message: str, *, context: str, errno: Optional[int]) -> None:
        ProctorError.__init__(self, message, context=context)
        self.errno = errno

    def __str__(self) -> str:
        return self.message

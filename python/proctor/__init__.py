"""proctor: a daemon lifecycle manager, from Python.

A Python face on proctor's Rust core (the same code as the ``proctor`` command): start a
daemon once and only once, know when it is ready, keep it alive, capture its logs, stop
its whole process group cleanly.

    import proctor

    with proctor.Daemon("cache", ["redis-server", "--port", "6400"],
                        ready=proctor.Probe.tcp("127.0.0.1:6400"),
                        storage=proctor.Storage.sandboxed()) as cache:
        print(cache.get_status())          # state='running', pid=…, ready=True, …
        cache.call_with_recovery(ping)     # restarts a dead daemon, retries once

- :class:`Daemon`: one daemon embedded in your program.
- :class:`LifecycleLock`: the JSON lifecycle lock (``proctor lock`` sees it).
- :class:`SessionManager` and :func:`auto_detect_backend`: tmux sessions and containers.
- :class:`Project`: a ``proctor.toml`` project (up, down, status, start, stop, install).
- :class:`ProctorError` and its subclasses: every error, with the Rust error's fields.
"""

from ._native import Probe, Storage, __version__
from ._errors import (
    AlreadyRunning,
    AmbiguousBackend,
    BackendError,
    ControlError,
    ControlTimeout,
    InstallError,
    LockConflict,
    LockError,
    LockHolder,
    NotRunning,
    ProctorError,
    ProctorOSError,
    ReadyTimeout,
    SpecError,
    SpecErrorItem,
    StartFailed,
    SupervisorRunning,
    UnknownService,
)
from ._daemon import Daemon, DaemonStatus, ExitInfo
from ._lock import LifecycleLock
from ._session import SessionManager, SessionStatus, auto_detect_backend
from ._project import Project

__all__ = [
    "Daemon",
    "DaemonStatus",
    "ExitInfo",
    "Probe",
    "Storage",
    "LifecycleLock",
    "LockHolder",
    "SessionManager",
    "SessionStatus",
    "auto_detect_backend",
    "Project",
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
    "__version__",
]

"""Type stubs of ``proctor._native``, the Rust extension (see ``python/src``).

Use the classes of ``proctor`` (Daemon, LifecycleLock, SessionManager, Project); only
``Probe`` and ``Storage`` are meant to be used from here directly.
"""

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

_Path = Union[str, "os.PathLike[str]"]

__version__: str

class Probe:
    """A readiness (or liveness) check. Durations are seconds."""

    @staticmethod
    def tcp(addr: str, *, interval: Optional[float] = None, timeout: Optional[float] = None,
            initial_delay: Optional[float] = None, deadline: Optional[float] = None) -> "Probe":
        """Ready once a TCP connection to ``addr`` (``host:port``) succeeds."""
    @staticmethod
    def http(url: str, *, interval: Optional[float] = None, timeout: Optional[float] = None,
             initial_delay: Optional[float] = None, deadline: Optional[float] = None) -> "Probe":
        """Ready once a GET of ``url`` answers 2xx."""
    @staticmethod
    def unix(path: _Path, *, interval: Optional[float] = None, timeout: Optional[float] = None,
             initial_delay: Optional[float] = None, deadline: Optional[float] = None) -> "Probe":
        """Ready once a connection to the unix socket at ``path`` succeeds."""
    @staticmethod
    def exec(argv: Sequence[str], *, interval: Optional[float] = None, timeout: Optional[float] = None,
             initial_delay: Optional[float] = None, deadline: Optional[float] = None) -> "Probe":
        """Ready once ``argv`` exits 0."""
    @staticmethod
    def log(pattern: str, *, interval: Optional[float] = None, timeout: Optional[float] = None,
            initial_delay: Optional[float] = None, deadline: Optional[float] = None) -> "Probe":
        """Ready once a line of its output matches the regex ``pattern``."""
    @staticmethod
    def notify(*, deadline: Optional[float] = None) -> "Probe":
        """Ready once it sends ``READY=1`` on ``$NOTIFY_SOCKET``."""

class Storage:
    """A daemon's state directory, handed to it as ``PROCTOR_STATE_DIR``."""

    @staticmethod
    def sandboxed() -> "Storage":
        """A fresh private temp directory per start, removed after every stop."""
    @staticmethod
    def physical(path: _Path, persist_on_exit: bool = False) -> "Storage":
        """``path``; removed at stop unless ``persist_on_exit``."""
    @property
    def kind(self) -> str:
        """``"sandboxed"`` or ``"physical"``."""
    @property
    def path(self) -> Optional[str]:
        """The directory of physical storage."""
    @property
    def persist_on_exit(self) -> bool:
        """Whether physical storage is kept after stop."""

class NativeDaemon:
    """The Rust ``proctor::Daemon``; ``proctor.Daemon`` wraps it."""

    def __init__(self, name: str, command: Sequence[str], *, env: Optional[Mapping[str, str]] = None,
                 cwd: Optional[str] = None, ready: Optional[Probe] = None, live: Optional[Probe] = None,
                 restart: str = "on-failure", storage: Optional[Storage] = None,
                 supervisor: Optional[str] = None, state_dir: Optional[str] = None,
                 stop_timeout: Optional[float] = None, backend: str = "process",
                 container: Optional[Mapping[str, Any]] = None, tmux_binary: Optional[str] = None,
                 container_runtime: Optional[str] = None) -> None: ...
    @staticmethod
    def from_spec(path: _Path, name: str, *, env: Optional[Mapping[str, str]] = None,
                  cwd: Optional[str] = None, ready: Optional[Probe] = None, restart: Optional[str] = None,
                  storage: Optional[Storage] = None, supervisor: Optional[str] = None,
                  state_dir: Optional[str] = None, stop_timeout: Optional[float] = None) -> "NativeDaemon": ...
    @property
    def name(self) -> str: ...
    @property
    def state_dir(self) -> str: ...
    def start(self) -> None: ...
    def stop(self, timeout: Optional[float] = None) -> None: ...
    def ensure_running(self) -> None: ...
    def attach(self) -> None: ...
    def is_running(self) -> bool: ...
    def status(self) -> Dict[str, Any]: ...
    def call_with_recovery(self, f: Any) -> Any: ...
    def logs(self, lines: int = 100) -> List[str]: ...
    def detach(self) -> None: ...

class NativeLock:
    """The Rust ``proctor::lock::Lock``; ``proctor.LifecycleLock`` wraps it."""

    def __init__(self, path: _Path) -> None: ...
    @property
    def path(self) -> str: ...
    def acquire(self) -> Dict[str, Any]: ...
    def release(self) -> bool: ...
    def read(self) -> Optional[Dict[str, Any]]: ...
    def is_held_by_self(self) -> bool: ...
    def is_held(self) -> bool: ...
    def force_unlock(self) -> Optional[Dict[str, Any]]: ...

def serve_if_requested() -> None:
    """Runs the supervisor when this process was started as one, then exits."""

def project_info(path: _Path) -> Dict[str, Any]: ...
def project_ensure_supervisor(path: _Path, argv: Sequence[str]) -> bool: ...
def project_request(path: _Path, request: str, timeout: Optional[float] = None) -> str: ...
def project_down(path: _Path, timeout: Optional[float] = None) -> bool: ...
def project_install(path: _Path, exe: _Path, *, role: Optional[str] = None, target: Optional[str] = None,
                    system: bool = False, name: Optional[str] = None,
                    env: Optional[Mapping[str, str]] = None, print_only: bool = False) -> Dict[str, Any]: ...
def log_tail(state_dir: _Path, name: str, lines: int) -> List[str]: ...
def default_state_dir(name: str) -> str: ...
def find_backends(name: str, state_dir: _Path, *, tmux_binary: Optional[str] = None,
                  container_name: Optional[str] = None) -> List[Dict[str, Any]]: ...
def attach_argv(name: str, backend: str, state_dir: _Path, *, tmux_binary: Optional[str] = None,
                container_runtime: Optional[str] = None, container_name: Optional[str] = None) -> List[str]: ...

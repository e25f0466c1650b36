"""``LifecycleLock``: the JSON lifecycle lock file, as the CLI's ``proctor lock`` reads it."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Union

from . import _native
from ._errors import LockHolder

__all__ = ["LifecycleLock"]


def _default_path(name: str) -> str:
    state = os.fspath(_native.default_state_dir(name))
    return os.path.join(state, "locks", f"{name}.lock")


class LifecycleLock:
    """A lifecycle lock over the Rust core's ``proctor::lock::Lock``.

    The file holds ``{"schema_version", "pid", "pgid", "start_time", "hostname",
    "started_at", "supervisor_pid"}``, written atomically and owner-only; a kernel lock on a
    sibling ``.flock`` file makes concurrent acquirers on one host take turns.
    :meth:`acquire` takes over a record whose holder is dead (or its pid reused) or that was
    written on another host, and raises :class:`proctor.LockConflict` naming a live holder.

    Args:
        path: the lock file (default ``$XDG_STATE_HOME/proctor/daemons/NAME/locks/NAME.lock``,
            the lock a :class:`proctor.Daemon` called ``name`` uses).
        name: the service the lock is for (needed when ``path`` is not given).
    """

    def __init__(self, path: Union[None, str, "os.PathLike[str]"] = None, *, name: Optional[str] = None) -> None:
        if path is None:
            if name is None:
                raise TypeError("LifecycleLock needs a path or a name")
            path = _default_path(name)
        self._native = _native.NativeLock(os.fspath(path))
        self.last_acquired: Optional[Dict[str, Any]] = None
        """What the last :meth:`acquire` found: ``outcome`` (``fresh``, ``taken_over``,
        ``orphan``), and ``previous`` and ``reason`` for a takeover."""

    @property
    def lock_path(self) -> str:
        """The lock file's path."""
        return os.fspath(self._native.path)

    def acquire(self) -> "LifecycleLock":
        """Takes the lock for this process (see the class docs); returns ``self``.
        ``last_acquired`` says whether a stale or foreign record was taken over."""
        got = self._native.acquire()
        prev = got.get("previous")
        got["previous"] = LockHolder.from_record(prev) if prev is not None else None
        self.last_acquired = got
        return self

    def release(self) -> bool:
        """Clears the record if it names this process and drops the kernel lock.
        Idempotent; returns whether a record was cleared."""
        return self._native.release()

    def read(self) -> Optional[LockHolder]:
        """The holder named on disk; ``None`` when absent, released or unreadable."""
        return LockHolder.from_record(self._native.read())

    def is_held_by_self(self) -> bool:
        """Whether this process holds it (the record names this process)."""
        return self._native.is_held() and self._native.is_held_by_self()

    def force_unlock(self) -> Optional[LockHolder]:
        """Removes the lock file whoever holds it; returns the prior holder (or ``None``)."""
        return LockHolder.from_record(self._native.force_unlock())

    def __enter__(self) -> "LifecycleLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<proctor.LifecycleLock {self.lock_path!r} held={self._native.is_held()}>"

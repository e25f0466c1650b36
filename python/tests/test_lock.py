"""proctor.LifecycleLock over the Rust lock: same file format as the CLI's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

import proctor


def write_record(path, **fields):
    record = {
        "schema_version": 1, "pid": 1, "pgid": 1, "start_time": 1,
        "hostname": socket.gethostname(), "started_at": "2026-01-01T00:00:00Z", "supervisor_pid": 1,
    }
    record.update(fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_acquire_read_release_and_context_manager(tmp_path):
    path = tmp_path / "locks" / "web.lock"
    lock = proctor.LifecycleLock(path)
    assert lock.lock_path == str(path)
    assert lock.read() is None and not lock.is_held_by_self()
    with lock:
        assert lock.last_acquired["outcome"] == "fresh"
        holder = lock.read()
        assert holder.pid == os.getpid() and holder.supervisor_pid == os.getpid()
        assert holder.hostname and holder.started_at.endswith("Z") and holder.schema_version == 1
        assert lock.is_held_by_self()
        on_disk = json.loads(path.read_text())
        assert set(on_disk) >= {"schema_version", "pid", "pgid", "start_time", "hostname", "started_at", "supervisor_pid"}
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert lock.read() is None and not lock.is_held_by_self()
    assert lock.release() is False  # idempotent


def test_default_path_is_the_daemon_lock_of_that_name(home):
    lock = proctor.LifecycleLock(name="web")
    assert lock.lock_path == str(home / "proctor" / "daemons" / "web" / "locks" / "web.lock")
    with pytest.raises(TypeError):
        proctor.LifecycleLock()


def test_takes_over_a_dead_holder(tmp_path):
    path = tmp_path / "svc.lock"
    gone = dead_pid()
    write_record(path, pid=gone, pgid=gone, supervisor_pid=gone)
    lock = proctor.LifecycleLock(path).acquire()
    try:
        assert lock.last_acquired["outcome"] == "taken_over"
        assert lock.last_acquired["reason"] == "holder_dead"
        assert lock.last_acquired["previous"].pid == gone
        assert lock.read().pid == os.getpid()
    finally:
        lock.release()


def test_takes_over_a_foreign_host(tmp_path):
    path = tmp_path / "svc.lock"
    write_record(path, hostname="elsewhere.invalid", pid=os.getpid(), supervisor_pid=os.getpid())
    lock = proctor.LifecycleLock(path).acquire()
    try:
        assert lock.last_acquired["reason"] == "foreign_host"
        assert lock.last_acquired["previous"].hostname == "elsewhere.invalid"
        assert lock.read().hostname != "elsewhere.invalid"
    finally:
        lock.release()


def test_a_live_holder_in_another_process_is_a_conflict_and_force_unlock_returns_it(tmp_path):
    path = tmp_path / "svc.lock"
    script = textwrap.dedent(f"""
        import sys, proctor
        lock = proctor.LifecycleLock({str(path)!r}).acquire()
        print("held", flush=True)
        sys.stdin.read()
    """)
    other = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        mine = proctor.LifecycleLock(path)
        with pytest.raises(proctor.LockConflict) as e:
            mine.acquire()
        assert isinstance(e.value, proctor.LockError) and isinstance(e.value, proctor.ProctorError)
        assert e.value.holder.pid == other.pid and e.value.path == str(path)
        prior = mine.force_unlock()
        assert prior.pid == other.pid and prior.supervisor_pid == other.pid
        assert not path.exists()
        assert mine.force_unlock() is None
    finally:
        other.communicate("", timeout=30)


def test_the_cli_lock_format_is_the_daemons(home):
    # A daemon's lock, read through LifecycleLock: the same file and format.
    d = proctor.Daemon("shared", ["sleep", "1000"], state_dir=home / "d")
    with d:
        holder = proctor.LifecycleLock(home / "d" / "locks" / "shared.lock").read()
        assert holder.pid == d.pid and holder.supervisor_pid == os.getpid()


def test_the_cli_sees_a_lifecycle_lock_and_unlock_names_its_holder(home):
    tmp_path = home
    proctor_bin = os.environ.get("PROCTOR_BIN")
    if not proctor_bin:
        pytest.skip("PROCTOR_BIN (the proctor command) is set by cargo test")
    env = dict(os.environ, PROCTOR_HOME=str(tmp_path))
    (tmp_path / "proctor.toml").write_text('[service.web]\ncommand = ["sleep", "1"]\n')
    with proctor.LifecycleLock(tmp_path / "locks" / "web.lock"):
        out = subprocess.run([proctor_bin, "--file", str(tmp_path / "proctor.toml"), "lock", "--json"],
                             capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        assert str(os.getpid()) in out.stdout and "web" in out.stdout

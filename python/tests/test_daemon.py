"""proctor.Daemon with real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import proctor
from conftest import free_port, pid_alive, ping, tcp_server_argv, wait_for

LOG_READY = "echo up and running; exec sleep 1000"


def sleeper(name: str = "svc", **kw) -> proctor.Daemon:
    kw.setdefault("ready", proctor.Probe.log("up and running", interval=0.02))
    return proctor.Daemon(name, ["sh", "-c", LOG_READY], **kw)


def test_start_is_idempotent_and_status_reports_the_process():
    d = sleeper()
    assert d.get_status().state == "stopped"
    assert not d.is_running()
    d.start()
    d.start()
    s = d.get_status()
    assert s.state == "running" and s.ready and s.pid and pid_alive(s.pid)
    assert s.restarts == 0 and s.uptime >= 0 and s.last_exit is None
    assert s.supervisor_pid == os.getpid()
    assert d.is_running()
    assert f"name='svc' state='running' pid={s.pid}" in repr(d)
    assert d.logs() == ["up and running"]
    d.stop()
    d.stop()
    assert not pid_alive(s.pid)
    assert d.get_status().state == "stopped"
    assert "state='stopped' pid=None" in repr(d)


def test_context_manager_stops_the_daemon_when_the_block_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with sleeper() as d:
            pid = d.pid
            assert pid and pid_alive(pid)
            raise RuntimeError("boom")
    assert not pid_alive(pid)
    assert not d.is_running()


def test_sandboxed_storage_is_gone_after_stop():
    d = proctor.Daemon("box", ["sh", "-c", 'echo data > "$PROCTOR_STATE_DIR/f"; echo up and running; exec sleep 1000'],
                       ready=proctor.Probe.log("up and running", interval=0.02),
                       storage=proctor.Storage.sandboxed())
    with d:
        where = d.get_status().storage_dir
        assert where and (Path(where) / "f").read_text() == "data\n"
    assert not os.path.exists(where)


@pytest.mark.parametrize("persist", [False, True])
def test_physical_storage_persists_only_with_persist_on_exit(tmp_path, persist):
    data = tmp_path / "data"
    d = proctor.Daemon("phys", ["sh", "-c", 'echo kept > "$PROCTOR_STATE_DIR/f"; echo up and running; exec sleep 1000'],
                       ready=proctor.Probe.log("up and running", interval=0.02),
                       storage=proctor.Storage.physical(data, persist_on_exit=persist))
    with d:
        assert d.get_status().storage_dir == str(data)
        assert (data / "f").read_text() == "kept\n"
    assert data.exists() == persist
    if persist:
        assert (data / "f").read_text() == "kept\n"


def test_a_second_process_gets_already_running_naming_the_first():
    script = textwrap.dedent("""
        import sys, proctor
        d = proctor.Daemon("dup", ["sh", "-c", "echo up and running; exec sleep 1000"],
                           ready=proctor.Probe.log("up and running", interval=0.02))
        d.start()
        print("started", d.pid, flush=True)
        sys.stdin.read()
        d.stop()
    """)
    first = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = first.stdout.readline().split()
        assert line[0] == "started", line
        daemon_pid = int(line[1])
        second = sleeper("dup")
        with pytest.raises(proctor.AlreadyRunning) as e:
            second.start()
        assert isinstance(e.value, proctor.ProctorError)
        assert e.value.holder.supervisor_pid == first.pid
        assert e.value.holder.pid == daemon_pid
        assert str(first.pid) in str(e.value) or str(daemon_pid) in str(e.value)
        assert not second.is_running()
    finally:
        first.communicate("", timeout=30)
    assert first.returncode == 0


def test_call_with_recovery_after_kill_9():
    port = free_port()
    d = proctor.Daemon("tcp", tcp_server_argv(port), ready=f"tcp://127.0.0.1:{port}", restart="no")
    with d:
        assert d.call_with_recovery(ping, port) == b"pong"
        first = d.pid
        os.kill(first, signal.SIGKILL)
        wait_for("the supervisor to see the kill", lambda: d.get_status().state != "running")
        calls = []

        def call():
            calls.append(1)
            return ping(port)

        assert d.call_with_recovery(call) == b"pong"
        assert len(calls) == 2
        assert d.pid != first and d.is_running()


def test_call_with_recovery_reraises_when_the_daemon_is_healthy():
    with sleeper() as d:
        def fails():
            raise KeyError("not the daemon's fault")
        with pytest.raises(KeyError):
            d.call_with_recovery(fails)


def test_ensure_running_brings_back_a_killed_daemon():
    with sleeper(restart="no") as d:
        first = d.pid
        os.kill(first, signal.SIGKILL)
        wait_for("the exit", lambda: not d.is_running())
        d.ensure_running()
        assert d.is_running() and d.pid != first
        assert d.get_status().last_exit.signal == signal.SIGKILL
        assert "SIGKILL" in d.get_status().last_exit.description


def test_other_threads_run_while_start_waits():
    d = proctor.Daemon("slow", ["sh", "-c", "sleep 0.5; echo up and running; exec sleep 1000"],
                       ready=proctor.Probe.log("up and running", interval=0.02))
    ticks = []
    waiting = threading.Event()
    done = threading.Event()

    def ticker():
        waiting.wait(5)
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        waiting.set()
        began = time.monotonic()
        d.start()
        ended = time.monotonic()
    finally:
        done.set()
        t.join()
        d.stop()
    during = [x for x in ticks if began <= x <= ended]
    assert ended - began >= 0.4
    # The ticker ran all along (a held GIL would have frozen it for the whole wait).
    assert len(during) >= 10, (len(during), ended - began)


def test_start_failed_carries_the_cause_and_ready_timeout_the_log_tail():
    bad = proctor.Daemon("nope", ["/nonexistent/program"], restart="no")
    with pytest.raises(proctor.StartFailed) as e:
        bad.start()
    assert "nonexistent" in e.value.cause
    assert not bad.is_running()

    slow = proctor.Daemon("never", ["sh", "-c", "echo still booting; exec sleep 1000"],
                          ready=proctor.Probe.log("will never appear", interval=0.02, deadline=0.5))
    with pytest.raises(proctor.ReadyTimeout) as e:
        slow.start()
    assert e.value.waited >= 0.4
    assert "still booting" in e.value.log_tail
    assert not slow.is_running()


def test_from_spec_and_spec_errors_with_positions(tmp_path, home):
    spec = tmp_path / "proctor.toml"
    spec.write_text(textwrap.dedent("""
        [service.web]
        command = ["sh", "-c", "echo up and running; exec sleep 1000"]
        ready = { log = "up and running", interval = "20ms" }
    """))
    d = proctor.Daemon.from_spec(spec, "web", state_dir=home / "st")
    with d:
        assert d.get_status().state == "running"
    with pytest.raises(proctor.UnknownService):
        proctor.Daemon.from_spec(spec, "db")
    spec.write_text('[service.web]\ncommand = ["x"]\nrestart = "sometimes"\n')
    with pytest.raises(proctor.SpecError) as e:
        proctor.Daemon.from_spec(spec, "web")
    item = e.value.errors[0]
    assert item.file.endswith("proctor.toml") and item.line == 3 and item.col > 0
    assert "restart" in item.message or "sometimes" in item.message


def test_detach_and_attach_in_process():
    d = sleeper("det")
    d.start()
    pid = d.pid
    d.detach()
    assert "detached" in repr(d)
    assert pid_alive(pid)
    other = sleeper("det")
    other.attach()
    assert other.pid == pid
    other.stop()
    assert not pid_alive(pid)


def test_process_supervisor_keeps_a_detached_daemon_after_its_program_exits():
    script = textwrap.dedent("""
        import proctor
        d = proctor.Daemon("bg", ["sh", "-c", "echo up and running; exec sleep 1000"],
                           ready=proctor.Probe.log("up and running", interval=0.02),
                           supervisor="process")
        d.start()
        print(d.pid, flush=True)
        d.detach()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[0])
    assert pid_alive(pid)
    d = sleeper("bg")
    d.attach()
    assert d.pid == pid
    d.stop()
    assert not pid_alive(pid)


def test_async_twins():
    async def main():
        d = sleeper("aio")
        async with d:
            s = await d.get_status_async()
            assert s.state == "running"

            async def call():
                return "answer"

            assert await d.call_with_recovery_async(call) == "answer"
        assert not d.is_running()
        await d.start_async()
        await d.ensure_running_async()
        await d.stop_async()
        assert not d.is_running()

    asyncio.run(main())


def test_a_daemon_left_running_is_stopped_when_the_interpreter_exits():
    script = textwrap.dedent("""
        import proctor
        d = proctor.Daemon("left", ["sh", "-c", "echo up and running; exec sleep 1000"],
                           ready=proctor.Probe.log("up and running", interval=0.02))
        d.start()
        print(d.pid, flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not pid_alive(int(out.stdout.split()[0]))

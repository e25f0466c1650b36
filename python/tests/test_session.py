"""proctor.SessionManager and auto_detect_backend with real tmux and podman."""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest

import proctor
from conftest import IMAGE, podman_missing, require, wait_for

BUSYBOX_LOOP = "echo session up; while true; do sleep 1; done"


def need_tmux():
    require("tmux", None if shutil.which("tmux") else "tmux is not on PATH")


def need_podman():
    require("podman and its test image", podman_missing())


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}"


def test_from_config_runs_a_tmux_and_a_container_session(tmp_path):
    need_tmux()
    need_podman()
    web, box = unique("pyweb"), unique("pybox")
    config = tmp_path / "ops.yml"
    config.write_text(textwrap.dedent(f"""
        ops:
          default_backend: tmux
          tmux_binary: tmux
          container_runtime: podman
          sessions:
            {web}:
              command: "sh -c 'echo hello from tmux; exec sleep 1000'"
              env: {{GREETING: hi}}
            {box}:
              backend: container
              image: {IMAGE}
              command: ["sh", "-c", "{BUSYBOX_LOOP}"]
    """))
    t = proctor.SessionManager.from_config(web, config)
    c = proctor.SessionManager.from_config(box, config)
    assert (t.backend, c.backend) == ("tmux", "container")
    with pytest.raises(proctor.ProctorError, match="no session"):
        proctor.SessionManager.from_config("absent", config)
    try:
        assert not t.exists() and not c.exists()
        t.start()
        c.start()
        assert t.is_running() and c.is_running()
        # Without a ready probe a container session is started once its runtime is: the
        # container itself appears a moment later.
        wait_for("the container", c.exists)
        assert t.exists()
        st = t.status()
        assert st.exists and st.state == "running" and st.found[0]["backend"] == "tmux"
        assert c.status().found[0]["runtime"] == "podman"
        wait_for("the tmux output", lambda: "hello from tmux" in t.logs(10))
        wait_for("the container output", lambda: "session up" in c.logs(10))
        assert proctor.auto_detect_backend(web, state_dir=t.state_dir) == "tmux"
        assert proctor.auto_detect_backend(box, state_dir=c.state_dir) == "container"
    finally:
        t.stop(timeout=2)
        c.stop(graceful=False)
    assert not t.exists() and not t.is_running()
    assert not c.exists() and not c.is_running()
    assert proctor.auto_detect_backend(web, state_dir=t.state_dir) is None


def test_a_name_in_tmux_and_a_container_is_ambiguous(home):
    need_tmux()
    need_podman()
    name = unique("pyamb")
    t = proctor.SessionManager(name, "tmux", "sleep 1000")
    c = proctor.SessionManager(name, "container", ["sh", "-c", BUSYBOX_LOOP], image=IMAGE,
                               container_runtime="podman", state_dir=str(home / "c"))
    try:
        t.start()
        c.start()
        wait_for("the container", c.exists)
        with pytest.raises(proctor.AmbiguousBackend) as e:
            proctor.auto_detect_backend(name, state_dir=t.state_dir)
        assert {f["backend"] for f in e.value.found} == {"tmux", "container"}
        assert isinstance(e.value, proctor.BackendError)
    finally:
        t.stop(timeout=2)
        c.stop(graceful=False)


def test_a_tmux_session_restarts_with_another_command_and_attach_needs_a_session():
    need_tmux()
    s = proctor.SessionManager(unique("pyrs"), "tmux", "sh -c 'echo first; exec sleep 1000'")
    with s:
        wait_for("first", lambda: "first" in s.logs())
        s.start("sh -c 'echo second; exec sleep 1000'")
        wait_for("second", lambda: "second" in s.logs())
        assert s.is_running()
    with pytest.raises(proctor.NotRunning):
        s.attach()


def test_a_process_session():
    s = proctor.SessionManager("pyproc", "process", ["sh", "-c", "echo proc; exec sleep 1000"],
                               ready=proctor.Probe.log("proc", interval=0.02))
    s.start()
    try:
        assert s.exists() and s.is_running() and s.logs() == ["proc"]
        with pytest.raises(proctor.BackendError):
            s.attach()
    finally:
        s.stop()
    assert not s.exists()


def test_a_detached_tmux_session_is_taken_back_by_a_later_program(tmp_path):
    need_tmux()
    import subprocess
    import sys

    name = unique("pylater")
    script = textwrap.dedent(f"""
        import proctor
        s = proctor.SessionManager({name!r}, "tmux", "sh -c 'echo later; exec sleep 1000'",
                                   supervisor="process")
        s.start()
        print(s.status().pid, flush=True)
        s.detach()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[0])
    s = proctor.SessionManager(name, "tmux", "sh -c 'echo later; exec sleep 1000'")
    assert s.is_running() and s.exists()
    assert s.status().pid == pid
    s.start()  # idempotent: already running
    assert s.status().pid == pid
    s.stop(timeout=2)
    assert not s.exists() and not s.is_running()

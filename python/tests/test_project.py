"""proctor.Project: a proctor.toml project's supervisor, driven from Python."""

from __future__ import annotations

import os
import textwrap

import pytest

import proctor
from conftest import pid_alive, wait_for

SPEC = """
[project]
name = "pyproj"
roles = ["master", "worker"]

[service.api]
command = ["sh", "-c", "echo api up; exec sleep 1000"]
ready = {{ log = "api up", interval = "20ms" }}
autostart = ["master"]

[service.job]
command = ["sh", "-c", "echo job up; exec sleep 1000"]
ready = {{ log = "job up", interval = "20ms" }}
autostart = ["master", "worker"]
depends_on = ["api"]
"""


@pytest.fixture
def project(tmp_path, home, monkeypatch):
    monkeypatch.setenv("PROCTOR_HOME", str(home / "p"))
    spec = tmp_path / "proctor.toml"
    spec.write_text(textwrap.dedent(SPEC.format()))
    p = proctor.Project(spec)
    yield p
    p.down(timeout=2)


def states(p):
    return {s["name"]: s["state"] for s in p.status()}


def test_up_by_role_status_stop_start_restart_wait_down(project):
    assert project.services == ["api", "job"]
    assert not project.is_up()
    with pytest.raises(proctor.NotRunning):
        project.status()
    project.up(role="worker")
    # job depends on api, so both run.
    assert states(project) == {"api": "running", "job": "running"}
    pids = {s["name"]: s["pid"] for s in project.status()}
    project.stop("job")
    assert states(project)["job"] == "stopped"
    assert not pid_alive(pids["job"])
    project.start(["job"])
    project.wait(["job", "api"], timeout=10)
    project.restart("api")
    after = {s["name"]: s["pid"] for s in project.status()}
    assert after["api"] != pids["api"]
    assert project.down() is True
    assert not project.is_up()
    assert not any(pid_alive(p) for p in after.values() if p)
    assert project.down() is False


def test_up_with_an_unknown_role_and_a_failing_service(project, tmp_path):
    with pytest.raises(proctor.ProctorError, match="unknown role"):
        project.up(role="nobody")
    bad = tmp_path / "bad" / "proctor.toml"
    bad.parent.mkdir()
    bad.write_text('[service.x]\ncommand = ["/nonexistent/x"]\nrestart = "no"\n')
    p = proctor.Project(bad)
    try:
        with pytest.raises(proctor.StartFailed) as e:
            p.up()
        assert e.value.name == "x"
    finally:
        p.down()


def test_a_bad_spec_lists_every_error_with_its_position(tmp_path):
    spec = tmp_path / "proctor.toml"
    spec.write_text('[service.a]\ncommand = "x"\nrestart = "sometimes"\n[service.b]\nbogus = 1\ncommand = ["y"]\n')
    with pytest.raises(proctor.SpecError) as e:
        proctor.Project(spec)
    lines = sorted(err.line for err in e.value.errors)
    assert len(lines) >= 2 and 3 in lines and 5 in lines
    assert all(str(err).startswith(str(spec)) for err in e.value.errors)


def test_install_renders_a_systemd_unit_running_proctor_up(project, tmp_path):
    exe = tmp_path / "proctor"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    out = project.install(role="worker", target="systemd", exe=str(exe), print_only=True)
    text = out["text"]
    assert "[Service]" in text and str(exe) in text and "--role" in text and "worker" in text


def test_wait_past_its_timeout_is_a_ready_timeout_and_logs_read_the_files(tmp_path, home, monkeypatch):
    monkeypatch.setenv("PROCTOR_HOME", str(home / "slow"))
    spec = tmp_path / "slow" / "proctor.toml"
    spec.parent.mkdir()
    spec.write_text(textwrap.dedent("""
        [service.slow]
        command = ["sh", "-c", "echo booting; exec sleep 1000"]
        ready = { log = "never printed", interval = "20ms", deadline = "1h" }
        autostart = false
    """))
    p = proctor.Project(spec)
    try:
        with pytest.raises(proctor.ReadyTimeout) as e:
            p.start("slow", timeout=0.5)
        assert e.value.waited == pytest.approx(0.5, abs=0.2)
        with pytest.raises(proctor.ReadyTimeout):
            p.wait(["slow"], timeout=0.3)
        wait_for("the log line", lambda: p.logs("slow") == ["booting"])
    finally:
        p.down(timeout=1)
    # After the stop, proctor's own note of how it ended.
    assert p.logs("slow") == ["booting", "proctor: killed by SIGTERM"]

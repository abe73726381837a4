"""`trust-coach service`: the systemd user unit it writes is one systemd itself accepts, a dry
run writes nothing, and install / uninstall work without a systemd user session (as in this
container, or over `sudo -u`): the file is written or removed and one line says what to run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from voice.service import BACKOFF_SINCE, UnitSpec, systemd_version, unit_text

SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"
TRUST_COACH = Path(sys.executable).parent / "trust-coach"
ENABLE = ("systemctl --user daemon-reload && systemctl --user enable --now "
          "trust-coach.service")


def _no_user_session(home: Path) -> dict[str, str]:
    """An environment whose `systemctl --user` reaches no user manager, whatever the machine:
    nothing is ever enabled for real by a test."""
    runtime = home / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {"XDG_CONFIG_HOME": str(home / "config"), "XDG_RUNTIME_DIR": str(runtime),
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime}/no-bus"}


def _unit(home: Path) -> Path:
    return home / "config" / "systemd" / "user" / "trust-coach.service"


def _verify(unit: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """systemd's own check of a user unit (warnings on stderr, e.g. unknown keys)."""
    return subprocess.run([SYSTEMD_ANALYZE, "--user", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, **_no_user_session(home)})


needs_systemd_analyze = pytest.mark.skipif(not Path(SYSTEMD_ANALYZE).exists(),
                                           reason="systemd-analyze is not installed")


@needs_systemd_analyze
def test_the_installed_unit_passes_systemd_analyze_verify(tmp_path):
    result = run_cli("service", "install", env=_no_user_session(tmp_path))
    unit = _unit(tmp_path)
    assert unit.is_file(), result.stderr
    text = unit.read_text()
    assert f"ExecStart={TRUST_COACH} listen\n" in text
    for line in ("Restart=on-failure", "StandardOutput=null", "StandardError=journal",
                 "SyslogIdentifier=trust-coach", "Environment=PYTHONUNBUFFERED=1",
                 "WantedBy=default.target", "StartLimitBurst=", "StartLimitIntervalSec=",
                 "RestartSec="):
        assert line in text
    assert "sound.target" in next(line for line in text.splitlines()
                                  if line.startswith("After="))
    verified = _verify(unit, tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == ""  # not even a warning about an unknown key


@needs_systemd_analyze
def test_listen_options_pass_through_quoted_as_systemd_reads_them(tmp_path):
    result = run_cli("service", "install", "--", "--engine", "pocketsphinx", "--device",
                     "USB 50% mic", env=_no_user_session(tmp_path))
    text = _unit(tmp_path).read_text()
    assert f'ExecStart={TRUST_COACH} listen --engine pocketsphinx --device "USB 50%% mic"' \
        in text, result.stderr
    verified = _verify(_unit(tmp_path), tmp_path)
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr


def test_back_off_only_for_a_systemd_that_understands_it():
    """RestartSteps= / RestartMaxDelaySec= came with systemd 254; bookworm has 252."""
    old = unit_text(UnitSpec(TRUST_COACH, systemd_version=252))
    new = unit_text(UnitSpec(TRUST_COACH, systemd_version=BACKOFF_SINCE))
    unknown = unit_text(UnitSpec(TRUST_COACH, systemd_version=None))
    assert "RestartSteps=" not in old and "RestartMaxDelaySec=" not in old
    assert "RestartSteps=" not in unknown
    assert "RestartSteps=" in new and "RestartMaxDelaySec=" in new
    assert "RestartSec=" in old and "RestartSec=" in new


def test_sound_servers_are_wanted_only_when_the_machine_has_them():
    with_pipewire = unit_text(UnitSpec(TRUST_COACH, sound_servers=("pipewire.service",
                                                                   "pipewire-pulse.service")))
    assert "After=pipewire.service pipewire-pulse.service sound.target\n" in with_pipewire
    assert "Wants=pipewire.service pipewire-pulse.service\n" in with_pipewire
    plain = unit_text(UnitSpec(TRUST_COACH))
    assert "After=sound.target\n" in plain and "Wants=" not in plain


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="no systemctl here")
def test_the_version_is_read_from_systemctl():
    shown = subprocess.run(["systemctl", "--version"], capture_output=True, text=True,
                           check=True).stdout
    assert systemd_version() == int(shown.split()[1])


def test_dry_run_prints_the_unit_and_writes_nothing(tmp_path):
    result = run_cli("service", "install", "--dry-run", env=_no_user_session(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Written by `trust-coach service install`")
    assert f"ExecStart={TRUST_COACH} listen\n" in result.stdout
    assert "[Install]\nWantedBy=default.target\n" in result.stdout
    assert not (tmp_path / "config").exists()
    assert "dry run: nothing written" in result.stderr


def test_install_status_uninstall_round_trip_without_a_user_session(tmp_path):
    env = _no_user_session(tmp_path)
    unit = _unit(tmp_path)

    installed = run_cli("service", "install", env=env)
    assert installed.returncode == 1
    assert unit.is_file()
    assert installed.stdout.startswith(f"wrote {unit}\n")
    assert "loginctl enable-linger" in installed.stdout
    line = installed.stderr.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith("trust-coach: the unit is written but not enabled (")
    assert line.endswith(f"run: {ENABLE}")
    assert (unit.stat().st_mode & 0o777) == 0o644
    assert not list(unit.parent.glob(".*.tmp"))  # written in one step, nothing left beside it

    again = run_cli("service", "install", env=env)
    assert again.stdout.startswith(f"updated {unit}\n")

    status = run_cli("service", "status", env=env)
    assert status.returncode == 1
    assert status.stdout.startswith(f"unit file: {unit}")
    assert "systemctl --user status trust-coach.service" in status.stderr

    # what `systemctl --user enable` would have made: uninstall removes it as well
    link = unit.parent / "default.target.wants" / "trust-coach.service"
    link.parent.mkdir()
    link.symlink_to(unit)
    removed = run_cli("service", "uninstall", env=env)
    assert not unit.exists() and not link.is_symlink()
    assert removed.stdout.startswith(f"removed {unit}")
    assert removed.returncode == 1
    assert len(removed.stderr.strip().splitlines()) == 1
    assert "systemctl --user stop trust-coach.service" in removed.stderr

    nothing = run_cli("service", "uninstall", env=env)
    assert nothing.returncode == 0
    assert "not installed" in nothing.stdout
    not_installed = run_cli("service", "status", env=env)
    assert not_installed.returncode == 1
    assert "trust-coach service install" in not_installed.stdout


@pytest.mark.parametrize(("arguments", "message"), [
    (("service", "status", "--dry-run"), "service: --dry-run goes with install only"),
    (("service", "install", "--", "--engine", "nope"),
     "service install: options for listen: argument --engine: invalid choice: 'nope'"),
    (("service", "restart"), "argument action: invalid choice: 'restart'"),
])
def test_bad_usage_is_one_line_and_exit_2(tmp_path, arguments, message):
    result = run_cli(*arguments, env=_no_user_session(tmp_path))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not (tmp_path / "config").exists()

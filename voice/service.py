"""Running `trust-coach listen` as a systemd *user* service: the unit file's text, where it
goes, and the systemctl calls that enable and remove it.

A user unit (not a system one) because the sound system (PipeWire, or ALSA's per-user
configuration) and the settings file belong to the person, and no root is needed. The unit is
written for the systemd that is there: RestartSteps= and RestartMaxDelaySec= (an increasing
back-off) exist only since systemd 254, and Raspberry Pi OS bookworm has 252.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from common.errors import TrustCoachError

UNIT_NAME = "trust-coach.service"
BACKOFF_SINCE = 254  # systemd version that understands RestartSteps= / RestartMaxDelaySec=
RESTART_SECONDS = 5  # the first restart's delay
RESTART_STEPS = 5  # ... growing in this many steps (systemd >= 254) ...
RESTART_MAX_SECONDS = 300  # ... up to this
# A crash loop stops: at most this many starts within this many seconds, then systemd gives
# up until `systemctl --user restart trust-coach` (or the next boot).
START_LIMIT_BURST = 5
START_LIMIT_SECONDS = 600
SYSTEMCTL_TIMEOUT = 30.0  # seconds for one systemctl call
# Sound servers a user unit may start after, when the machine has them (Raspberry Pi OS with
# a desktop runs PipeWire; Lite has plain ALSA, and then only sound.target is there).
SOUND_SERVERS = ("pipewire.service", "pipewire-pulse.service")
USER_UNIT_DIRS = (Path("/usr/lib/systemd/user"), Path("/lib/systemd/user"),
                  Path("/etc/systemd/user"), Path("/usr/local/lib/systemd/user"))
# Settings that move files somewhere else: the service must see what the command line saw.
PASSED_ENVIRONMENT = ("TRUST_COACH_SETTINGS", "TRUST_COACH_MODELS", "TRUST_COACH_MODEL",
                      "TRUST_COACH_STATE")


class ServiceError(TrustCoachError):
    """Something the service commands cannot do, in one line (exit 1)."""


@dataclass(frozen=True, slots=True)
class UnitSpec:
    executable: Path  # this installation's trust-coach
    listen_args: tuple[str, ...] = ()  # extra arguments for `listen`
    systemd_version: int | None = None  # None: unknown, so only what 252 understands
    sound_servers: tuple[str, ...] = ()  # those of SOUND_SERVERS this machine has
    environment: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Systemctl:
    """The result of one `systemctl --user` call."""

    ok: bool
    returncode: int | None  # None: systemctl could not be run at all
    output: str  # stdout and stderr, as printed


# --- where things are -------------------------------------------------------------------------


def unit_dir() -> Path:
    """$XDG_CONFIG_HOME/systemd/user, where systemd looks for a person's own units."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def unit_path() -> Path:
    return unit_dir() / UNIT_NAME


def wants_link() -> Path:
    """The symlink `systemctl --user enable` makes for WantedBy=default.target."""
    return unit_dir() / "default.target.wants" / UNIT_NAME


def find_executable() -> Path:
    """This installation's trust-coach: beside the running Python (a venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "trust-coach"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside.absolute()
    found = shutil.which("trust-coach")
    if found is None:
        raise ServiceError("cannot find the trust-coach program (not beside "
                           f"{sys.executable}, not on PATH); install it: pip install -e .")
    return Path(found).absolute()


def systemd_version() -> int | None:
    """The major version from `systemctl --version` ("systemd 252 (252.38-1~deb12u1)")."""
    program = shutil.which("systemctl")
    if program is None:
        return None
    try:
        done = subprocess.run([program, "--version"], capture_output=True, text=True,
                              timeout=SYSTEMCTL_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"systemd (\d+)", done.stdout)
    return int(found.group(1)) if found else None


def installed_sound_servers() -> tuple[str, ...]:
    return tuple(name for name in SOUND_SERVERS
                 if any((folder / name).exists() for folder in USER_UNIT_DIRS))


def current_spec(listen_args: tuple[str, ...] = ()) -> UnitSpec:
    environment = tuple((name, os.environ[name]) for name in PASSED_ENVIRONMENT
                        if os.environ.get(name))
    return UnitSpec(find_executable(), listen_args, systemd_version(),
                    installed_sound_servers(), environment)


# --- the unit ---------------------------------------------------------------------------------


def unit_text(spec: UnitSpec) -> str:
    after = " ".join((*spec.sound_servers, "sound.target"))
    command = " ".join(_quote(str(part))
                       for part in (spec.executable, "listen", *spec.listen_args))
    lines = [
        "# Written by `trust-coach service install`; `trust-coach service uninstall` removes it.",
        "[Unit]",
        "Description=trust-coach, an offline voice companion (listening on the microphone)",
        f"After={after}",
    ]
    if spec.sound_servers:
        lines.append(f"Wants={' '.join(spec.sound_servers)}")
    lines += [
        f"StartLimitIntervalSec={START_LIMIT_SECONDS}",
        f"StartLimitBurst={START_LIMIT_BURST}",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={command}",
        "Restart=on-failure",
        f"RestartSec={RESTART_SECONDS}",
    ]
    if spec.systemd_version is not None and spec.systemd_version >= BACKOFF_SINCE:
        lines += [f"RestartSteps={RESTART_STEPS}", f"RestartMaxDelaySec={RESTART_MAX_SECONDS}"]
    lines.append("Environment=PYTHONUNBUFFERED=1")  # log lines reach the journal at once
    lines += [f"Environment={_quote(f'{name}={value}')}" for name, value in spec.environment]
    lines += [
        # What was heard and answered goes to standard output: kept off the journal (on disk)
        # unless the person asks for it. Errors and notices still reach it.
        "StandardOutput=null",
        "StandardError=journal",
        "SyslogIdentifier=trust-coach",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def _quote(word: str) -> str:
    """One word of a systemd command line: % and $ are systemd's own specifiers and variables,
    so they are doubled; a word with spaces or quotes is put in double quotes."""
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not re.search(r"[\s\"'\\;]", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- systemctl --------------------------------------------------------------------------------


def systemctl(*arguments: str) -> Systemctl:
    program = shutil.which("systemctl")
    if program is None:
        return Systemctl(False, None, "systemctl not found (this system does not run systemd)")
    try:
        done = subprocess.run([program, "--user", *arguments], capture_output=True, text=True,
                              timeout=SYSTEMCTL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return Systemctl(False, None, f"systemctl --user {' '.join(arguments)} did not answer "
                         f"within {SYSTEMCTL_TIMEOUT:.0f} s")
    except OSError as error:
        return Systemctl(False, None, f"systemctl could not be run: {error}")
    output = (done.stdout + done.stderr).strip()
    return Systemctl(done.returncode == 0, done.returncode, output)


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")


def linger_enabled(user: str) -> bool:
    """Whether the user's services start at boot without a login (`loginctl enable-linger`)."""
    return Path("/var/lib/systemd/linger", user).exists()

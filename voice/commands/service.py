"""`trust-coach service install|status|uninstall`: `listen` as a systemd user service that
starts at login (or at boot, with lingering), restarts after a failure and logs to the journal.

Where systemctl or a user session is missing (a container, `sudo -u`, an ssh session without
one), install still writes the unit, and one line says what to run where there is one.
"""

from __future__ import annotations

import getpass
import os
import sys

from common.errors import EXIT_INTERNAL, EXIT_OK, UsageError
from common.files import write_text_atomically

UNIT_MODE = 0o644


def run(action: str, dry_run: bool, words: list[str]) -> int:
    dry_run, listen_args = _split(words, dry_run)
    if dry_run and action != "install":
        raise UsageError("service: --dry-run goes with install only")
    if listen_args and action != "install":
        raise UsageError("service: options for listen (after --) go with install only")
    if action == "install":
        return _install(tuple(listen_args), dry_run)
    if action == "status":
        return _status()
    return _uninstall()


def _split(words: list[str], dry_run: bool) -> tuple[bool, list[str]]:
    """What follows the action: --dry-run, then `--` and the options for listen. (argparse
    drops a `--` that directly follows the action, so without one, words other than
    --dry-run are all listen's; listen's own parser checks them.)"""
    if "--" in words:
        cut = words.index("--")
        ours, theirs = words[:cut], words[cut + 1:]
    elif all(word == "--dry-run" for word in words):
        ours, theirs = words, []
    else:
        ours, theirs = [], words
    for word in ours:
        if word != "--dry-run":
            raise UsageError(f"service: unrecognized argument {word!r} (options for listen "
                             "go after --)")
        dry_run = True
    return dry_run, theirs


def _install(listen_args: tuple[str, ...], dry_run: bool) -> int:
    from voice import service

    _check_listen_args(listen_args)
    text = service.unit_text(service.current_spec(listen_args))
    path = service.unit_path()
    if dry_run:
        print(text, end="")
        print(f"dry run: nothing written; install would write {path}, then run systemctl "
              f"--user daemon-reload and systemctl --user enable --now {service.UNIT_NAME}",
              file=sys.stderr)
        return EXIT_OK
    existed = path.exists()
    write_text_atomically(path, text, mode=UNIT_MODE)
    print(f"{'updated' if existed else 'wrote'} {path}")
    steps = [("daemon-reload",), ("enable", "--now", service.UNIT_NAME)]
    if existed:  # already running with the old unit: start it anew with this one
        steps.append(("restart", service.UNIT_NAME))
    for step in steps:
        done = service.systemctl(*step)
        if not done.ok:
            print(f"trust-coach: the unit is written but not enabled ({_why(done)}); in a "
                  "login session on this machine run: systemctl --user daemon-reload && "
                  f"systemctl --user enable --now {service.UNIT_NAME}", file=sys.stderr)
            _linger_hint()
            return EXIT_INTERNAL
    print(f"enabled and started {service.UNIT_NAME}; its log: journalctl --user -u "
          "trust-coach -f")
    _linger_hint()
    return EXIT_OK


def _check_listen_args(listen_args: tuple[str, ...]) -> None:
    """Options that `listen` would refuse are refused now, not in a restart loop later."""
    from voice.__main__ import build_parser

    try:
        build_parser().parse_args(["listen", *listen_args])
    except UsageError as error:
        message = str(error).removeprefix("listen: ")
        raise UsageError(f"service install: options for listen: {message}") from None


def _linger_hint() -> None:
    from voice import service

    user = os.environ.get("USER") or getpass.getuser()
    if not service.linger_enabled(user):
        print(f"to start it at boot without logging in: loginctl enable-linger {user}")


def _status() -> int:
    from voice import service

    path = service.unit_path()
    if not path.exists():
        print(f"not installed ({path} does not exist); install it: trust-coach service install")
        return EXIT_INTERNAL
    print(f"unit file: {path}")
    shown = service.systemctl("status", "--no-pager", "--lines=10", service.UNIT_NAME)
    # systemctl status: 0 running, 3 stopped or failed, 4 unknown unit; anything else (or
    # nothing) means systemd could not be asked.
    if shown.returncode in (0, 3, 4):
        print(shown.output)
        return EXIT_OK if shown.ok else EXIT_INTERNAL
    print(f"trust-coach: cannot ask systemd ({_why(shown)}); in a login session run: "
          f"systemctl --user status {service.UNIT_NAME}", file=sys.stderr)
    return EXIT_INTERNAL


def _uninstall() -> int:
    from voice import service

    path, link = service.unit_path(), service.wants_link()
    if not path.exists() and not link.is_symlink():
        print(f"not installed ({path} does not exist); nothing to remove")
        return EXIT_OK
    stopped = service.systemctl("disable", "--now", service.UNIT_NAME)
    # What `disable` removes, removed here too when systemctl could not run, so nothing
    # starts it at the next login.
    if link.is_symlink():
        link.unlink()
    path.unlink(missing_ok=True)
    print(f"removed {path}")
    if not stopped.ok:
        print(f"trust-coach: removed, but could not stop it ({_why(stopped)}); if it is "
              f"running, in a login session run: systemctl --user stop {service.UNIT_NAME} "
              "&& systemctl --user daemon-reload", file=sys.stderr)
        return EXIT_INTERNAL
    reloaded = service.systemctl("daemon-reload")
    if not reloaded.ok:
        print(f"trust-coach: stopped and removed; systemctl --user daemon-reload failed "
              f"({_why(reloaded)})", file=sys.stderr)
        return EXIT_INTERNAL
    print(f"stopped and disabled {service.UNIT_NAME}")
    return EXIT_OK


def _why(done) -> str:
    from voice import service

    if done.returncode is None:
        return service.first_line(done.output)
    text = service.first_line(done.output)
    if "bus" in text.lower() or "XDG_RUNTIME_DIR" in text:
        return f"no systemd user session here: {text}"
    return f"systemctl said: {text}"

"""`trust-coach doctor`: checks the microphone, the speaker, the speech models, the voice, the
memory, the CPU and the settings file, one line each; exit 0 only when every check passes."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from common.errors import EXIT_INTERNAL, EXIT_OK, SettingsFileError, UsageError
from voice.settings import Settings, parse_device, settings_file, settings_from


def run(args: argparse.Namespace) -> int:
    from voice.doctor import LISTEN_SECONDS, all_checks

    if args.mic_rate is not None and args.mic_rate <= 0:
        raise UsageError(f"doctor: --mic-rate must be a positive number of Hz, not "
                         f"{args.mic_rate}")
    settings = _settings(args)
    problems = 0
    for check in all_checks(settings, settings_file(), before_listening=lambda: print(
            f"listening for {LISTEN_SECONDS:.0f} seconds: say something", file=sys.stderr,
            flush=True)):
        print(check.line(), flush=True)
        problems += not check.ok
    print(f"{problems} problem{'s' * (problems != 1)} found" if problems else
          "all checks passed", file=sys.stderr)
    return EXIT_INTERNAL if problems else EXIT_OK


def _settings(args: argparse.Namespace) -> Settings:
    """The settings listen would use; with a broken settings file (reported by its own check)
    the defaults and the command line, so the other checks still run."""
    try:
        return settings_from(args)
    except SettingsFileError:
        values = {name: getattr(args, name) for name in ("engine", "model", "mic_rate")
                  if getattr(args, name) is not None}
        return replace(Settings(), **values, device=parse_device(args.device),
                       output_device=parse_device(args.output_device))

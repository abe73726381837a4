"""Building the parts a command needs from the settings: content, understanding, recogniser,
voice, audio source, timers. Each part is made once and handed to what uses it; nothing is set
on an object after it is made."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from common.errors import SettingsFileError, SpeechOutputError, UsageError
from voice.settings import Settings


def print_line(line: str) -> None:
    print(line, flush=True)


def print_error(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def library(settings: Settings):
    from intents.library import DEFAULT_LIBRARY

    return _library_at(Path(settings.library_dir or DEFAULT_LIBRARY))


@functools.cache
def _library_at(directory: Path):
    """Loaded once per process: the voice, the page and the conversation all read it, and the
    content is made of frozen dataclasses."""
    from intents.library import load_library

    return load_library(directory)


def matcher(settings: Settings, content=None):
    from intents.matcher import IntentMatcher

    content = content or library(settings)
    notice = _first_run_notice
    if settings.threshold is None:
        return IntentMatcher(content, notice=notice)
    return IntentMatcher(content, settings.threshold, notice=notice)


def _first_run_notice(line: str) -> None:
    print_error(f"preparing: {line}")


def coach(settings: Settings, content=None, timers=None):
    from intents.coach import Coach

    content = content or library(settings)
    check_region(settings, content)
    running = None if timers is None else (lambda: timers.active is not None)
    return Coach(content, matcher(settings, content), settings.region, timer_running=running)


def check_region(settings: Settings, content) -> None:
    """An unknown region is named with where it came from: the settings file, or --region."""
    if settings.region in content.regions:
        return
    known = ", ".join(sorted(content.regions))
    if "region" in settings.from_file and settings.settings_path is not None:
        raise SettingsFileError(settings.settings_path, f"setting 'region': unknown region "
                                f"{settings.region!r}; choose one of {known}")
    raise UsageError(f"unknown region {settings.region!r}; choose one of {known}")


def conversation(settings: Settings, timers=None):
    from intents.conversation import Conversation

    return Conversation(coach(settings, timers=timers))


def engine(settings: Settings, content, *, adapt: bool = False):
    from voice.stt import choose_engine, load_engine

    choice = choose_engine(settings.engine, settings.model, settings.models_root)
    print_error(f"engine: {choice.name} ({choice.reason})")
    phrases = None
    if settings.grammar:
        from intents.grammar import recognition_sentences

        phrases = recognition_sentences(content)
    return load_engine(choice, restrict_to=phrases, adapt=adapt, notice=_first_run_notice)


def speaker(settings: Settings, *, speak: bool = True):
    from voice.devices import SpeakerSink
    from voice.piper_voice import choose_synthesizer
    from voice.tts import SilentSink, Speaker, WavFileSink

    if settings.text_only or not speak:
        return Speaker(None, SilentSink())
    try:
        # Piper's voice loads here, once, before anything listens (about a second).
        synthesizer = choose_synthesizer(settings.speech_rate, settings.voice,
                                         notice=print_error)
    except SpeechOutputError as error:  # no text-to-speech on this machine: print instead
        print_error(f"error: {error}; replies will be printed only")
        synthesizer = None
    if hasattr(synthesizer, "prepare_in_background") and not settings.output_path:
        # Only for a speaker, where how soon a reply sounds matters (not for a WAV file).
        synthesizer.prepare_in_background(replies_to_prepare(settings))
    # Made after the voice is found: an unknown --voice leaves no output file behind.
    if settings.output_path:
        sink = WavFileSink(settings.output_path)
    else:
        from voice.resilience import ResilientSink

        sink = ResilientSink(SpeakerSink(settings.output_device), notice=print_error)
    return Speaker(synthesizer, sink)


def replies_to_prepare(settings: Settings) -> list[str]:
    """What the coach may say first, as it is spoken: the natural voice makes the first
    sentence of each once, on a worker, so that later a reply starts to sound at once."""
    from intents.library import spoken_text

    content = library(settings)
    texts = [content.lines.greeting]
    if settings.region in content.regions:  # an unknown one is reported by the coach
        texts.append(content.crisis_reply(settings.region))
    for entry in content.intents.values():
        texts += [entry.reply, *entry.follow_up]
    return [spoken_text(text) for text in texts if text.strip()]


def speech_source(settings: Settings):
    """The recording given with --input, else the microphone."""
    if settings.input_path is not None:
        from voice.listening import WavFileSource

        return WavFileSource(settings.input_path, realtime=settings.realtime)
    from voice.devices import MicrophoneSource
    from voice.resilience import ResilientSource

    return ResilientSource(MicrophoneSource(settings.device, settings.mic_rate),
                           notice=print_error)


def timers(settings: Settings):
    from voice.timers import TimerBook

    return TimerBook(settings.state_dir, report=print_error)


def wake_settings(settings: Settings):
    """The wake phrase for `listen`, or None when every utterance is for the coach: off when
    asked, and by default for a recording (it was made to be answered)."""
    from voice.wake import WakeSettings

    wanted = settings.wake if settings.wake is not None else settings.input_path is None
    return WakeSettings(settings.wake_phrase, settings.follow_up) if wanted else None


def voice_loop(settings: Settings, source, *, adapt: bool, with_timers: bool = False,
               hands_free: bool = False, on_exercise=None, on_turn=None):
    """A listening session's parts, wired: the conversation, the recogniser, the voice and
    the loop. `hands_free` (listen): with the wake phrase, unless it is off."""
    from voice.loop import VoiceLoop

    voice = speaker(settings)  # devices first: a missing speaker is said before any loading
    book = timers(settings) if with_timers else None
    talk = conversation(settings, timers=book)
    recogniser = engine(settings, talk.coach.library, adapt=adapt)
    return VoiceLoop(source, recogniser, talk, voice, out=print_line,
                     report=print_error, endpoint=settings.endpoint,
                     deaf_tail=settings.deaf_tail, denoise=settings.denoise,
                     keep_audio_dir=settings.keep_audio_dir, timers=book, tone=settings.tone,
                     count_aloud=settings.count_aloud,
                     on_exercise=on_exercise, on_turn=on_turn,  # observers (the web page)
                     wake=wake_settings(settings) if hands_free else None)

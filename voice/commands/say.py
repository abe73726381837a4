"""`trust-coach say`: speak a sentence, or list the voices."""

from __future__ import annotations

from common.errors import EXIT_INTERNAL, EXIT_OK, UsageError
from voice import wiring
from voice.settings import Settings

MAX_TEXT = 2_000  # characters: a few minutes of speech


def run(settings: Settings, text: str | None, list_voices: bool) -> int:
    if list_voices:
        _list_voices()
        return EXIT_OK
    if not text:
        raise UsageError("say: give the text to speak")
    if len(text) > MAX_TEXT:
        raise UsageError(f"say: the text is {len(text):,} characters; at most {MAX_TEXT:,} "
                         "(say it in parts)")
    speaker = wiring.speaker(settings)
    if speaker.synthesizer is None:
        speaker.abandon()
        return EXIT_INTERNAL
    try:
        speaker.say(text)
    except BaseException:
        speaker.abandon()
        raise
    speaker.close()
    return EXIT_OK


def _list_voices() -> None:
    """Piper's voices, then espeak-ng's; the one used when none is named is marked."""
    from voice.piper_voice import default_piper_voice, piper_voices
    from voice.tts import default_voice, installed_voices

    natural = default_piper_voice()
    for voice in piper_voices():
        mark = "\t(default)" if voice == natural else "" if natural else "\t(needs piper-tts)"
        print(f"{voice.language}\t{voice.name}\t(Piper {voice.model}){mark}")
    fallback = default_voice() if natural is None else None
    for voice in installed_voices():
        mark = "\t(default)" if voice == fallback else ""
        print(f"{voice.language}\t{voice.name}\t(espeak-ng {voice.identifier}){mark}")

"""`trust-coach say`: speak a sentence, or list the voices."""

from __future__ import annotations

from common.errors import EXIT_INTERNAL, EXIT_OK, UsageError
from voice import wiring
from voice.settings import Settings

MAX_TEXT = 2_000  # characters: a few minutes of speech


def run(settings: Settings, text: str | None, list_voices: bool) -> int:
    if list_voices:
        from voice.tts import installed_voices

        for voice in installed_voices():
            print(f"{voice.language}\t{voice.name}\t(espeak-ng {voice.identifier})")
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

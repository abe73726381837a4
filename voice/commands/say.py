"""`trust-coach say`: speak a sentence, or list the voices."""

from __future__ import annotations

from common.errors import EXIT_INTERNAL, EXIT_OK, UsageError
from voice import wiring
from voice.settings import Settings


def run(settings: Settings, text: str | None, list_voices: bool) -> int:
    if list_voices:
        from voice.tts import installed_voices

        for voice in installed_voices():
            print(f"{voice.language}\t{voice.name}\t(espeak-ng {voice.identifier})")
        return EXIT_OK
    if not text:
        raise UsageError("say: give the text to speak")
    speaker = wiring.speaker(settings)
    if speaker.synthesizer is None:
        return EXIT_INTERNAL
    try:
        speaker.say(text)
    finally:
        speaker.close()
    return EXIT_OK

"""Speech out: pyttsx3 (espeak-ng on Linux) renders each reply to audio, and a sink plays it on the
speaker or appends it to a WAV file.

Rendering to audio first, instead of letting pyttsx3 play it, means we know exactly when the
assistant is talking (so the loop can ignore the microphone meanwhile), the same path serves the
speaker and the WAV file, and playback goes through the one sounddevice seam.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import weakref
from pathlib import Path
from typing import Protocol

from intents.library import sentences
from voice.audio import (
    AudioChunk,
    AudioFormat,
    WavWriter,
    convert_all,
    iter_wav_chunks,
    read_wav_info,
    silence,
)
from voice.errors import AudioFileError, SpeechOutputError, TrustCoachError, UsageError

log = logging.getLogger(__name__)

DEFAULT_RATE = 165  # words per minute; espeak's 200 is brisk for someone who is upset
MIN_RATE, MAX_RATE = 90, 260
GAP_BETWEEN_REPLIES = 1.0  # seconds of silence between replies in a WAV file
SENTENCE_GAP = 0.12  # seconds between sentences, on top of espeak's own pause
FILE_WAIT = 3.0  # seconds to wait for the driver to write its file


def _silence_driver_prints() -> None:
    """pyttsx3's espeak driver prints "Audio saved to ..." on stdout, sometimes from its own
    thread after we return; our stdout carries one line per turn, so shadow its print."""
    try:
        from pyttsx3.drivers import espeak
    except ImportError:  # another platform's driver
        return
    espeak.print = lambda *args, **kwargs: None


class Synthesizer(Protocol):
    rate: int

    def synthesize(self, text: str) -> AudioChunk:
        """Text to 16-bit mono audio at the synthesizer's own sample rate."""


class Pyttsx3Synthesizer:
    def __init__(self, rate: int = DEFAULT_RATE, voice: str | None = None) -> None:
        try:
            import pyttsx3

            self._engine = pyttsx3.init()
        except Exception as error:  # pyttsx3 raises whatever its driver raises
            raise SpeechOutputError(
                f"text-to-speech unavailable ({error}); install espeak-ng") from None
        _silence_driver_prints()
        self._dir = Path(tempfile.mkdtemp(prefix="trust-coach-tts-"))
        # Removed when this object goes, even if nobody calls close().
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        self._count = 0
        # Voice and rate live in the one espeak instance every synthesizer shares, so each
        # synthesizer re-applies its own before every sentence.
        self._voice = self._find_voice(voice) if voice else _default_voice(self._engine)
        self.rate = rate

    def _set_now(self, name: str, value: object) -> None:
        """Set a voice property on the driver at once. pyttsx3 queues setProperty behind a
        busy flag its espeak driver clears from a callback, sometimes late, and then the
        change silently lands after the next sentence (seen in about half of test runs)."""
        driver = getattr(getattr(self._engine, "proxy", None), "_driver", None)
        if driver is not None and hasattr(driver, "setProperty"):
            driver.setProperty(name, value)
        else:
            self._engine.setProperty(name, value)

    @property
    def rate(self) -> int:
        return self._rate

    @rate.setter
    def rate(self, value: int) -> None:
        self._rate = max(MIN_RATE, min(MAX_RATE, int(value)))
        self._set_now("rate", self._rate)

    def voices(self) -> list[tuple[str, str]]:
        return [(v.id, v.name) for v in self._engine.getProperty("voices")]

    def _find_voice(self, wanted: str) -> str:
        lowered = wanted.lower()
        for voice_id, name in self.voices():
            if lowered in (voice_id.lower(), name.lower()):
                return voice_id
        for voice_id, name in self.voices():
            if lowered in voice_id.lower() or lowered in name.lower():
                return voice_id
        raise UsageError(f"voice {wanted!r} not found; 'trust-coach say --list-voices' "
                         "shows the installed voices")

    def synthesize(self, text: str) -> AudioChunk:
        """One sentence at a time: pyttsx3's espeak driver sometimes returns from runAndWait
        before a long, multi-sentence text is finished (about one reply in a hundred here),
        while single sentences were reliable in the same test."""
        # The espeak driver now and then hands back a sentence with no audio at all (about
        # one run in five of the TTS tests); saying it again gives it.
        parts = [self._sentence_with_audio(s) for s in sentences(text)]
        parts = [p for p in parts if p.frames]
        if not parts:
            raise SpeechOutputError(f"text-to-speech produced no audio for {text[:40]!r}")
        rate = parts[0].rate
        gap = silence(SENTENCE_GAP, AudioFormat(rate, 2, 1)).samples
        return AudioChunk(gap.join(p.samples for p in parts), rate, 2, 1)

    def _sentence_with_audio(self, sentence: str) -> AudioChunk:
        audio = self._synthesize_sentence(sentence)
        return audio if audio.frames else self._synthesize_sentence(sentence)

    def _synthesize_sentence(self, sentence: str) -> AudioChunk:
        self._count += 1
        target = self._dir / f"sentence-{self._count}.wav"
        try:
            self._set_now("voice", self._voice)
            self._set_now("rate", self._rate)  # after the voice: a voice change resets it
            self._engine.save_to_file(sentence, str(target))
            self._engine.runAndWait()
            # The driver may finish writing the file from its own thread a moment later.
            deadline = time.monotonic() + FILE_WAIT
            while not target.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not target.exists():
                raise SpeechOutputError(f"text-to-speech gave no audio for {sentence[:40]!r}")
            info = read_wav_info(target)
            return convert_all(iter_wav_chunks(target, info=info), AudioFormat(info.rate, 2, 1))
        except AudioFileError as error:
            if "contains no audio" in str(error):
                return AudioChunk(b"", 22_050, 2, 1)
            raise SpeechOutputError(f"text-to-speech failed: {error}") from None
        except (RuntimeError, OSError) as error:
            raise SpeechOutputError(f"text-to-speech failed: {error}") from None
        finally:
            target.unlink(missing_ok=True)

    def close(self) -> None:
        self._cleanup()


def _default_voice(engine) -> str:
    driver = getattr(getattr(engine, "proxy", None), "_driver", None)
    default = getattr(type(driver), "_defaultVoice", "") if driver is not None else ""
    return default or engine.getProperty("voice")


class AudioSink(Protocol):
    audible: bool  # True when the sound reaches the room (and so the microphone)

    def play(self, chunk: AudioChunk) -> None:
        """Play (or write) the chunk; return when it is done."""

    def pause(self, seconds: float) -> None:
        """Keep quiet for a while, in the sink's own timeline."""

    def close(self) -> None: ...


class WavFileSink:
    """Every reply, in order, into one WAV file (for machines without a speaker, and tests).

    `onsets` records where each played chunk starts, in seconds from the file's start. With
    `pace`, each write takes as long as the audio would take to play, as a speaker does (for a
    player reading the file as it grows); the sound then counts as heard in the room.
    """

    def __init__(self, path: Path | str, rate: int = 22_050, pace: bool = False) -> None:
        self.path = Path(path)
        self.rate = rate
        self.pace = pace
        self._writer = WavWriter(self.path, rate)  # a path we cannot write fails at once
        self.onsets: list[float] = []

    @property
    def audible(self) -> bool:
        return self.pace

    @property
    def position(self) -> float:
        return self._writer.seconds_written

    def play(self, chunk: AudioChunk) -> None:
        writer = self._writer
        if chunk.rate != self.rate or chunk.channels != 1 or chunk.width != 2:
            chunk = convert_all([chunk], _fmt(self.rate))
        self.onsets.append(writer.seconds_written)
        started = time.monotonic()
        writer.write(chunk)
        if self.pace:
            time.sleep(max(0.0, chunk.duration - (time.monotonic() - started)))

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._writer.write(silence(seconds, _fmt(self.rate)))

    def close(self) -> None:
        self._writer.close()


class SilentSink:
    """--text-only: nothing is spoken; replies are only printed."""

    audible = False

    def play(self, chunk: AudioChunk) -> None:
        pass

    def pause(self, seconds: float) -> None:
        pass

    def close(self) -> None:
        pass


def _fmt(rate: int) -> AudioFormat:
    return AudioFormat(rate, 2, 1)


class Speaker:
    """Says text through a synthesizer and a sink. Failures become `SpeechOutputError`, which
    the loop reports while printing the reply, and carries on."""

    def __init__(self, synthesizer: Synthesizer | None, sink: AudioSink) -> None:
        self.synthesizer = synthesizer
        self.sink = sink

    @property
    def audible(self) -> bool:
        return self.synthesizer is not None and self.sink.audible

    def say(self, text: str) -> float:
        """Speak; returns the seconds of audio produced."""
        if self.synthesizer is None or not text.strip():
            return 0.0
        try:
            audio = self.synthesizer.synthesize(text)
            if getattr(self.sink, "position", 0.0) > 0 and not self.sink.audible:
                # Replies in a file follow each other; leave the pause a listener would hear.
                self.sink.pause(GAP_BETWEEN_REPLIES)
            self.sink.play(audio)
        except (SpeechOutputError, AudioFileError):
            raise
        except TrustCoachError as error:  # a speaker that vanished, say
            raise SpeechOutputError(str(error)) from None
        return audio.duration

    def change_rate(self, factor: float) -> int | None:
        if self.synthesizer is None:
            return None
        self.synthesizer.rate = round(self.synthesizer.rate * factor)
        return self.synthesizer.rate

    def close(self) -> None:
        self.sink.close()
        if self.synthesizer is not None and hasattr(self.synthesizer, "close"):
            self.synthesizer.close()

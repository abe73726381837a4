"""Speech out: a synthesizer renders each reply to audio, and a sink plays it on the speaker or
appends it to a WAV file.

Rendering to audio first, instead of letting a speech engine play it, means we know exactly when
the assistant is talking (so the loop can ignore the microphone meanwhile), the same path serves
the speaker and the WAV file, and playback goes through the one sounddevice seam.

The fallback voice is espeak-ng's own command line, one process per sentence with the text on
its standard input: nothing is shared between synthesizers, a failure (even a crash of
espeak-ng) is one error for one sentence, and nothing else prints on our standard output.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from common.errors import AudioFileError, SpeechOutputError, TrustCoachError, UsageError
from intents.library import sentences
from voice.audio import AudioChunk, AudioFormat, silence
from voice.convert import convert_all
from voice.settings import DEFAULT_RATE, MAX_RATE, MIN_RATE
from voice.wav import WavWriter, parse_wav_bytes

log = logging.getLogger(__name__)

GAP_BETWEEN_REPLIES = 1.0  # seconds of silence between replies in a WAV file
SENTENCE_GAP = 0.12  # seconds between sentences, on top of the voice's own pause
ESPEAK = "espeak-ng"
ESPEAK_TIMEOUT = 20.0  # seconds for one sentence; espeak-ng takes milliseconds
LONGEST_PIECE = 40  # words given to a voice in one go
# Sentences made ahead of the one playing: enough to never keep the speaker waiting, few
# enough that a failed speaker wastes little synthesis.
SYNTHESIS_AHEAD = 2


def speakable(text: str) -> list[str]:
    """The text in pieces a voice can take in one go: its sentences, and a sentence of more
    than LONGEST_PIECE words cut at commas, else every LONGEST_PIECE words."""
    pieces: list[str] = []
    for sentence in sentences(text):
        words = sentence.split()
        if len(words) <= LONGEST_PIECE:
            pieces.append(sentence)
            continue
        clause: list[str] = []
        for word in words:
            clause.append(word)
            if len(clause) >= LONGEST_PIECE or (word.endswith((",", ";", ":"))
                                                 and len(clause) >= 8):
                pieces.append(" ".join(clause))
                clause = []
        if clause:
            pieces.append(" ".join(clause))
    return pieces


class Synthesizer(Protocol):
    name: str
    rate: int  # words per minute

    def synthesize(self, text: str) -> AudioChunk:
        """Text to 16-bit mono audio at the synthesizer's own sample rate."""

    def with_rate(self, rate: int) -> Synthesizer:
        """The same voice at another speaking rate."""


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    identifier: str  # what espeak-ng's -v takes
    language: str
    name: str


class EspeakSynthesizer:
    name = "espeak-ng"

    def __init__(self, rate: int = DEFAULT_RATE, voice: str | None = None,
                 program: str = ESPEAK) -> None:
        path = shutil.which(program)
        if path is None:
            raise SpeechOutputError(f"text-to-speech unavailable: {program} not found; "
                                    "install espeak-ng")
        self._program = path
        self.rate = max(MIN_RATE, min(MAX_RATE, int(rate)))
        self.voice = find_voice(voice, self._program) if voice else default_voice(self._program)

    def with_rate(self, rate: int) -> EspeakSynthesizer:
        return EspeakSynthesizer(rate, self.voice.identifier, self._program)

    def synthesize(self, text: str) -> AudioChunk:
        """Sentence by sentence, joined with a short pause."""
        parts = [self._sentence(s) for s in speakable(text)]
        parts = [p for p in parts if p.frames]
        if not parts:
            raise SpeechOutputError(f"text-to-speech produced no audio for {text[:40]!r}")
        rate = parts[0].rate
        gap = silence(SENTENCE_GAP, AudioFormat(rate, 2, 1)).samples
        return AudioChunk(gap.join(p.samples for p in parts), rate, 2, 1)

    def _sentence(self, sentence: str) -> AudioChunk:
        command = [self._program, "-v", self.voice.identifier, "-s", str(self.rate), "--stdout"]
        try:
            done = subprocess.run(command, input=sentence.encode("utf-8"), capture_output=True,
                                  timeout=ESPEAK_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SpeechOutputError(f"text-to-speech failed: {error}") from None
        if done.returncode != 0 or not done.stdout:
            problem = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            raise SpeechOutputError(f"text-to-speech failed for {sentence[:40]!r}: {problem}")
        try:
            audio = parse_wav_bytes(done.stdout, f"<{ESPEAK} output>")
        except AudioFileError as error:
            if "contains no audio" in str(error):
                return AudioChunk(b"", 22_050, 2, 1)  # punctuation alone, say
            raise SpeechOutputError(f"text-to-speech failed: {error}") from None
        return convert_all([audio], AudioFormat(audio.rate, 2, 1))


@functools.cache
def installed_voices(program: str = ESPEAK) -> tuple[VoiceInfo, ...]:
    """espeak-ng's voices (MBROLA ones need voice files that are rarely installed: left out)."""
    try:
        done = subprocess.run([shutil.which(program) or program, "--voices"],
                              capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError) as error:
        raise SpeechOutputError(f"cannot list espeak-ng voices: {error}") from None
    found = []
    for line in done.stdout.splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5 and not columns[4].startswith("mb/"):
            found.append(VoiceInfo(columns[4], columns[1], columns[3].replace("_", " ")))
    return tuple(found)


def find_voice(wanted: str, program: str = ESPEAK) -> VoiceInfo:
    """A voice by its language code ("en-us"), its name ("English (America)") or its file id;
    then by part of a name."""
    lowered = wanted.lower().replace("_", " ")
    voices = installed_voices(program)
    for voice in voices:
        if lowered in (voice.language, voice.name.lower(), voice.identifier.lower()):
            return voice
    for voice in voices:
        if lowered in voice.name.lower():
            return voice
    raise UsageError(f"voice {wanted!r} not found; 'trust-coach say --list-voices' shows the "
                     "installed voices")


def default_voice(program: str = ESPEAK) -> VoiceInfo:
    try:
        return find_voice("en-us", program)
    except UsageError:
        return VoiceInfo("en", "en", "English")


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
        # Written beside the target and renamed into place by close(); abandon() (a failure)
        # removes it: nobody ever finds half a file.
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part",
                                            dir=self.path.parent)
            os.close(handle)
        except OSError as error:
            raise AudioFileError(self.path, f"cannot write: {error.strerror or error}") from None
        self._temporary = Path(name)
        self._writer = WavWriter(self._temporary, rate)  # a path we cannot write fails at once
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
            chunk = convert_all([chunk], AudioFormat(self.rate, 2, 1))
        self.onsets.append(writer.seconds_written)
        started = time.monotonic()
        writer.write(chunk)
        if self.pace:
            time.sleep(max(0.0, chunk.duration - (time.monotonic() - started)))

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            # At least one frame: a wait shorter than half a frame must still move the file
            # on, or a clock that waits by pausing (SinkClock) never reaches its moment.
            self._writer.write(silence(max(seconds, 1 / self.rate), AudioFormat(self.rate, 2, 1)))

    def close(self) -> None:
        """The file is complete: put it in place."""
        self._writer.close()
        if self._temporary.exists():
            self._temporary.replace(self.path)

    def abandon(self) -> None:
        """Something failed: leave no file."""
        self._writer.close()
        self._temporary.unlink(missing_ok=True)


class SilentSink:
    """--text-only: nothing is spoken; replies are only printed."""

    audible = False

    def play(self, chunk: AudioChunk) -> None:
        pass

    def pause(self, seconds: float) -> None:
        pass

    def close(self) -> None:
        pass

    def abandon(self) -> None:
        pass


def _followed_by_pause(audio: AudioChunk, seconds: float) -> AudioChunk:
    pause = silence(seconds, AudioFormat(audio.rate, audio.width, audio.channels))
    return AudioChunk(audio.samples + pause.samples, audio.rate, audio.width, audio.channels)


def _synthesize_ahead(synthesizer: Synthesizer, pieces: list[str],
                      made: queue.Queue[AudioChunk | BaseException],
                      done: threading.Event) -> None:
    """The Speaker's worker: each piece's audio (or the error making it) in order, until the
    pieces run out, an error, or the Speaker is done listening."""
    for piece in pieces:
        try:
            result: AudioChunk | BaseException = synthesizer.synthesize(piece)
        except BaseException as error:  # handed over, raised where say() was called
            result = error
        while not done.is_set():
            try:
                made.put(result, timeout=0.05)
                break
            except queue.Full:
                continue
        if done.is_set() or isinstance(result, BaseException):
            return


class Speaker:
    """Says text through a synthesizer and a sink. Failures become `SpeechOutputError`, which
    the front end reports while printing the reply, and carries on."""

    def __init__(self, synthesizer: Synthesizer | None, sink: AudioSink) -> None:
        self._synthesizer = synthesizer
        self.sink = sink

    @property
    def synthesizer(self) -> Synthesizer | None:
        return self._synthesizer

    @property
    def audible(self) -> bool:
        return self._synthesizer is not None and self.sink.audible

    def say(self, text: str) -> float:
        """Speak, sentence by sentence: the first plays as soon as it is made, while a worker
        makes the next ones (at most SYNTHESIS_AHEAD ahead), in order. Returns the seconds of
        audio produced."""
        synthesizer = self._synthesizer
        said = speakable(text)
        if synthesizer is None or not said:
            return 0.0
        if getattr(self.sink, "position", 0.0) > 0 and not self.sink.audible:
            # Replies in a file follow each other; leave the pause a listener would hear.
            self.sink.pause(GAP_BETWEEN_REPLIES)
        made: queue.Queue[AudioChunk | BaseException] = queue.Queue(SYNTHESIS_AHEAD)
        done = threading.Event()
        worker = threading.Thread(target=_synthesize_ahead, name="synthesis", daemon=True,
                                  args=(synthesizer, said, made, done))
        worker.start()
        seconds = 0.0
        try:
            for index in range(len(said)):
                audio = made.get()
                if isinstance(audio, BaseException):
                    raise audio
                if index + 1 < len(said):
                    audio = _followed_by_pause(audio, SENTENCE_GAP)
                self._play(audio)
                seconds += audio.duration
        finally:
            done.set()  # a failure to play: the worker stops after the sentence in hand
            worker.join()
        return seconds

    def _play(self, audio: AudioChunk) -> None:
        try:
            self.sink.play(audio)
        except (SpeechOutputError, AudioFileError):
            raise
        except TrustCoachError as error:  # a speaker that vanished, say
            raise SpeechOutputError(str(error)) from None

    def change_rate(self, factor: float) -> int | None:
        """"Slower" or "faster": the same voice at the new rate from the next reply on."""
        if self._synthesizer is None:
            return None
        self._synthesizer = self._synthesizer.with_rate(round(self._synthesizer.rate * factor))
        return self._synthesizer.rate

    def close(self) -> None:
        self._stop_voice()
        self.sink.close()

    def abandon(self) -> None:
        """Something failed: a reply file is not kept."""
        self._stop_voice()
        getattr(self.sink, "abandon", self.sink.close)()

    def _stop_voice(self) -> None:
        """A voice preparing sentences on a worker stops before the program ends (a native
        library's thread cut off at exit aborts the process)."""
        if (stop := getattr(self._synthesizer, "close", None)) is not None:
            stop()

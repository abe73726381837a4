"""Hearing: from a stream of audio chunks to transcripts, one path for everything.

`UtteranceListener` is fed 16 kHz mono chunks and does the work in order: speech detection on the
raw audio, noise suppression for the recogniser, one engine session per utterance, and the
transcript when speech ends. The live loop, `listen --input`, `understand` and the benchmark all
hear through it (`transcribe_recording` feeds a whole file), so what is measured is what runs.

`ListeningWorker` runs it off the front end's thread: the source's own thread (microphone
callback or file reader) puts chunks on a bounded queue; the listening thread converts them at
the edge, listens, and puts what it heard on the front end's queue. Recognising an utterance may
take a second; the front end, which keeps time for breathing cues, never waits for it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from common.errors import TrustCoachError
from common.files import atomic_path
from common.transcript import Transcript
from intents.normalize import normalize
from voice.audio import AudioChunk
from voice.convert import AudioChunkConverter
from voice.denoise import LAG, CleanTrack
from voice.endpoint import SpeechAudio, SpeechEnded, SpeechStarted, UtteranceSegmenter
from voice.settings import EndpointSettings
from voice.stt import SpeechEngine, SpeechSession
from voice.wav import WavWriter, iter_wav_chunks, read_wav_info

if TYPE_CHECKING:
    from voice.wake import WakeSpotter

log = logging.getLogger(__name__)

CHUNK_SECONDS = 0.05  # how a recording is fed, as a microphone delivers it
INSTANT_QUIET = 0.2  # seconds of quiet after an instant command before it is acted on
INSTANT_LONGEST = 2.0  # seconds: an utterance longer than this (pre-roll included) is no command
QUEUE_SECONDS = 30.0  # audio the source may get ahead of the listener before it must wait
STOP_WAIT = 1.0  # seconds to wait for a thread to end when stopping


@dataclass(frozen=True, slots=True)
class Heard:
    """One utterance, recognised."""

    transcript: Transcript
    start: float  # stream seconds
    end: float  # the end of speech (the trailing silence comes after)
    reason: str  # what ended it: silence, max_length, end_of_stream, our own voice, instant
    # An instant command: the streaming reading, handed over the moment it was said. The
    # utterance's full reading follows, marked with `after_instant`.
    instant: bool = False
    after_instant: str = ""


class UtteranceListener:
    """`instant_words` (normalised) are acted on the moment they are said while
    `instant_wanted` is set (during a breathing exercise): when the engine's streaming
    reading is exactly one of them and INSTANT_QUIET of quiet has followed it."""

    def __init__(self, engine: SpeechEngine, endpoint: EndpointSettings | None = None, *,
                 denoise: bool = True, keep_audio_dir: Path | None = None,
                 report: Callable[[str], None] | None = None,
                 instant_words: frozenset[str] = frozenset(),
                 instant_wanted: threading.Event | None = None) -> None:
        self.engine = engine
        self._instant_words = instant_words
        self._instant_wanted = instant_wanted or threading.Event()
        self._instant_said = ""  # the instant command heard in this utterance
        self._instant_checked = False
        self._segmenter = UtteranceSegmenter(endpoint)
        self._clean = CleanTrack() if denoise else None
        self._keeper = KeptAudio(keep_audio_dir, report) if keep_audio_dir else None
        self._session: SpeechSession | None = None
        self._started = 0.0
        self._fed = 0  # with noise suppression: the next input sample the recogniser is owed
        self._utterance: list[bytes] = []

    @property
    def in_speech(self) -> bool:
        return self._segmenter.in_speech

    def feed(self, chunk: AudioChunk) -> list[Heard]:
        """One chunk of the stream; the utterances it completes."""
        if self._clean is not None:
            self._clean.push(chunk)
        heard = []
        for event in self._segmenter.feed(chunk):
            if (done := self._on_event(event)) is not None:
                heard.append(done)
        if (self._session is not None and not self._instant_checked and self._instant_words
                and self._instant_wanted.is_set()
                and self._segmenter.quiet_seconds >= INSTANT_QUIET
                and chunk.end - self._started <= INSTANT_LONGEST):
            # A short utterance, then quiet: it may be a command. Decided once, now.
            self._instant_checked = True
            quick = getattr(self._session, "quick", None)
            said = quick().text if quick is not None else self._session.partial()
            if normalize(said) in self._instant_words:
                self._instant_said = said
                early = Transcript(said, 1.0, engine=f"{self.engine.name}, streaming")
                heard.append(Heard(early, self._started, chunk.end, "instant", instant=True))
        return heard

    def drop(self, chunk: AudioChunk) -> list[Heard]:
        """A chunk that carries our own voice: not listened to. Speech that began before we
        started is still a person's: it is finished and answered (it may be a disclosure)."""
        if self._clean is not None:
            self._clean.push(chunk)  # keeps the suppressor's timeline whole
        heard = []
        if self._session is not None and (done := self._finish("our own voice", chunk.timestamp)):
            heard.append(done)
        self._segmenter.skip()
        return heard

    def end_of_stream(self, at: float) -> list[Heard]:
        if self._clean is not None:  # the suppressor lags: push silence to flush it
            self._clean.push(AudioChunk(bytes(2 * LAG), 16_000, 2, 1, at))
        heard = []
        for event in self._segmenter.end_of_stream():
            if (done := self._on_event(event)) is not None:
                heard.append(done)
        return heard

    def _on_event(self, event) -> Heard | None:
        if isinstance(event, SpeechStarted):
            self._session = self.engine.start()
            self._started = event.audio.timestamp
            self._instant_said = ""
            self._instant_checked = False
            self._utterance = []
            if self._clean is not None:
                self._fed = self._clean.index(event.audio.timestamp)
            self._accept(event.audio)
        elif isinstance(event, SpeechAudio) and self._session is not None:
            self._accept(event.audio)
        elif isinstance(event, SpeechEnded) and self._session is not None:
            return self._finish(event.reason, event.end)
        return None

    def _accept(self, chunk: AudioChunk) -> None:
        """Pass the utterance on: the raw chunk, or with noise suppression the cleaned audio
        for the same time (as much as the suppressor has finished; the rest follows)."""
        if self._clean is not None:
            chunk = self._clean.take(self._fed, self._clean.index(chunk.end))
            self._fed += chunk.frames
        self._session.accept(chunk)
        if self._keeper is not None:
            self._utterance.append(chunk.samples)

    def _finish(self, reason: str, end: float) -> Heard | None:
        session, self._session = self._session, None
        transcript = session.finish()
        log.debug("utterance %.2f-%.2f s (%s): %r", self._started, end, reason, transcript.text)
        if self._keeper is not None:
            self._keeper.keep(b"".join(self._utterance), transcript)
        if transcript.is_empty:
            return None  # a cough or a door: no answer
        return Heard(transcript, self._started, end, reason, after_instant=self._instant_said)


def transcribe_recording(engine: SpeechEngine, audio: AudioChunk,
                         endpoint: EndpointSettings | None = None,
                         denoise: bool = True) -> Transcript:
    """A whole recording as one request, heard as the live loop hears it: a file of silence or
    steady noise comes out empty, and a request said in two breaths is one transcript."""
    listener = UtteranceListener(engine, endpoint, denoise=denoise)
    step = round(CHUNK_SECONDS * audio.rate) * audio.width
    heard: list[Heard] = []
    for offset in range(0, len(audio.samples), step):
        piece = audio.samples[offset:offset + step]
        at = audio.timestamp + offset / audio.format.bytes_per_second
        heard += listener.feed(AudioChunk(piece, audio.rate, audio.width, audio.channels, at))
    heard += listener.end_of_stream(audio.end)
    return joined([h.transcript for h in heard], getattr(engine, "name", ""))


def joined(parts: list[Transcript], engine: str) -> Transcript:
    """Several utterances of one request as one transcript; each of their other readings
    becomes a reading of the whole, so the safety check still sees every one."""
    if not parts:
        return Transcript("", 0.0, engine=engine)
    if len(parts) == 1:
        return parts[0]
    texts = [p.text for p in parts]
    others = tuple(" ".join([*texts[:i], alternative, *texts[i + 1:]])
                   for i, part in enumerate(parts) for alternative in part.alternatives)
    return Transcript(" ".join(texts), round(sum(p.confidence for p in parts) / len(parts), 3),
                      tuple(w for p in parts for w in p.words), parts[0].engine, others)


class KeptAudio:
    """Only with --keep-audio DIR: each utterance's audio and transcript, for the person's own
    review, readable by them alone. Off by default; nothing is stored otherwise."""

    def __init__(self, folder: Path, report: Callable[[str], None] | None = None) -> None:
        self.folder = folder
        self._report = report or (lambda line: log.warning("%s", line))
        self._count = 0

    def keep(self, samples: bytes, transcript: Transcript) -> None:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._count += 1
            wav = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{self._count:04d}.wav"
            with atomic_path(wav, mode=0o600) as temporary, WavWriter(temporary, 16_000) as out:
                out.write(AudioChunk(samples, 16_000, 2, 1))
            record = json.dumps({"audio": wav.name, "text": transcript.text,
                                 "confidence": transcript.confidence})
            log_path = self.folder / "transcripts.jsonl"
            with log_path.open("a", encoding="utf-8") as log_file:
                log_file.write(record + "\n")
            log_path.chmod(0o600)
        except (OSError, TrustCoachError) as error:
            self._report(f"error: {self.folder}: cannot keep audio ({error})")


# --- the listening thread ---------------------------------------------------------------------


class AudioSource(Protocol):
    live: bool  # True when audio arrives at the pace of speech (microphone, --realtime)

    def describe(self) -> str: ...

    def run(self, emit: Callable[[AudioChunk], None], report: Callable[[Exception], None],
            stop: threading.Event) -> None:
        """Deliver chunks until the stream ends or `stop` is set (runs in its own thread)."""


class WavFileSource:
    """A WAV file streamed in chunks as if it were a microphone."""

    def __init__(self, path: Path, realtime: bool = False,
                 chunk_seconds: float = CHUNK_SECONDS) -> None:
        self.path = path
        self.info = read_wav_info(path)  # a bad file fails here, before anything starts
        self.live = realtime
        self.chunk_seconds = chunk_seconds

    def describe(self) -> str:
        pace = "in real time" if self.live else "as fast as possible"
        return (f"{self.path} ({self.info.duration:.1f} s, {self.info.rate} Hz, "
                f"{self.info.channels} ch, {pace})")

    def run(self, emit, report, stop: threading.Event) -> None:
        started = time.monotonic()
        try:
            for chunk in iter_wav_chunks(self.path, self.chunk_seconds, self.info):
                if stop.is_set():
                    return
                if self.live:
                    # Each chunk is due at its own offset from the start: no drift.
                    delay = started + chunk.timestamp - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        return
                emit(chunk)
        except TrustCoachError as error:
            report(error)


@dataclass(frozen=True, slots=True)
class WakeHeard:
    """The wake phrase was spotted; it ended at `at` (stream seconds)."""

    at: float


@dataclass(frozen=True, slots=True)
class StreamTime:
    """How far a recording read faster than real time has been heard (its own clock)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class SourceProblem:
    error: Exception


@dataclass(frozen=True, slots=True)
class StreamEnded:
    at: float


ListenerEvent = Heard | WakeHeard | StreamTime | SourceProblem | StreamEnded


@dataclass(frozen=True, slots=True)
class _Delivered:
    chunk: AudioChunk


class ListeningWorker:
    """The source's thread and the listening thread, started and stopped together.

    While we speak in a room the microphone hears us too: `speaking()` marks where that starts
    in the stream and `spoke()` where it ends (plus a tail for the room's echo); the listening
    thread drops those chunks unheard.
    """

    def __init__(self, source: AudioSource, listener: UtteranceListener, *,
                 deaf_tail: float = 0.3, chunk_seconds: float = CHUNK_SECONDS,
                 instant_wanted: threading.Event | None = None,
                 spotter: WakeSpotter | None = None) -> None:
        self.source = source
        self.listener = listener
        self.spotter = spotter  # listens for the wake phrase in the same stream
        self.instant_wanted = instant_wanted or threading.Event()  # shared with the listener
        self.deaf_tail = deaf_tail
        capacity = max(10, round(QUEUE_SECONDS / chunk_seconds))
        self._audio: queue.Queue[_Delivered | SourceProblem | StreamEnded] = queue.Queue(capacity)
        # Finished utterances are few; a recording read at full speed waits for the front end
        # (its clock is the recording), a microphone never does.
        self._events: queue.Queue[ListenerEvent] = queue.Queue(0 if source.live else 64)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards the two stream positions below
        self._delivered = 0.0  # stream seconds the source has handed over (source thread)
        self._deaf = (float("inf"), float("-inf"))  # (from, until): our own voice
        self._behind = False
        self._threads = [threading.Thread(target=self._produce, name="audio-source",
                                          daemon=True),
                         threading.Thread(target=self._listen, name="listening", daemon=True)]

    def __enter__(self) -> ListeningWorker:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> bool:
        """Stop both threads; False (and a warning) if one did not end in time."""
        self._stop.set()
        stuck = []
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=STOP_WAIT)
            if thread.is_alive():
                stuck.append(thread.name)
        if stuck:
            log.warning("%s did not stop within %.0f s", ", ".join(stuck), STOP_WAIT)
        return not stuck

    @property
    def delivered(self) -> float:
        """Stream seconds the source has handed over: for a microphone, about now."""
        with self._lock:
            return self._delivered

    @property
    def in_speech(self) -> bool:
        """Someone is talking (read across threads: a hint for when to speak up, no more)."""
        return self.listener.in_speech

    def next_event(self, timeout: float | None) -> ListenerEvent | None:
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def want_instant_commands(self, wanted: bool) -> None:
        """During an exercise, commands are acted on the moment they are said."""
        if wanted:
            self.instant_wanted.set()
        else:
            self.instant_wanted.clear()

    def speaking(self) -> None:
        """We are starting to make sound in the room: what the microphone hears from now on is
        us, until `spoke` says where it ended."""
        if self.source.live:
            with self._lock:
                self._deaf = (self._delivered, float("inf"))

    def spoke(self) -> None:
        if self.source.live:
            with self._lock:
                self._deaf = (self._deaf[0], self._delivered + self.deaf_tail)
                log.debug("ignoring input %.2f-%.2f s", *self._deaf)

    # -- the source's thread ----------------------------------------------------------------

    def _produce(self) -> None:
        try:
            self.source.run(self._deliver, lambda error: self._put(SourceProblem(error)),
                            self._stop)
        except Exception as error:  # a source that breaks must not leave the loop waiting
            log.debug("source failed", exc_info=True)
            self._put(SourceProblem(error))
        finally:
            with self._lock:
                end = self._delivered
            self._put(StreamEnded(end))

    def _deliver(self, chunk: AudioChunk) -> None:
        with self._lock:
            self._delivered = chunk.end
        if self._audio.full() and not self._behind:
            # Only a source faster than real time gets this far ahead (a test microphone
            # reading a file); a live one then waits, and PortAudio reports what it dropped.
            self._behind = True
            log.warning("listening is %.0f s behind the source", QUEUE_SECONDS)
        self._put(_Delivered(chunk))

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._audio.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- the listening thread ---------------------------------------------------------------

    def _listen(self) -> None:
        try:
            self._listen_until_the_end()
        except Exception as error:  # a bug must not leave the front end waiting forever
            log.error("listening failed", exc_info=True)
            self._emit(SourceProblem(error), StreamEnded(0.0))

    def _listen_until_the_end(self) -> None:
        converter = AudioChunkConverter()
        while not self._stop.is_set():
            try:
                item = self._audio.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, StreamEnded):
                tail = converter.flush()
                heard = self._hear(tail) if tail is not None else []
                heard += self.listener.end_of_stream(item.at)
                self._emit(*heard, StreamEnded(item.at))
                return
            if isinstance(item, SourceProblem):
                self._emit(item)
                continue
            chunk = converter.convert(item.chunk)
            self._emit(*self._hear(chunk))
            if not self.source.live:
                self._emit(StreamTime(chunk.end))

    def _hear(self, chunk: AudioChunk) -> list[Heard | WakeHeard]:
        with self._lock:
            deaf_from, deaf_until = self._deaf
        if deaf_from < chunk.end <= deaf_until:
            return self.listener.drop(chunk)
        spotted = self.spotter.accept(chunk) if self.spotter is not None else None
        heard: list[Heard | WakeHeard] = [] if spotted is None else [WakeHeard(spotted)]
        return heard + self.listener.feed(chunk)

    def _emit(self, *events: ListenerEvent) -> None:
        for event in events:
            while not self._stop.is_set():
                try:
                    self._events.put(event, timeout=0.1)
                    break
                except queue.Full:
                    continue

"""The hands-free loop: listen, transcribe, understand, act, speak; again and again.

Two threads and one queue. The source thread (microphone callback or WAV reader) only puts
chunks on the queue; the loop thread does everything else in order, so no state is shared.
While the assistant speaks out loud, the microphone keeps filling the queue; those chunks (and a
short tail after) are dropped unheard, so it never answers its own voice.
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
from typing import Protocol

from intents.coach import (
    Coach,
    EndConversation,
    Reply,
)
from voice.audio import AudioChunk, AudioChunkConverter, WavWriter, iter_wav_chunks, read_wav_info
from voice.endpoint import (
    EndpointSettings,
    SpeechAudio,
    SpeechEnded,
    SpeechStarted,
    UtteranceSegmenter,
)
from voice.errors import SpeechOutputError, TrustCoachError
from voice.stt import SpeechEngine, SpeechSession, Transcript
from voice.tts import Speaker

log = logging.getLogger(__name__)


class AudioSource(Protocol):
    live: bool  # True when audio arrives at the pace of speech (microphone, --realtime)

    def describe(self) -> str: ...

    def position(self) -> float:
        """Stream seconds delivered so far."""

    def run(self, emit: Callable[[AudioChunk], None], report: Callable[[Exception], None],
            stop: threading.Event) -> None:
        """Deliver chunks until the stream ends or `stop` is set (runs in its own thread)."""


class WavFileSource:
    """A WAV file streamed in chunks as if it were a microphone."""

    def __init__(self, path: Path, realtime: bool = False, chunk_seconds: float = 0.05,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.info = read_wav_info(path)  # a bad file fails here, before anything starts
        self.live = realtime
        self.chunk_seconds = chunk_seconds
        self._clock = clock
        self._position = 0.0

    def describe(self) -> str:
        pace = "in real time" if self.live else "as fast as possible"
        return (f"{self.path} ({self.info.duration:.1f} s, {self.info.rate} Hz, "
                f"{self.info.channels} ch, {pace})")

    def position(self) -> float:
        return self._position

    def run(self, emit, report, stop: threading.Event) -> None:
        started = self._clock()
        try:
            for chunk in iter_wav_chunks(self.path, self.chunk_seconds, self.info):
                if stop.is_set():
                    return
                if self.live:
                    # Each chunk is due at its own offset from the start: no drift.
                    delay = started + chunk.timestamp - self._clock()
                    if delay > 0 and stop.wait(delay):
                        return
                self._position = chunk.end
                emit(chunk)
        except TrustCoachError as error:
            report(error)


@dataclass(frozen=True, slots=True)
class Turn:
    heard: str
    reply: Reply
    transcript: Transcript | None = None

    def line(self) -> str:
        intent = self.reply.intent
        return (f'heard: "{self.heard}" | intent: {intent.id} ({intent.confidence:.2f}) | '
                f'reply: "{self.reply.display}"')


class Conversation:
    """Turns text into replies and speaks them; shared by the voice loop and typed chat."""

    def __init__(self, coach: Coach, speaker: Speaker, out: Callable[[str], None] = print,
                 report: Callable[[str], None] | None = None) -> None:
        self.coach = coach
        self.speaker = speaker
        self.out = out
        self.report = report or out
        self.finished = False
        self.turns: list[Turn] = []

    def open(self) -> None:
        self.say(self.coach.greet(), label="coach")

    def say(self, text: str, label: str | None = None) -> None:
        if label:
            self.out(f'{label}: "{text}"')
        try:
            self.speaker.say(text)
        except SpeechOutputError as error:
            self.report(f"error: {error} (reply printed instead)")

    def hear(self, text: str, transcript: Transcript | None = None) -> Turn:
        reply = self.coach.respond(text)
        turn = Turn(text, reply, transcript)
        self.turns.append(turn)
        self.out(turn.line())
        self.say(reply.spoken)
        self.act(reply)
        return turn

    def act(self, reply: Reply) -> None:
        action = reply.action
        if isinstance(action, EndConversation):
            self.finished = True
        elif action is not None and hasattr(action, "factor"):
            self.speaker.change_rate(action.factor)


_END = object()


def transcribe_recording(engine: SpeechEngine, audio: AudioChunk,
                         endpoint: EndpointSettings | None = None) -> Transcript:
    """A whole recording as one request, if anyone speaks in it: a file of silence or steady
    noise gets an empty transcript rather than whatever the recogniser makes of the hiss."""
    segmenter = UtteranceSegmenter(endpoint)
    events = [*segmenter.feed(audio), *segmenter.end_of_stream()]
    if not any(isinstance(e, SpeechStarted) for e in events):
        return Transcript(text="", confidence=0.0, engine=getattr(engine, "name", ""))
    session = engine.start()
    session.accept(audio)
    return session.finish()


class VoiceLoop:
    def __init__(self, source: AudioSource, engine: SpeechEngine, conversation: Conversation,
                 *, endpoint: EndpointSettings | None = None, deaf_tail: float = 0.3,
                 keep_audio_dir: Path | None = None) -> None:
        self.source = source
        self.engine = engine
        self.conversation = conversation
        self.segmenter = UtteranceSegmenter(endpoint)
        self.deaf_tail = deaf_tail
        self.keep_audio_dir = keep_audio_dir
        self._queue: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self._deaf_until = -1.0
        self._session: SpeechSession | None = None
        self._utterance: list[bytes] = []

    def run(self) -> None:
        self.conversation.open()
        thread = threading.Thread(target=self._produce, name="audio-source", daemon=True)
        thread.start()
        converter = AudioChunkConverter()
        try:
            while not self.conversation.finished:
                item = self._queue.get()
                if item is _END:
                    if (tail := converter.flush()) is not None:
                        self._feed(tail)
                    for event in self.segmenter.end_of_stream():
                        self._on_event(event)
                    break
                if isinstance(item, Exception):
                    self.conversation.report(f"error: {item}")
                    continue
                self._feed(converter.convert(item))
        finally:
            self._stop.set()
            thread.join(timeout=2.0)

    def _produce(self) -> None:
        try:
            self.source.run(self._queue.put, self._queue.put, self._stop)
        finally:
            self._queue.put(_END)

    def _feed(self, chunk: AudioChunk) -> None:
        if chunk.end <= self._deaf_until:
            self.segmenter.skip()
            return  # captured while we were talking
        for event in self.segmenter.feed(chunk):
            self._on_event(event)
            if self.conversation.finished:
                return

    def _on_event(self, event) -> None:
        if isinstance(event, SpeechStarted):
            self._session = self.engine.start()
            self._utterance = []
            self._accept(event.audio)
        elif isinstance(event, SpeechAudio) and self._session is not None:
            self._accept(event.audio)
        elif isinstance(event, SpeechEnded) and self._session is not None:
            transcript = self._session.finish()
            self._session = None
            log.debug("utterance ended at %.2f s (%s): %r", event.end, event.reason,
                      transcript.text)
            self._keep(transcript)
            if transcript.is_empty:
                return  # a cough or a door: nothing to answer
            self.conversation.hear(transcript.text, transcript)
            if self.source.live and self.conversation.speaker.audible:
                self._deaf_until = self.source.position() + self.deaf_tail
                log.debug("spoke; ignoring input until %.2f s", self._deaf_until)

    def _accept(self, chunk: AudioChunk) -> None:
        self._session.accept(chunk)
        if self.keep_audio_dir is not None:
            self._utterance.append(chunk.samples)

    def _keep(self, transcript: Transcript) -> None:
        """Only with --keep-audio DIR: the utterance's audio and transcript, for the person's
        own review. Off by default; nothing is stored otherwise."""
        if self.keep_audio_dir is None:
            return
        self.keep_audio_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        index = len(list(self.keep_audio_dir.glob("*.wav")))
        wav = self.keep_audio_dir / f"{stamp}-{index:04d}.wav"
        with WavWriter(wav, 16_000) as writer:
            writer.write(AudioChunk(b"".join(self._utterance), 16_000, 2, 1))
        with (self.keep_audio_dir / "transcripts.jsonl").open("a", encoding="utf-8") as log_file:
            log_file.write(json.dumps({"audio": wav.name, "text": transcript.text,
                                       "confidence": transcript.confidence}) + "\n")

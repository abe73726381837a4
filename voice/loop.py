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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from intents.coach import (
    CancelTimer,
    ChangeRate,
    Coach,
    EndCoaching,
    EndConversation,
    Reply,
    StartBreathing,
    StartTimer,
    StopAll,
)
from voice.audio import AudioChunk, AudioChunkConverter, WavWriter, iter_wav_chunks, read_wav_info
from voice.breathing_session import BreathingSession, Listener, Silence
from voice.clock import Clock, MonotonicClock, VirtualClock
from voice.denoise import LAG, CleanTrack
from voice.endpoint import (
    EndpointSettings,
    SpeechAudio,
    SpeechEnded,
    SpeechStarted,
    UtteranceSegmenter,
)
from voice.errors import SpeechOutputError, TrustCoachError
from voice.stt import SpeechEngine, SpeechSession, Transcript
from voice.timers import TimerBook
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
    """Turns text into replies, speaks them, and carries out what they ask for (timers,
    breathing, ending). Shared by the voice loop and typed chat; the loop lends it a way to
    listen during exercises, and is told each time we have made a sound in the room."""

    def __init__(self, coach: Coach, speaker: Speaker, out: Callable[[str], None] = print, *,
                 report: Callable[[str], None] | None = None, timers: TimerBook | None = None,
                 tone: bool = False, count_aloud: bool = False) -> None:
        self.coach = coach
        self.speaker = speaker
        self.out = out
        self.report = report or out
        self.timers = timers
        if timers is not None:
            coach.timer_running = lambda: timers.active is not None
        self.finished = False
        self.turns: list[Turn] = []
        self.pending: StartBreathing | None = None  # to run once the current turn is done
        self.after_speaking: Callable[[], None] = lambda: None
        self.breathing = BreathingSession(coach.library, speaker, VirtualClock(),
                                          matcher=coach.matcher, tone=tone,
                                          count_aloud=count_aloud, on_line=self.out)

    def open(self) -> None:
        self.say(self.coach.greet(), label="coach")
        if self.timers is not None and (missed := self.timers.take_due()) is not None:
            self.say(self.coach.timer_finished(missed.minutes, while_off=True), label="coach")

    def say(self, text: str, label: str | None = None) -> None:
        if label:
            self.out(f'{label}: "{text}"')
        try:
            self.speaker.say(text)
        except SpeechOutputError as error:
            self.report(f"error: {error} (reply printed instead)")
        self.after_speaking()

    def hear(self, text: str, transcript: Transcript | None = None) -> Turn:
        heard_otherwise = transcript.alternatives if transcript is not None else ()
        return self._deliver(text, self.coach.respond(text, heard_otherwise), transcript)

    def _deliver(self, heard: str, reply: Reply, transcript: Transcript | None = None) -> Turn:
        turn = Turn(heard, reply, transcript)
        self.turns.append(turn)
        self.out(turn.line())
        self.say(reply.spoken)
        self.act(reply)
        return turn

    def act(self, reply: Reply) -> None:
        action = reply.action
        if isinstance(action, EndConversation):
            self.finished = True
        elif isinstance(action, ChangeRate):
            self.speaker.change_rate(action.factor)
        elif isinstance(action, StartTimer):
            if self.timers is not None:
                self.timers.start(action.minutes)
        elif isinstance(action, StopAll):
            # Speech already ended (the microphone is off while it speaks) and an exercise
            # stops inside its own session; what is left to stop is one about to start.
            self.pending = None
        elif isinstance(action, CancelTimer | EndCoaching):
            self.pending = None
            if self.timers is not None:
                self.timers.cancel()
        elif isinstance(action, StartBreathing):
            self.pending = action

    def check_timers(self) -> None:
        if self.timers is not None and (done := self.timers.take_due()) is not None:
            self.say(self.coach.timer_finished(done.minutes), label="coach")

    def run_pending(self, clock: Clock, listener: Listener | None = None) -> None:
        """Run the exercise the last reply started, listening with `listener`."""
        action, self.pending = self.pending, None
        if action is None:
            return
        self.breathing.clock = clock
        self.breathing.listener = listener or Silence(clock)
        result = self.breathing.run(action.pattern, action.rounds)
        if result.crisis is not None:  # said during the exercise: answered like any turn
            self._deliver(result.crisis.text, self.coach.answer(result.crisis))
        elif result.completed:
            self.coach.breathing_finished(result.pattern)


def transcribe_recording(engine: SpeechEngine, audio: AudioChunk,
                         endpoint: EndpointSettings | None = None,
                         denoise: bool = True) -> Transcript:
    """A whole recording as one request, if anyone speaks in it: a file of silence or steady
    noise gets an empty transcript rather than whatever the recogniser makes of the hiss."""
    segmenter = UtteranceSegmenter(endpoint)
    events = [*segmenter.feed(audio), *segmenter.end_of_stream()]
    starts = [e.audio.timestamp for e in events if isinstance(e, SpeechStarted)]
    if not starts:
        return Transcript(text="", confidence=0.0, engine=getattr(engine, "name", ""))
    # Only the stretch with speech in it (and a margin): noise before and after is where
    # recognisers invent words.
    end = max(e.end for e in events if isinstance(e, SpeechEnded)) + SPEECH_MARGIN
    first = max(0, round((starts[0] - audio.timestamp) * audio.rate)) * 2
    last = min(len(audio.samples), round((end - audio.timestamp) * audio.rate) * 2)
    session = engine.start()
    if denoise:
        clean = CleanTrack(keep_seconds=audio.duration + 1)
        clean.push(audio)
        clean.push(AudioChunk(bytes(2 * LAG), audio.rate, 2, 1, audio.end))  # flush the lag
        session.accept(clean.take(first // 2, last // 2))
    else:
        session.accept(AudioChunk(audio.samples[first:last], audio.rate, 2, 1, starts[0]))
    return session.finish()


SPEECH_MARGIN = 0.3  # seconds kept after the last loud frame


@dataclass(frozen=True, slots=True)
class _SourceFailed:
    error: Exception


@dataclass(frozen=True, slots=True)
class _EndOfStream:
    pass


class VoiceLoop:
    def __init__(self, source: AudioSource, engine: SpeechEngine, conversation: Conversation,
                 *, endpoint: EndpointSettings | None = None, deaf_tail: float = 0.3,
                 keep_audio_dir: Path | None = None, denoise: bool = True) -> None:
        self.source = source
        self.engine = engine
        self.conversation = conversation
        conversation.after_speaking = self.spoke
        self.segmenter = UtteranceSegmenter(endpoint)
        self.deaf_tail = deaf_tail
        self.keep_audio_dir = keep_audio_dir
        self._clean = CleanTrack() if denoise else None
        self._fed = 0  # with denoising: the next input sample the recogniser is owed
        self._fed_started = False
        self._queue: queue.Queue[AudioChunk | _SourceFailed | _EndOfStream] = queue.Queue()
        self._stop = threading.Event()
        self._converter = AudioChunkConverter()
        self._deaf_until = -1.0
        self._session: SpeechSession | None = None
        self._utterance: list[bytes] = []
        self.ended = False
        self.stream_time = 0.0  # stream seconds processed so far

    def run(self) -> None:
        self.conversation.open()
        with self._listening():
            while not self.conversation.finished:
                chunk = self.next_chunk(timeout=TIMER_POLL)
                if not self.segmenter.in_speech:  # never talk over someone mid-sentence
                    self.conversation.check_timers()
                if chunk is None and not self.ended:
                    continue
                for transcript in self.process(chunk):
                    self.conversation.hear(transcript.text, transcript)
                    if self.conversation.pending is not None:
                        self._run_exercise()
                    if self.conversation.finished:
                        break
                if self.ended:
                    break

    def run_exercise(self, exercise: StartBreathing, intro: str = "") -> None:
        """One breathing exercise, listening throughout ("stop", "slower", a disclosure), then
        done: `trust-coach breathe`."""
        if intro:  # before the microphone opens: it would only be ignored while we speak
            self.conversation.say(intro, label="coach")
        self.conversation.pending = exercise
        with self._listening():
            self._run_exercise()

    @contextmanager
    def _listening(self) -> Iterator[None]:
        thread = threading.Thread(target=self._produce, name="audio-source", daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join(timeout=2.0)

    def _produce(self) -> None:
        try:
            self.source.run(self._queue.put, lambda e: self._queue.put(_SourceFailed(e)),
                            self._stop)
        finally:
            self._queue.put(_EndOfStream())

    # -- audio in ------------------------------------------------------------------------------

    def next_chunk(self, timeout: float | None) -> AudioChunk | None:
        """The next chunk, converted; None on timeout, after a reported source error, or at
        the end of the stream (after which `ended` is true)."""
        if self.ended:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, _EndOfStream):
            self.ended = True
            return self._converter.flush()
        if isinstance(item, _SourceFailed):
            self.conversation.report(f"error: {item.error}")
            return None
        return self._converter.convert(item)

    def process(self, chunk: AudioChunk | None) -> list[Transcript]:
        """Feed one chunk (or, at the end, nothing) through endpointing and recognition; the
        transcripts of the utterances it completes."""
        done: list[Transcript] = []
        events = []
        if chunk is not None:
            self.stream_time = chunk.end
            if self._clean is not None:
                self._clean.push(chunk)
            if chunk.end <= self._deaf_until:
                # Our own voice is coming back in. Speech that began before we started is
                # still a person's: finish it and answer it (it may be a crisis).
                if self._session is not None and (cut := self._finish("cut by our voice")):
                    done.append(cut)
                self.segmenter.skip()
                return done
            events = list(self.segmenter.feed(chunk))
        if self.ended:
            events += list(self.segmenter.end_of_stream())
        for event in events:
            if (transcript := self._on_event(event)) is not None:
                done.append(transcript)
        return done

    def _on_event(self, event) -> Transcript | None:
        if isinstance(event, SpeechStarted):
            self._session = self.engine.start()
            self._utterance = []
            self._fed_started = False
            self._accept(event.audio)
        elif isinstance(event, SpeechAudio) and self._session is not None:
            self._accept(event.audio)
        elif isinstance(event, SpeechEnded) and self._session is not None:
            return self._finish(event.reason)
        return None

    def _finish(self, reason: str) -> Transcript | None:
        transcript = self._session.finish()
        self._session = None
        log.debug("utterance ended at %.2f s (%s): %r", self.stream_time, reason,
                  transcript.text)
        self._keep(transcript)
        return None if transcript.is_empty else transcript  # a cough or a door: no answer

    def spoke(self) -> None:
        """What we just said came out of a speaker in the room: don't listen to it."""
        if self.source.live and self.conversation.speaker.audible:
            self._deaf_until = self.source.position() + self.deaf_tail
            log.debug("spoke; ignoring input until %.2f s", self._deaf_until)

    # -- exercises -----------------------------------------------------------------------------

    def _run_exercise(self) -> None:
        self.segmenter.skip()
        if self.source.live:
            clock: Clock = MonotonicClock()
        else:
            clock = _StreamClock(self)  # a recording is its own clock
        self.conversation.run_pending(clock, _LoopListener(self, clock))

    def _accept(self, chunk: AudioChunk) -> None:
        """Pass the utterance on: the raw chunk, or with denoising, the cleaned audio for the
        same time (as much as the suppressor has finished; the rest follows next time)."""
        if self._clean is not None:
            if not self._fed_started:  # the utterance begins here (with its pre-roll)
                self._fed = self._clean.index(chunk.timestamp)
                self._fed_started = True
            chunk = self._clean.take(self._fed, self._clean.index(chunk.end))
            self._fed += chunk.frames
        self._session.accept(chunk)
        if self.keep_audio_dir is not None:
            self._utterance.append(chunk.samples)

    def _keep(self, transcript: Transcript) -> None:
        """Only with --keep-audio DIR: the utterance's audio and transcript, for the person's
        own review, readable by them alone. Off by default; nothing is stored otherwise."""
        if self.keep_audio_dir is None:
            return
        try:
            self.keep_audio_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            index = len(list(self.keep_audio_dir.glob("*.wav")))
            wav = self.keep_audio_dir / f"{stamp}-{index:04d}.wav"
            with WavWriter(wav, 16_000) as writer:
                writer.write(AudioChunk(b"".join(self._utterance), 16_000, 2, 1))
            wav.chmod(0o600)
            log_path = self.keep_audio_dir / "transcripts.jsonl"
            with log_path.open("a", encoding="utf-8") as log_file:
                log_file.write(json.dumps({"audio": wav.name, "text": transcript.text,
                                           "confidence": transcript.confidence}) + "\n")
            log_path.chmod(0o600)
        except (OSError, TrustCoachError) as error:
            self.conversation.report(f"error: {self.keep_audio_dir}: cannot keep audio "
                                     f"({error})")


TIMER_POLL = 0.5  # seconds between looks at the break timer while nobody speaks


class _LoopListener:
    """Listening during an exercise, with the loop's own endpointing and recogniser."""

    def __init__(self, loop: VoiceLoop, clock: Clock) -> None:
        self.loop = loop
        self.clock = clock
        self._heard: list[Transcript] = []

    def listen(self, until: float) -> str | None:
        while True:
            if self._heard:
                return self._heard.pop(0).text
            now = self.clock.now()
            if now >= until or self.loop.ended:
                self.clock.sleep_until(until)
                return None
            if isinstance(self.clock, _StreamClock):
                chunk = self.loop.next_chunk(timeout=None)
            else:
                chunk = self.loop.next_chunk(timeout=until - now)
            if chunk is None and not self.loop.ended:
                continue
            self._heard += self.loop.process(chunk)

    def spoke(self) -> None:
        self.loop.spoke()


class _StreamClock:
    """For a recording read as fast as possible: session time is the recording's own time, and
    once it has ended, time simply jumps ahead."""

    def __init__(self, loop: VoiceLoop) -> None:
        self.loop = loop
        self._after_end = 0.0

    def now(self) -> float:
        return max(self.loop.stream_time, self._after_end)

    def sleep_until(self, moment: float) -> None:
        if self.loop.ended:
            self._after_end = max(self._after_end, moment)
        # Otherwise the listener advances time by reading the recording up to the moment.

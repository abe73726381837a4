"""The hands-free loop: listen, transcribe, understand, act, speak; again and again.

Three threads. The source's thread (microphone callback or WAV reader) and the listening thread
(voice.listening) turn sound into transcripts. This thread keeps time: it waits for the next
transcript or the next breathing cue, whichever comes first, and carries out the replies through
the executor. A recogniser that takes a second per utterance therefore delays the answer to that
utterance, never a cue.

A recording read faster than real time is its own clock: the listening thread reports how far it
has heard, and cues fall due on that timeline, exactly as they would have live.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from common.memory import give_back_freed_memory
from intents.conversation import Conversation, Turn
from intents.exercise import Event
from voice.clock import Clock, MonotonicClock, StreamClock
from voice.executor import TIMER_POLL, LocalExecutor
from voice.listening import (
    AudioSource,
    Heard,
    ListeningWorker,
    SourceProblem,
    StreamEnded,
    StreamTime,
    UtteranceListener,
    WakeHeard,
)
from voice.settings import EndpointSettings
from voice.stt import SpeechEngine
from voice.timers import TimerBook
from voice.tones import wake_chime
from voice.tts import Speaker
from voice.wake import Attention, WakeSettings, WakeSpotter

log = logging.getLogger(__name__)

# Housekeeping after a turn (a few ms, tens at most) waits when a breathing cue is this close.
CUE_CLEARANCE = 0.25  # seconds


class VoiceLoop:
    """One conversation heard through one source. `run` may be called again after it returns
    (say, once a microphone that went away is back): it listens afresh, the conversation goes
    on where it was."""

    def __init__(self, source: AudioSource, engine: SpeechEngine, conversation: Conversation,
                 speaker: Speaker, *, out: Callable[[str], None],
                 report: Callable[[str], None], endpoint: EndpointSettings | None = None,
                 deaf_tail: float = 0.3, denoise: bool = True,
                 keep_audio_dir: Path | None = None, timers: TimerBook | None = None,
                 tone: bool = False, count_aloud: bool = False,
                 on_exercise: Callable[[Event], None] | None = None,
                 on_turn: Callable[[Turn], None] | None = None,
                 wake: WakeSettings | None = None) -> None:
        self.source = source
        self.engine = engine
        self.conversation = conversation
        self.speaker = speaker
        self._out = out
        self._report = report
        self._endpoint = endpoint
        self._deaf_tail = deaf_tail
        self._denoise = denoise
        self._keep_audio_dir = keep_audio_dir
        self._timers = timers
        self._tone = tone
        self._count_aloud = count_aloud
        self._on_exercise = on_exercise  # shown elsewhere too (the web pacer), or measured
        self._on_turn = on_turn  # each turn, for the web page
        self._wake = wake  # None: every utterance is for the coach (--wake off)

    def run(self, exercise: tuple[str, int | None] | None = None, intro: str = "") -> None:
        """Listen until goodbye or the end of the recording. With `exercise` (a pattern and
        rounds), start it at once and stop when it ends (`trust-coach breathe`)."""
        clock: Clock = MonotonicClock() if self.source.live else StreamClock()
        instant = threading.Event()
        listener = UtteranceListener(self.engine, self._endpoint, denoise=self._denoise,
                                     keep_audio_dir=self._keep_audio_dir, report=self._report,
                                     instant_words=self.conversation.coach.instant_commands(),
                                     instant_wanted=instant)
        spotter, attention = None, None  # made afresh by each run
        if self._wake is not None:
            spotter, attention = WakeSpotter(self._wake), Attention(self._wake)
        worker = ListeningWorker(self.source, listener, deaf_tail=self._deaf_tail,
                                 instant_wanted=instant, spotter=spotter)
        executor = LocalExecutor(self.conversation, self.speaker, clock, out=self._out,
                                 report=self._report, timers=self._timers, ears=worker,
                                 tone=self._tone, count_aloud=self._count_aloud,
                                 on_exercise=self._on_exercise, on_turn=self._on_turn)
        # Said before the microphone opens: it would only be ignored while we speak.
        if intro:
            executor.say(intro, label="coach")
        if exercise is None and not self.conversation.coach.state.greeted:
            executor.open()
        with worker:
            if exercise is not None:
                executor.start_exercise(*exercise)
            self._listen(worker, executor, clock, attention,
                         until_exercise_ends=exercise is not None)

    def _listen(self, worker: ListeningWorker, executor: LocalExecutor, clock: Clock,
                attention: Attention | None, until_exercise_ends: bool) -> None:
        ended = False
        acted_on = None  # the turn of an instant command whose full reading is yet to come
        while not executor.finished:
            worker.want_instant_commands(executor.exercise_running)
            if until_exercise_ends and not executor.exercise_running:
                return
            if ended:  # the recording is over: an exercise plays out, then we are done
                if not executor.exercise_running:
                    return
                if executor.exercise_paused:  # nobody is left to say resume
                    executor.stop_exercise("end of input")
                    continue
                clock.sleep_until(executor.next_due())
                executor.tick(clock.now())
                continue
            event = worker.next_event(self._wait(executor, clock))
            if isinstance(event, StreamTime) and isinstance(clock, StreamClock):
                clock.advance_to(event.seconds)
            elif isinstance(event, Heard):
                executor.tick(clock.now())  # what was due before it was said comes first
                if event.after_instant and acted_on is not None:
                    executor.hear_again(event.transcript, acted_on)
                    acted_on = None
                elif turn := self._heard(event, executor, clock, worker, attention):
                    acted_on = turn if event.instant else None
                due = executor.next_due()
                if due is None or due - clock.now() > CUE_CLEARANCE:
                    # What hearing and answering it freed (the decoder's working memory, the
                    # reply's audio) goes back to the system, or the process grows over a day.
                    give_back_freed_memory()
            elif isinstance(event, WakeHeard) and attention is not None:
                attention.spotted(event.at)
            elif isinstance(event, SourceProblem):
                self._report(f"error: {event.error}")
            elif isinstance(event, StreamEnded):
                ended = True
            executor.tick(clock.now())
            if not worker.in_speech:  # never talk over someone mid-sentence
                executor.check_timers()

    def _heard(self, event: Heard, executor: LocalExecutor, clock: Clock,
               worker: ListeningWorker, attention: Attention | None) -> Turn | None:
        """Answer what was meant for the coach. With a wake phrase, the rest is still read
        for danger: a disclosure is answered whether or not the phrase was said."""
        if attention is None or executor.exercise_running:
            return executor.hear(event.transcript)
        transcript = event.transcript
        if attention.addressed(transcript.text, event.start, event.end):
            request = attention.request(transcript.text)
            if not request:  # only the phrase: a chime says we are listening
                self._out("wake phrase heard: listening")
                executor.sound(wake_chime())
                attention.answered(self._stream_now(event, clock, worker))
                return None
            transcript = replace(transcript, text=request)
        elif not self.conversation.coach.understand(transcript).crisis:
            self._out("heard speech without the wake phrase: not answered")
            return None
        turn = executor.hear(transcript)
        attention.answered(self._stream_now(event, clock, worker))
        return turn

    def _stream_now(self, event: Heard, clock: Clock, worker: ListeningWorker) -> float:
        """Where the stream is now, after answering: the follow-up window opens from there.
        Live, the microphone went on while we spoke; a recording's clock is the stream."""
        return worker.delivered if self.source.live else max(event.end, clock.now())

    def _wait(self, executor: LocalExecutor, clock: Clock) -> float | None:
        """How long to wait for the listener: a recording is its own clock, so wait for it;
        live, until the next cue is due or it is time to look at the timer."""
        if not self.source.live:
            return None
        due = executor.next_due()
        if due is None:
            return TIMER_POLL
        return max(0.0, min(TIMER_POLL, due - clock.now()))

"""Carrying out the conversation's replies on this machine: speaking (or printing) them, running
breathing exercises on the front end's clock, and keeping the break timer.

The voice loop and typed chat share this executor; each drives it with its own clock and input
(`hear` for every utterance, `tick` whenever the clock moves). It never waits: cue sounds are
rendered as soon as a plan is known, so at its time a cue only has to be played.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from common.errors import SpeechOutputError
from common.transcript import Transcript
from intents.breathing import Cue
from intents.coach import (
    CancelTimer,
    ChangeRate,
    EndCoaching,
    Reply,
    StartBreathing,
    StartTimer,
)
from intents.conversation import Conversation, Turn
from intents.exercise import (
    BreathingExercise,
    Command,
    Event,
    Finished,
    Pace,
    Pause,
    PlanChanged,
    PlayCue,
    Resume,
    SayLine,
    Stop,
    Switch,
)
from voice.audio import AudioChunk
from voice.clock import Clock
from voice.timers import TimerBook
from voice.tones import breathing_tone
from voice.tts import Speaker

log = logging.getLogger(__name__)

CUE_FADE = 0.05  # seconds of fade when a cue is cut short
CUE_ROOM = 0.05  # a cue ends this long before the next is due: a breath of silence between
LISTEN_GAP = 1.0  # with tones, this much of each in/out phase is left quiet for listening
TIMER_POLL = 0.5  # seconds between looks at the break timer


class Ears(Protocol):
    """Whoever listens in the same room, told when we make a sound so as not to hear it."""

    def speaking(self) -> None: ...

    def spoke(self) -> None: ...


class _Deaf:
    """Nobody listens (typed chat, a rendered file)."""

    def speaking(self) -> None:
        pass

    def spoke(self) -> None:
        pass


_NOBODY = _Deaf()


@dataclass(frozen=True, slots=True)
class CueOnset:
    due: float  # on the front end's clock
    actual: float  # when the sound started


class LocalExecutor:
    def __init__(self, conversation: Conversation, speaker: Speaker, clock: Clock, *,
                 out: Callable[[str], None], report: Callable[[str], None],
                 timers: TimerBook | None = None, ears: Ears | None = None,
                 tone: bool = False, count_aloud: bool = False,
                 on_exercise: Callable[[Event], None] | None = None,
                 on_turn: Callable[[Turn], None] | None = None) -> None:
        self.conversation = conversation
        self.speaker = speaker
        self.clock = clock
        self._out = out
        self._report = report
        self._timers = timers
        self._ears = ears or _NOBODY
        self._tone = tone
        self._count_aloud = count_aloud and not tone  # tones do not count
        self._on_exercise = on_exercise or (lambda event: None)
        self._on_turn = on_turn or (lambda turn: None)  # shown elsewhere too (the web page)
        self._exercise: BreathingExercise | None = None
        self._cue_sounds: dict[tuple, AudioChunk | None] = {}
        self._sink_map: tuple[float, float] | None = None  # (clock, file position) pairing
        self._timers_checked = float("-inf")
        self.onsets: list[CueOnset] = []  # every cue played, for measuring

    @property
    def finished(self) -> bool:
        return self.conversation.finished

    @property
    def exercise_running(self) -> bool:
        return self._exercise is not None

    @property
    def exercise_paused(self) -> bool:
        return self._exercise is not None and self._exercise.paused

    def stop_exercise(self, reason: str) -> None:
        """End the exercise under way without a word (the input it listened to has ended)."""
        self._obey(Stop(reason, quietly=True))

    def next_due(self) -> float | None:
        """When the exercise under way next needs a tick (None: no exercise)."""
        return None if self._exercise is None else self._exercise.next_due()

    # -- speaking ---------------------------------------------------------------------------

    def open(self) -> None:
        missed = self._timers.take_due() if self._timers is not None else None
        for line in self.conversation.opening(missed.minutes if missed else None):
            self.say(line, label="coach")

    def say(self, text: str, label: str | None = None) -> None:
        if label:
            self._out(f'{label}: "{text}"')
        ears = self._ears if self.speaker.audible else _NOBODY
        ears.speaking()
        try:
            self.speaker.say(text)
        except SpeechOutputError as error:
            self._report(f"error: {error} (reply printed instead)")
        finally:
            ears.spoke()

    def sound(self, audio: AudioChunk) -> None:
        """A short sound (the wake chime). Not marked as our own voice: it is over before
        the person goes on, and their next words must not be dropped with it."""
        try:
            self.speaker.sink.play(audio)
        except Exception as error:  # a sound that fails must not end the loop
            self._report(f"error: sound not played ({error})")

    # -- what was heard ---------------------------------------------------------------------

    def hear(self, transcript: Transcript) -> Turn:
        return self._answer(self.conversation.hear(transcript))

    def hear_again(self, transcript: Transcript, acted_on: Turn) -> Turn | None:
        """The full reading of an utterance whose instant command was already carried out."""
        turn = self.conversation.hear_again(transcript, acted_on)
        return None if turn is None else self._answer(turn)

    def _answer(self, turn: Turn) -> Turn:
        self._out(turn.line())
        self._on_turn(turn)  # before the reply is spoken: a crisis card shows while it is said
        if turn.reply.text:
            self.say(turn.reply.spoken)
        self._carry_out(turn.reply)
        return turn

    def _carry_out(self, reply: Reply) -> None:
        action = reply.action
        if isinstance(action, ChangeRate):
            self.speaker.change_rate(action.factor)
        elif isinstance(action, StartTimer):
            if self._timers is not None:
                self._timers.start(action.minutes)
        elif isinstance(action, CancelTimer):
            if self._timers is not None:
                self._timers.cancel()
        elif isinstance(action, EndCoaching):
            # A disclosure: no exercise goes on, no break timer calls back to "restart the
            # conversation" with a partner who may be the danger.
            if self._exercise is not None:
                self._obey(Stop("crisis", quietly=True))
            if self._timers is not None:
                self._timers.cancel()
        elif isinstance(action, StartBreathing):
            self._start_exercise(action)
        elif isinstance(action, Stop | Pause | Resume | Pace | Switch):
            self._obey(action)

    # -- breathing --------------------------------------------------------------------------

    def start_exercise(self, pattern: str, rounds: int | None = None) -> None:
        """An exercise straight away (`trust-coach breathe`), as if it had been asked for."""
        self._start_exercise(StartBreathing(pattern, rounds))

    def _start_exercise(self, action: StartBreathing) -> None:
        caution = self.conversation.exercise_started(action.pattern)
        self._exercise = BreathingExercise(self.conversation.coach.library.breathing,
                                           action.pattern, action.rounds,
                                           count_aloud=self._count_aloud, caution=caution)
        self._carry_out_exercise(self._exercise.opening())
        self._render_cues_to_come()
        self.tick(self.clock.now())  # the plan starts once the caution has been said

    def _obey(self, command: Command) -> None:
        if self._exercise is not None:
            self._carry_out_exercise(self._exercise.on_command(command, self.clock.now()))
            self._render_cues_to_come()  # a new plan starts at the next tick

    def _render_cues_to_come(self) -> None:
        if self._exercise is not None:
            for cue in self._exercise.cues_to_come():
                self._cue_sound(cue)

    def tick(self, now: float) -> None:
        """The clock moved: play what is due, and say when a break timer has run out."""
        if self._exercise is not None:
            self._carry_out_exercise(self._exercise.on_tick(now))

    def check_timers(self) -> None:
        """Say so when a break timer has run out (not more often than TIMER_POLL)."""
        if self._timers is None or time.monotonic() - self._timers_checked < TIMER_POLL:
            return
        self._timers_checked = time.monotonic()
        if (done := self._timers.take_due()) is not None:
            self.say(self.conversation.timer_finished(done.minutes), label="coach")

    def _carry_out_exercise(self, events: list[Event]) -> None:
        for event in events:
            self._on_exercise(event)
            if isinstance(event, SayLine):
                self.say(event.text, label="coach")
            elif isinstance(event, PlanChanged):
                self._sink_map = (self.clock.now(), getattr(self.speaker.sink, "position", 0.0))
            elif isinstance(event, PlayCue):
                self._play_cue(event.cue, event.due)
            elif isinstance(event, Finished):
                self._exercise = None
                self.conversation.exercise_ended(event)

    def _play_cue(self, cue: Cue, due: float) -> None:
        self._out(f"cue {cue.round}.{cue.phase + 1} {cue.kind}: {cue.text}")
        self._place_in_file(due)
        audio = self._cue_sound(cue)
        limit = cue.seconds - CUE_ROOM
        if audio is not None and audio.duration > limit:
            audio = _shorten(audio, limit)
        # The onset is when the sound starts: what a listener hears.
        self.onsets.append(CueOnset(due, self.clock.now()))
        if audio is None:
            return
        ears = self._ears if self.speaker.sink.audible else _NOBODY
        ears.speaking()
        try:
            self.speaker.sink.play(audio)
        except Exception as error:  # a speaker failing mid-exercise must not end the loop
            self._report(f"error: cue not played ({error})")
        finally:
            ears.spoke()

    def _place_in_file(self, due: float) -> None:
        """Written into a WAV file on another clock: silence up to where the cue is due, so
        the file keeps the schedule. (When the file is the clock, waiting already wrote it.)"""
        sink = self.speaker.sink
        if self._sink_map is None or getattr(self.clock, "sink", None) is sink \
                or not hasattr(sink, "position"):
            return
        clock_at, file_at = self._sink_map
        if (gap := file_at + (due - clock_at) - sink.position) > 0:
            sink.pause(gap)

    def _cue_sound(self, cue: Cue) -> AudioChunk | None:
        if self._tone:
            if cue.kind in ("hold", "count"):
                return None  # holds are quiet: that is when the coach can hear "stop"
            seconds = max(min(cue.seconds, 1.5), cue.seconds - LISTEN_GAP)
            key = ("tone", cue.kind, round(seconds, 3))
            if key not in self._cue_sounds:
                self._cue_sounds[key] = breathing_tone(cue.kind, seconds)
            return self._cue_sounds[key]
        synthesizer = self.speaker.synthesizer
        if synthesizer is None:
            return None
        key = ("speech", cue.text, synthesizer.name, synthesizer.rate)
        if key not in self._cue_sounds:
            try:
                self._cue_sounds[key] = synthesizer.synthesize(cue.text)
            except SpeechOutputError as error:
                self._report(f"error: {error}")
                self._cue_sounds[key] = None
        return self._cue_sounds[key]


def _shorten(audio: AudioChunk, seconds: float) -> AudioChunk:
    keep = max(1, round(seconds * audio.rate))
    samples = np.frombuffer(audio.samples, dtype="<i2")[:keep].astype(np.float32)
    fade = min(len(samples), round(CUE_FADE * audio.rate))
    samples[-fade:] *= np.linspace(1.0, 0.0, fade)
    return AudioChunk(samples.astype("<i2").tobytes(), audio.rate, 2, 1)

"""Running a guided breathing exercise: cues on schedule, listening in between.

Every cue is due at `anchor + cue.at` on one clock, measured from the (re)start of the plan, so a
late cue never delays the ones after it. A cue's audio that would run past its phase is cut
short (with a quick fade), never the phase stretched. Between cues the session listens; "stop"
ends it at once, "pause"/"resume" hold and continue it, "slower"/"faster" stretch or shrink the
phases by about 20 % from the next phase on, and naming another pattern switches to it. A crisis
disclosure ends the exercise and is handed back to the coach.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from intents.breathing import PACE_STEP, Cue, Pattern, rounds_for, schedule
from intents.catalog import CRISIS
from intents.library import Library
from intents.matcher import Intent, IntentMatcher
from intents.normalize import normalize, says_any
from intents.slots import breathing_pattern
from voice.audio import AudioChunk
from voice.clock import Clock
from voice.errors import SpeechOutputError
from voice.tones import breathing_tone
from voice.tts import Speaker

log = logging.getLogger(__name__)

CUE_FADE = 0.05  # seconds of fade when a cue is cut short
LISTEN_GAP = 1.0  # with tones, this much of each in/out phase is left quiet for listening
PAUSE_LIMIT = 300.0  # a pause longer than this ends the session


class Listener(Protocol):
    def listen(self, until: float) -> str | None:
        """Hear speech until `until` (session clock); the transcript of the first utterance
        that ends before then, or None."""

    def spoke(self) -> None:
        """We just made sound in the room: ignore the input that carries it."""


class Silence:
    """No microphone (`trust-coach breathe`): just wait."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def listen(self, until: float) -> str | None:
        self.clock.sleep_until(until)
        return None

    def spoke(self) -> None:
        pass


# What a person can ask of a session while it runs.
@dataclass(frozen=True, slots=True)
class Stop:
    pass


@dataclass(frozen=True, slots=True)
class Pause:
    pass


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class Pace:
    factor: float  # phase lengths are multiplied by this


@dataclass(frozen=True, slots=True)
class Switch:
    pattern: str


@dataclass(frozen=True, slots=True)
class Crisis:
    intent: Intent


Command = Stop | Pause | Resume | Pace | Switch | Crisis


@dataclass
class _State:
    pattern: Pattern
    rounds: int | None
    pace: float = 1.0
    plan: list[Cue] = field(default_factory=list)
    index: int = 0
    anchor: float = 0.0
    sink_anchor: float | None = None


@dataclass
class SessionResult:
    completed: bool
    ended_by: str = ""  # "", "stop", "crisis", "pause timeout"
    pattern: str = ""
    onsets: list[tuple[float, float]] = field(default_factory=list)  # (due, actual), session s
    crisis: Intent | None = None


class BreathingSession:
    def __init__(self, library: Library, speaker: Speaker, clock: Clock, *,
                 listener: Listener | None = None, matcher: IntentMatcher | None = None,
                 tone: bool = False, count_aloud: bool = False,
                 on_line: Callable[[str], None] | None = None) -> None:
        if library.breathing is None:
            raise ValueError("the library has no breathing content")
        self.content = library.breathing
        self.speaker = speaker
        self.clock = clock
        self.listener = listener or Silence(clock)
        self.matcher = matcher
        self.tone = tone
        self.count_aloud = count_aloud
        self.on_line = on_line or (lambda line: None)
        self.cautioned = False
        # Each cue's sound, made once: ("speech", text, rate) or ("tone", phase, seconds).
        self._cue_audio: dict[tuple[str, str, float], AudioChunk | None] = {}

    # -- the session ---------------------------------------------------------------------------

    def run(self, pattern_name: str, rounds: int | None = None) -> SessionResult:
        state = _State(self._pattern(pattern_name), rounds)
        result = SessionResult(completed=False, pattern=state.pattern.name)
        if not self.cautioned:
            self._say(self.content.lines.caution)
            self.cautioned = True
        if state.pattern.caution:
            self._say(state.pattern.caution)
        self._replan(state, first_round=1, first_phase=0)
        while state.index < len(state.plan):
            cue = state.plan[state.index]
            due = state.anchor + cue.at
            heard = self.listener.listen(due)
            if heard is not None:
                command = self._command(heard, state.pattern)
                if command is not None and not self._obey(command, state, result):
                    return result
                continue  # listen again: the plan may have changed
            self.clock.sleep_until(due)
            self._place_in_sink(state.sink_anchor, cue.at)
            self._play_cue(cue, due, result)
            state.index += 1
        return self._finish(state, result)

    def _obey(self, command: Command, state: _State, result: SessionResult) -> bool:
        """Carry out a command heard mid-session; False when the session is over."""
        if isinstance(command, Stop | Crisis):
            return self._end(result, command)
        if isinstance(command, Pause):
            self._say(self.content.lines.paused)
            after = self._wait_for_resume(state.pattern, result)
            if after is None:
                return False
            self._say(self.content.lines.resumed)
            if not isinstance(after, Resume):  # "slower" or a pattern said while paused
                return self._obey(after, state, result)
            # The interrupted breath starts again from its beginning.
            start = state.plan[_phase_start(state.plan, state.index)]
            self._replan(state, start.round, start.phase)
        elif isinstance(command, Pace):
            state.pace *= command.factor
            self._say(self.content.lines.slower if command.factor > 1
                      else self.content.lines.faster)
            # The breath in progress runs its course; the new pace starts with the next phase.
            nxt = _next_phase(state.plan, state.index)
            if nxt >= len(state.plan):
                return True  # the last breath: nothing left to stretch
            following = state.plan[nxt]
            due = state.anchor + following.at
            rest_of_breath = state.plan[state.index:nxt]  # its counts keep their times
            old_anchor = state.anchor
            self._replan(state, following.round, following.phase,
                         start=max(due, self.clock.now()))
            state.plan = [replace(c, at=old_anchor + c.at - state.anchor)
                          for c in rest_of_breath] + state.plan
        elif isinstance(command, Switch):
            state.pattern = self._pattern(command.pattern)
            state.rounds = None
            result.pattern = state.pattern.name
            self._say(self.content.lines.switched.format(title=state.pattern.title))
            self._replan(state, 1, 0)  # the new pattern starts from the top
        return True

    def _end(self, result: SessionResult, command: Stop | Crisis) -> bool:
        if isinstance(command, Crisis):
            result.ended_by, result.crisis = "crisis", command.intent
        else:
            result.ended_by = "stop"
            self._say(self.content.lines.stopped)
        return False

    def _replan(self, state: _State, first_round: int, first_phase: int,
                start: float | None = None) -> None:
        """A new plan from this round and phase on, anchored at `start` (default now): later
        cues keep their spacing from there, so nothing before can make them drift."""
        total = rounds_for(state.pattern, state.rounds)
        state.plan = schedule(state.pattern, dict(self.content.cues), total, state.pace,
                              count_aloud=self.count_aloud and not self.tone,
                              first_round=first_round, first_phase=first_phase)
        for cue in state.plan:  # synthesise every cue now, so none is late for its time
            self._cue_sound(cue)
        now = self.clock.now()
        state.anchor = now if start is None else start
        sink = self._sink_position()
        state.sink_anchor = None if sink is None else sink + (state.anchor - now)
        state.index = 0

    def _finish(self, state: _State, result: SessionResult) -> SessionResult:
        if state.plan:
            last = state.plan[-1]
            end = state.anchor + last.at + last.seconds
            while (heard := self.listener.listen(end)) is not None:  # the last out-breath
                command = self._command(heard, state.pattern)
                if isinstance(command, Stop | Crisis):
                    self._end(result, command)
                    return result
            self.clock.sleep_until(end)
            self._place_in_sink(state.sink_anchor, last.at + last.seconds)
        result.completed = True
        self._say(self.content.lines.closing)
        return result

    def _pattern(self, name: str) -> Pattern:
        patterns = self.content.patterns
        if name not in patterns:
            from voice.errors import UsageError

            raise UsageError(f"unknown breathing pattern {name!r}; choose one of "
                             f"{', '.join(patterns)}")
        return patterns[name]

    def _wait_for_resume(self, pattern: Pattern, result: SessionResult) -> Command | None:
        """While paused: the command that carries on (resume, or a change that implies it),
        or None once the session is over."""
        deadline = self.clock.now() + PAUSE_LIMIT
        while self.clock.now() < deadline:
            heard = self.listener.listen(deadline)
            if heard is None:
                break
            command = self._command(heard, pattern)
            if isinstance(command, Stop | Crisis):
                self._end(result, command)
                return None
            if isinstance(command, Resume | Pace | Switch):
                return command
        result.ended_by = "pause timeout"
        self._say(self.content.lines.stopped)
        return None

    # -- commands ------------------------------------------------------------------------------

    def _command(self, heard: str, pattern: Pattern) -> Command | None:
        """What a heard utterance asks of the session, or None to carry on."""
        text = normalize(heard)
        self.on_line(f'heard during breathing: "{heard}"')
        intent_id = ""
        if self.matcher is not None:
            intent = self.matcher.understand(heard)
            if intent.id == CRISIS:
                return Crisis(intent)
            intent_id = intent.id
        commands = self.content.commands
        if says_any(text, commands.pause):
            return Pause()
        if says_any(text, commands.resume):
            return Resume()
        if intent_id == "stop" or text in ("stop", "stop it", "that is enough"):
            return Stop()
        if intent_id == "slower" or text == "slower":
            return Pace(PACE_STEP)
        if intent_id == "faster" or text == "faster":
            return Pace(1 / PACE_STEP)
        named = breathing_pattern(text)
        if named and named != pattern.name and (intent_id == "calm_down" or "breath" in text):
            return Switch(named)
        return None

    # -- sound ---------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.on_line(f'coach: "{text}"')
        try:
            self.speaker.say(text)
        except SpeechOutputError as error:
            self.on_line(f"error: {error}")
        self.listener.spoke()

    def _play_cue(self, cue: Cue, due: float, result: SessionResult) -> None:
        self.on_line(f"cue {cue.round}.{cue.phase + 1} {cue.kind}: {cue.text}")
        audio = self._cue_sound(cue)
        limit = cue.seconds - 0.05  # leave a breath of silence before the next cue
        if audio is not None and audio.duration > limit:
            audio = _shorten(audio, limit)
        # The onset is when the sound starts, after any synthesis: what a listener hears.
        result.onsets.append((due, self.clock.now()))
        if audio is None:
            return
        try:
            self.speaker.sink.play(audio)
        except Exception as error:  # a speaker failing mid-session must not end the loop
            self.on_line(f"error: cue not played ({error})")
        self.listener.spoke()

    def _cue_sound(self, cue: Cue) -> AudioChunk | None:
        if self.tone:
            if cue.kind in ("hold", "count"):
                return None
            seconds = max(min(cue.seconds, 1.5), cue.seconds - LISTEN_GAP)
            tone_key = ("tone", cue.kind, seconds)
            if tone_key not in self._cue_audio:
                self._cue_audio[tone_key] = breathing_tone(cue.kind, seconds)
            return self._cue_audio[tone_key]
        synthesizer = self.speaker.synthesizer
        if synthesizer is None:
            return None
        key = ("speech", cue.text, synthesizer.rate)
        if key not in self._cue_audio:
            try:
                self._cue_audio[key] = synthesizer.synthesize(cue.text)
            except SpeechOutputError as error:
                self.on_line(f"error: {error}")
                self._cue_audio[key] = None
        return self._cue_audio[key]

    def _sink_position(self) -> float | None:
        if getattr(self.clock, "sink", None) is self.speaker.sink:
            return None  # the file is the clock: waiting already wrote the silence
        return getattr(self.speaker.sink, "position", None)

    def _place_in_sink(self, sink_anchor: float | None, offset: float) -> None:
        """In a WAV file, silence up to where the cue is due, so the file keeps the schedule."""
        if sink_anchor is None:
            return
        gap = sink_anchor + offset - self.speaker.sink.position
        if gap > 0:
            self.speaker.sink.pause(gap)


def _phase_start(plan: list[Cue], index: int) -> int:
    """The index of the cue that began the phase `plan[index]` belongs to."""
    while index > 0 and plan[index].kind == "count":
        index -= 1
    return index


def _next_phase(plan: list[Cue], index: int) -> int:
    """The index of the first cue of the next phase (skipping counts of this one)."""
    index += 1 if plan[index].kind == "count" else 0
    while index < len(plan) and plan[index].kind == "count":
        index += 1
    return index


def _shorten(audio: AudioChunk, seconds: float) -> AudioChunk:
    keep = max(1, round(seconds * audio.rate))
    samples = np.frombuffer(audio.samples, dtype="<i2")[:keep].astype(np.float32)
    fade = min(len(samples), round(CUE_FADE * audio.rate))
    samples[-fade:] *= np.linspace(1.0, 0.0, fade)
    return AudioChunk(samples.astype("<i2").tobytes(), audio.rate, 2, 1)

"""A guided breathing exercise as a state machine driven by the front end's clock.

The front end calls `on_tick(now)` whenever its clock moves and `on_command(command, now)` when
the person asks for something; each returns what to do: lines to say, cues to play, and when the
plan changes. Nothing here waits, listens or makes sound, so recognising speech (which may take a
second) can never make a cue late, and the same machine serves the voice loop, typed chat and a
rendered WAV file.

Every cue is due at an absolute time on the front end's clock, fixed when the plan is made, so a
late cue never delays the ones after it. Lines returned by `on_command` are said before the next
`on_tick`; a plan that starts after them ("resume", a new pattern) is anchored at that tick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from intents.breathing import Cue, Pattern, rounds_for, schedule
from intents.library import Breathing

log = logging.getLogger(__name__)

PAUSE_LIMIT = 300.0  # seconds; a pause longer than this ends the exercise


# --- what a person can ask of a running exercise ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Stop:
    reason: str = "stop"  # "stop", or what ended it instead ("crisis", "control")
    quietly: bool = False  # something more important is being said: no "we'll stop there"


@dataclass(frozen=True, slots=True)
class Pause:
    quietly: bool = False  # paused to ask the person something: no "say resume" line


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class Pace:
    factor: float  # phase lengths are multiplied by this


@dataclass(frozen=True, slots=True)
class Switch:
    pattern: str


Command = Stop | Pause | Resume | Pace | Switch


# --- what the exercise asks of the front end -------------------------------------------------


@dataclass(frozen=True, slots=True)
class SayLine:
    text: str


@dataclass(frozen=True, slots=True)
class PlayCue:
    cue: Cue
    due: float  # on the front end's clock


@dataclass(frozen=True, slots=True)
class PlanChanged:
    """The whole upcoming plan, for anything that shows the exercise (the web pacer)."""

    pattern: str
    pace: float
    paused: bool
    upcoming: tuple[tuple[float, Cue], ...]  # (due, cue), on the front end's clock


@dataclass(frozen=True, slots=True)
class Finished:
    pattern: str
    completed: bool
    ended_by: str  # "" when completed; "stop", "crisis", "control", "pause timeout"


Event = SayLine | PlayCue | PlanChanged | Finished


@dataclass(frozen=True, slots=True)
class _Replan:
    """A plan to make at the next tick, once the lines announcing it have been said."""

    first_round: int
    first_phase: int
    not_before: float | None = None  # the next phase keeps its time if the lines end sooner


class BreathingExercise:
    def __init__(self, content: Breathing, pattern: str, rounds: int | None = None, *,
                 count_aloud: bool = False, caution: bool = True) -> None:
        if pattern not in content.patterns:
            raise ValueError(f"unknown breathing pattern {pattern!r}")
        self.content = content
        self.count_aloud = count_aloud
        self._pattern: Pattern = content.patterns[pattern]
        self._rounds = rounds
        self._pace = 1.0
        self._caution = caution
        self._upcoming: list[tuple[float, Cue]] = []
        self._replan: _Replan | None = _Replan(1, 0)
        self._resume_from: tuple[int, int] | None = None  # (round, phase) when paused
        self._pause_deadline: float | None = None
        self._end: float | None = None  # end of the last breath out
        self._finished: Finished | None = None

    @property
    def pattern(self) -> str:
        return self._pattern.name

    @property
    def finished(self) -> Finished | None:
        return self._finished

    @property
    def paused(self) -> bool:
        return self._pause_deadline is not None

    def opening(self) -> list[SayLine]:
        """What is said before the first cue: the caution (once a conversation), the pattern's."""
        lines = [self.content.lines.caution] if self._caution else []
        if self._pattern.caution:
            lines.append(self._pattern.caution)
        return [SayLine(line) for line in lines]

    def cues_to_come(self) -> list[Cue]:
        """The cues of the plan as it stands, including one not yet anchored: a front end
        renders their sound before the next tick, so none is late for its time."""
        if self._replan is None:
            return [cue for _, cue in self._upcoming]
        return [cue for _, cue in self._upcoming] + self._schedule(self._replan)

    def next_due(self) -> float | None:
        """When `on_tick` next has something to do (None: only a command can change it)."""
        if self._finished is not None:
            return None
        if self._replan is not None:
            return float("-inf")  # at once
        if self._pause_deadline is not None:
            return self._pause_deadline
        if self._upcoming:
            return self._upcoming[0][0]
        return self._end

    # -- the clock --------------------------------------------------------------------------

    def on_tick(self, now: float) -> list[Event]:
        if self._finished is not None:
            return []
        events: list[Event] = []
        if self._replan is not None:
            events.append(self._make_plan(self._replan, now))
        if self._pause_deadline is not None:
            if now >= self._pause_deadline:
                return [SayLine(self.content.lines.stopped), self._finish("pause timeout")]
            return events
        while self._upcoming and self._upcoming[0][0] <= now:
            due, cue = self._upcoming.pop(0)
            events.append(PlayCue(cue, due))
        if not self._upcoming and self._end is not None and now >= self._end:
            events += [SayLine(self.content.lines.closing), self._finish("")]
        return events

    # -- commands ---------------------------------------------------------------------------

    def on_command(self, command: Command, now: float) -> list[Event]:
        if self._finished is not None:
            return []
        lines = self.content.lines
        if isinstance(command, Stop):
            said = [] if command.quietly else [SayLine(lines.stopped)]
            return [*said, self._finish(command.reason)]
        if not self._upcoming and self._replan is None and self._pause_deadline is None:
            return []  # the last breath out: only stop changes anything now
        if isinstance(command, Pause):
            return self._pause(now, command.quietly)
        if self._pause_deadline is not None:  # resume, or a change that implies it
            self._pause_deadline = None
            said = [SayLine(lines.resumed)]
            if isinstance(command, Pace):
                self._pace *= command.factor
                said.append(SayLine(lines.slower if command.factor > 1 else lines.faster))
            if isinstance(command, Switch):
                return [*said, *self._switch(command.pattern)]
            first_round, first_phase = self._resume_from or (1, 0)
            self._replan = _Replan(first_round, first_phase)
            return said
        if isinstance(command, Pace):
            return self._change_pace(command.factor)
        if isinstance(command, Switch):
            return self._switch(command.pattern)
        return []  # resume while running: nothing to do

    def _pause(self, now: float, quietly: bool) -> list[Event]:
        if self._pause_deadline is not None:
            return []
        # The interrupted breath starts again from its beginning when they carry on (a plan
        # made from a phase always starts at that phase's first cue).
        if self._upcoming:
            cue = self._upcoming[0][1]
            self._resume_from = (cue.round, cue.phase)
        elif self._replan is not None:
            self._resume_from = (self._replan.first_round, self._replan.first_phase)
        self._upcoming = []
        self._replan = None
        self._pause_deadline = now + PAUSE_LIMIT
        said = [] if quietly else [SayLine(self.content.lines.paused)]
        return [*said, self._plan_changed()]

    def _change_pace(self, factor: float) -> list[Event]:
        self._pace *= factor
        lines = self.content.lines
        said = SayLine(lines.slower if factor > 1 else lines.faster)
        # The breath in progress runs its course; the new pace starts with the next phase.
        cues = [c for _, c in self._upcoming]
        following = _next_phase(cues, 0) if cues else 0
        if following >= len(cues):
            return [said]  # the last breath: nothing left to stretch
        due, cue = self._upcoming[following]
        self._upcoming = self._upcoming[:following]
        self._replan = _Replan(cue.round, cue.phase, not_before=due)
        return [said]

    def _switch(self, pattern: str) -> list[Event]:
        if pattern not in self.content.patterns:
            return []
        self._pattern = self.content.patterns[pattern]
        self._rounds = None
        self._upcoming = []
        self._replan = _Replan(1, 0)  # the new pattern starts from the top
        return [SayLine(self.content.lines.switched.format(title=self._pattern.title))]

    # -- planning ---------------------------------------------------------------------------

    def _schedule(self, replan: _Replan) -> list[Cue]:
        return schedule(self._pattern, dict(self.content.cues),
                        rounds_for(self._pattern, self._rounds), self._pace,
                        count_aloud=self.count_aloud, first_round=replan.first_round,
                        first_phase=replan.first_phase)

    def _make_plan(self, replan: _Replan, now: float) -> PlanChanged:
        start = now if replan.not_before is None else max(replan.not_before, now)
        self._upcoming += [(start + cue.at, cue) for cue in self._schedule(replan)]
        self._replan = None
        if self._upcoming:
            due, last = self._upcoming[-1]
            self._end = due + last.seconds
        return self._plan_changed()

    def _plan_changed(self) -> PlanChanged:
        return PlanChanged(self._pattern.name, self._pace, self.paused, tuple(self._upcoming))

    def _finish(self, ended_by: str) -> Finished:
        self._upcoming = []
        self._replan = None
        self._pause_deadline = None
        self._finished = Finished(self._pattern.name, completed=not ended_by, ended_by=ended_by)
        return self._finished


def _next_phase(plan: list[Cue], index: int) -> int:
    """The index of the first cue of the next phase (skipping counts of this one)."""
    index += 1 if plan[index].kind == "count" else 0
    while index < len(plan) and plan[index].kind == "count":
        index += 1
    return index

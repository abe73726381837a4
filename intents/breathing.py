"""Breathing patterns and their schedule.

A pattern is data (breathing.toml): phases with lengths, a default number of rounds, a caution.
`schedule` turns a pattern into the exact list of cues with their start times: a pure function,
so timing can be tested exactly, and the session that plays it places every cue against one
clock from the session start instead of sleeping from cue to cue, so errors never add up.
"""

from __future__ import annotations

from dataclasses import dataclass

PHASE_KINDS = ("in", "top_up", "hold", "out")
PACE_STEP = 1.2  # "slower" stretches every phase by about 20 %, "faster" shrinks it


@dataclass(frozen=True, slots=True)
class Phase:
    kind: str  # in, top_up, hold, out
    seconds: float


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    title: str
    phases: tuple[Phase, ...]
    rounds: int
    max_rounds: int | None = None
    caution: str = ""

    @property
    def round_seconds(self) -> float:
        return sum(p.seconds for p in self.phases)


@dataclass(frozen=True, slots=True)
class BreathingLines:
    caution: str
    closing: str
    paused: str
    resumed: str
    slower: str
    faster: str
    stopped: str
    switched: str
    feeling_better: str
    feeling_worse: str


@dataclass(frozen=True, slots=True)
class BreathingCommands:
    pause: tuple[str, ...]
    resume: tuple[str, ...]
    better: tuple[str, ...]
    worse: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Cue:
    at: float  # seconds from the start of the plan
    seconds: float  # how long until the next cue: the phase, or one count of it
    kind: str  # the phase kind, or "count"
    text: str  # what is said (or, with tones, nothing)
    round: int  # 1-based
    phase: int  # index into the pattern's phases


def rounds_for(pattern: Pattern, requested: int | None) -> int:
    rounds = pattern.rounds if requested is None else requested
    if rounds < 1:
        raise ValueError("at least one round")
    if pattern.max_rounds is not None:
        rounds = min(rounds, pattern.max_rounds)
    return rounds


def schedule(pattern: Pattern, cues: dict[str, str], rounds: int, pace: float = 1.0, *,
             start: float = 0.0, count_aloud: bool = False, first_round: int = 1,
             first_phase: int = 0) -> list[Cue]:
    """Every cue of `rounds` rounds, from round `first_round` and phase `first_phase` on.

    `pace` multiplies every phase length (PACE_STEP per "slower"). With `count_aloud`, each
    whole second of a phase after the first gets its own counting cue ("two", "three", ...).
    """
    plan: list[Cue] = []
    at = start
    for round_number in range(first_round, rounds + 1):
        for index, phase in enumerate(pattern.phases):
            if round_number == first_round and index < first_phase:
                continue
            length = phase.seconds * pace
            counts = int(length) if count_aloud and length >= 2 else 0
            step = length / counts if counts else length
            plan.append(Cue(at, step, phase.kind, cues[phase.kind], round_number, index))
            for n in range(2, counts + 1):
                plan.append(Cue(at + (n - 1) * step, step, "count", _COUNT_WORDS[n],
                                round_number, index))
            at += length
    return plan


_COUNT_WORDS = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve"]

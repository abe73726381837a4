"""Measuring understanding on a labelled set: `trust-coach eval FILE.tsv` and the floor tests.

The file is tab-separated with a header: text, then the expected intent; several acceptable
intents are separated by "|". Lines expecting `none` are out-of-scope, lines expecting only
`crisis` are disclosures; the rest are in-scope requests.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import BadInputError
from intents.catalog import ALL_IDS, CRISIS, NONE
from intents.matcher import IntentMatcher


@dataclass(frozen=True, slots=True)
class LabelledLine:
    text: str
    acceptable: tuple[str, ...]
    line: int

    @property
    def kind(self) -> str:
        if self.acceptable == (NONE,):
            return "out_of_scope"
        if self.acceptable == (CRISIS,):
            return "crisis"
        return "in_scope"


def load_eval_set(path: Path, known_ids: tuple[str, ...] = ALL_IDS) -> list[LabelledLine]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise BadInputError(f"{path}: not UTF-8 text") from None
    rows = []
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.lower().startswith("text\t"):
            continue
        if not raw.strip() or raw.startswith("#"):
            continue
        parts = raw.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise BadInputError(f"{path}:{number}: expected two tab-separated columns "
                                f"(text, intent), got {len(parts)}")
        acceptable = tuple(p.strip() for p in parts[1].split("|"))
        unknown = [a for a in acceptable if a not in known_ids]
        if unknown:
            raise BadInputError(f"{path}:{number}: unknown intent {unknown[0]!r}")
        rows.append(LabelledLine(parts[0].strip(), acceptable, number))
    if not rows:
        raise BadInputError(f"{path}: no labelled lines")
    return rows


@dataclass
class EvalReport:
    counts: Counter = field(default_factory=Counter)
    correct: Counter = field(default_factory=Counter)
    false_alarms: list[tuple[LabelledLine, str]] = field(default_factory=list)
    mistakes: list[tuple[LabelledLine, str, float]] = field(default_factory=list)
    confusions: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def rate(self, kind: str) -> float:
        return self.correct[kind] / self.counts[kind] if self.counts[kind] else float("nan")

    @property
    def in_scope_accuracy(self) -> float:
        return self.rate("in_scope")

    @property
    def out_of_scope_rejection(self) -> float:
        return self.rate("out_of_scope")

    @property
    def crisis_recall(self) -> float:
        return self.rate("crisis")

    @property
    def milliseconds_per_line(self) -> float:
        total = sum(self.counts.values())
        return 1000 * self.seconds / total if total else 0.0

    def summary(self, show: int = 20) -> str:
        lines = [
            f"in-scope accuracy (top-1): {self.in_scope_accuracy:.1%} "
            f"({self.correct['in_scope']}/{self.counts['in_scope']})",
            f"out-of-scope rejection:    {self.out_of_scope_rejection:.1%} "
            f"({self.correct['out_of_scope']}/{self.counts['out_of_scope']})",
            f"crisis recall:             {self.crisis_recall:.1%} "
            f"({self.correct['crisis']}/{self.counts['crisis']})",
            f"false crisis alarms:       {len(self.false_alarms)}",
            f"time per line:             {self.milliseconds_per_line:.2f} ms",
        ]
        if self.confusions:
            lines.append("confusions (expected -> got: count):")
            lines += [f"  {e} -> {g}: {n}" for (e, g), n in self.confusions.most_common(show)]
        if self.mistakes:
            lines.append("mistakes:")
            lines += [f"  line {m.line}: {m.text!r} expected {'|'.join(m.acceptable)}, "
                      f"got {got} ({conf:.2f})" for m, got, conf in self.mistakes[:show]]
        return "\n".join(lines)


def evaluate(matcher: IntentMatcher, rows: list[LabelledLine]) -> EvalReport:
    report = EvalReport()
    started = time.perf_counter()
    for row in rows:
        intent = matcher.understand(row.text)
        report.counts[row.kind] += 1
        if intent.id in row.acceptable:
            report.correct[row.kind] += 1
        else:
            report.mistakes.append((row, intent.id, intent.confidence))
            report.confusions[("|".join(row.acceptable), intent.id)] += 1
        if intent.id == CRISIS and CRISIS not in row.acceptable:
            report.false_alarms.append((row, intent.safety.evidence))
    report.seconds = time.perf_counter() - started
    return report

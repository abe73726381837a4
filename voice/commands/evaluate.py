"""`trust-coach eval FILE.tsv`: accuracy of understanding on a labelled file."""

from __future__ import annotations

from pathlib import Path

from common.errors import EXIT_OK
from voice import wiring
from voice.settings import Settings


def run(settings: Settings, path: Path, show: int) -> int:
    from intents.evaluate import evaluate, load_eval_set

    report = evaluate(wiring.matcher(settings), load_eval_set(path))
    print(report.summary(show))
    return EXIT_OK

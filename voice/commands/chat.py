"""`trust-coach chat`: the same conversation, typed, one line per turn.

In a terminal an exercise runs in real time: each cue is printed when it is due, and a typed
"stop" or "slower" is obeyed. When the input is not a terminal (a file, a pipe), nobody is
there to breathe along, so an exercise is shown at once, cue by cue, and the next line read.
"""

from __future__ import annotations

import queue
import sys
import threading

from common.transcript import typed
from voice import wiring
from voice.commands import until_interrupted
from voice.settings import Settings

POLL = 0.5  # seconds between looks at the break timer while nobody types


def run(settings: Settings, speak: bool) -> int:
    from voice.clock import MonotonicClock, VirtualClock
    from voice.executor import LocalExecutor

    book = wiring.timers(settings)
    speaker = wiring.speaker(settings, speak=speak)
    interactive = sys.stdin.isatty()
    clock = MonotonicClock() if interactive else VirtualClock()
    executor = LocalExecutor(wiring.conversation(settings, timers=book), speaker, clock,
                             out=wiring.print_line, report=wiring.print_error, timers=book,
                             tone=settings.tone, count_aloud=settings.count_aloud)
    talk = _in_real_time if interactive else _at_once
    return until_interrupted(lambda: talk(executor, clock), speaker)


def _at_once(executor, clock) -> None:
    executor.open()
    for line in sys.stdin:
        executor.check_timers()
        if line.strip():
            executor.hear(typed(line.strip()))
        while executor.exercise_running:  # shown whole, on a clock that jumps
            clock.sleep_until(executor.next_due())
            executor.tick(clock.now())
        if executor.finished:
            return


def _in_real_time(executor, clock) -> None:
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    executor.open()
    while not executor.finished:
        due = executor.next_due()
        wait = POLL if due is None else max(0.0, min(POLL, due - clock.now()))
        try:
            line = lines.get(timeout=wait)
        except queue.Empty:
            line = ""
        if line is None:
            return
        if line.strip():
            executor.hear(typed(line.strip()))
        executor.tick(clock.now())
        executor.check_timers()

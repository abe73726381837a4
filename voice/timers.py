"""The time-out timer: "call us back in twenty minutes", kept on disk so it survives a restart.

One break timer at a time (a new one replaces it). Stored as JSON in the state directory and
written atomically; a file that cannot be read is set aside (renamed, never deleted) with one
line saying so, and the program carries on without it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from common.files import write_text_atomically
from intents.slots import MAX_BREAK as MAX_MINUTES
from intents.slots import MIN_BREAK as MIN_MINUTES

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Timer:
    minutes: int
    due: float  # seconds since the epoch: survives restarts, unlike a monotonic clock
    created: float


class TimerBook:
    def __init__(self, state_dir: Path, now: Callable[[], float] = time.time,
                 report: Callable[[str], None] | None = None) -> None:
        self.path = state_dir / "timers.json"
        self.now = now
        self.report = report or (lambda line: log.warning("%s", line))
        self._write_failed = False
        self._timer = self._load()

    def _load(self) -> Timer | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            self._set_aside(f"cannot read ({error})")
            return None
        try:
            entry = data["timer"]
            if entry is None:
                return None
            return Timer(int(entry["minutes"]), float(entry["due"]), float(entry["created"]))
        except (KeyError, TypeError, ValueError) as error:
            self._set_aside(f"unexpected content ({error!r})")
            return None

    def _set_aside(self, problem: str) -> None:
        broken = self.path.with_name(f"{self.path.name}.broken-{int(self.now())}")
        try:
            self.path.rename(broken)
        except OSError:
            broken = self.path
        self.report(f"error: {self.path}: {problem}; kept as {broken.name}, timers start empty")

    def _save(self) -> None:
        """Write atomically; if the state folder cannot be written, say so once and keep the
        timer in memory for this run."""
        body = {"timer": asdict(self._timer) if self._timer else None}
        try:
            # `timers --cancel` may write while the loop does: each writer has its own
            # temporary file, and the rename is one step.
            write_text_atomically(self.path, json.dumps(body, indent=2) + "\n")
        except OSError as error:
            if not self._write_failed:
                self.report(f"error: {self.path.parent}: cannot save the timer "
                            f"({error.strerror or error}); it will not survive a restart")
            self._write_failed = True

    def _refresh(self) -> None:
        """Another trust-coach (`trust-coach timers --cancel`) may have changed the file."""
        if not self._write_failed:
            self._timer = self._load()

    @property
    def active(self) -> Timer | None:
        self._refresh()
        return self._timer

    def start(self, minutes: int) -> Timer:
        if not MIN_MINUTES <= minutes <= MAX_MINUTES:
            raise ValueError(f"a break is {MIN_MINUTES} to {MAX_MINUTES} minutes")
        now = self.now()
        self._timer = Timer(minutes, now + 60 * minutes, now)
        self._save()
        return self._timer

    def cancel(self) -> Timer | None:
        self._refresh()
        timer, self._timer = self._timer, None
        if timer is not None:
            self._save()
        return timer

    def take_due(self) -> Timer | None:
        """The timer if it has run out (and forget it), else None."""
        self._refresh()
        if self._timer is not None and self._timer.due <= self.now():
            return self.cancel()
        return None

    def seconds_left(self) -> float | None:
        timer = self.active
        return None if timer is None else max(0.0, timer.due - self.now())

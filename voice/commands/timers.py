"""`trust-coach timers`: show or cancel the time-out timer."""

from __future__ import annotations

import math

from common.errors import EXIT_OK
from voice import wiring
from voice.settings import Settings


def run(settings: Settings, cancel: bool) -> int:
    book = wiring.timers(settings)
    if cancel:
        timer = book.cancel()
        print("cancelled" if timer else "no timer running")
        return EXIT_OK
    left = book.seconds_left()
    if left is None:
        print("no timer running")
    elif left <= 0:
        print(f"{book.active.minutes} minute break: time is up (the coach says so when it "
              "next runs)")
    elif left < 60:
        print(f"{book.active.minutes} minute break: less than a minute left")
    else:
        print(f"{book.active.minutes} minute break: {math.ceil(left / 60)} minutes left")
    return EXIT_OK

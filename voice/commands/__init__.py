"""The body of each `trust-coach` command, one module each; `voice.__main__` parses the command
line and calls `run` of the one asked for. Each returns the exit code."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable

from common.errors import EXIT_OK


class Stopped(Exception):
    """SIGTERM (systemd stopping the service, `kill`): stop as for Ctrl-C."""


def until_interrupted(run: Callable[[], None], speaker) -> int:
    """Run until done, Ctrl-C or SIGTERM; then close the speaker (a reply file is kept), and
    say so. On a failure, what was being written is not kept."""
    def stop(signum, frame) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        run()
    except (KeyboardInterrupt, Stopped):
        print("stopped", file=sys.stderr, flush=True)
    except BaseException:
        speaker.abandon()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    speaker.close()
    return EXIT_OK

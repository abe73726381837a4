"""Where trust-coach keeps files of its own, following the XDG base directories.

Caches (built language models, trained classifiers) can be deleted at any time; the state
directory holds the break timer. Neither ever holds audio or what was said.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "trust-coach"


def writable_cache_dir(preferred: Path | None = None) -> Path:
    """The cache directory, or a private temporary one when it cannot be written (a read-only
    home): slower to start next time, but never a failure."""
    folder = preferred or cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return folder
    except OSError:
        return Path(tempfile.mkdtemp(prefix="trust-coach-cache-"))


def state_dir() -> Path:
    """Where timers and other small state live between runs (XDG state directory)."""
    if env := os.environ.get("TRUST_COACH_STATE"):
        return Path(env)
    base = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return base / "trust-coach"

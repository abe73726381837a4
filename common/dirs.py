"""Where trust-coach keeps files of its own, following the XDG base directories.

Caches (built language models, trained classifiers, embeddings) can be deleted at any time; the
state directory holds the break timer. Neither ever holds audio or what was said.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

APP = "trust-coach"


def _xdg(variable: str, fallback: Path) -> Path:
    return Path(os.environ.get(variable) or fallback) / APP


def cache_dir() -> Path:
    return _xdg("XDG_CACHE_HOME", Path.home() / ".cache")


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", Path.home() / ".config")


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", Path.home() / ".local" / "share")


def state_dir() -> Path:
    """Where timers and other small state live between runs ($TRUST_COACH_STATE, else the XDG
    state directory)."""
    if env := os.environ.get("TRUST_COACH_STATE"):
        return Path(env)
    return _xdg("XDG_STATE_HOME", Path.home() / ".local" / "state")


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

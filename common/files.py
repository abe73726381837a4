"""Writing files so that nobody ever sees half of one: into a temporary file beside the target,
then renamed over it in one step. A failure (or Ctrl-C) removes the temporary file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path, mode: int | None = None) -> Iterator[Path]:
    """A temporary path in the target's folder; renamed to `target` when the block succeeds.

    The temporary name is unique per writer, so two programs writing the same cache at once
    never write into one file. `mode` sets the permissions before the file becomes visible.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        if mode is not None:
            temporary.chmod(mode)
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes_atomically(target: Path, data: bytes, mode: int | None = None) -> None:
    with atomic_path(target, mode) as temporary:
        temporary.write_bytes(data)


def write_text_atomically(target: Path, text: str, mode: int | None = None) -> None:
    write_bytes_atomically(target, text.encode("utf-8"), mode)

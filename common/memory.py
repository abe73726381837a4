"""Handing freed memory back to the system.

A model run with tensors of a new size each time (Piper's sentences) allocates and frees large
blocks. glibc keeps freed heap memory for reuse, so the process's resident size drifts upward
over a day though nothing is held; `malloc_trim` returns what is free at the end of a piece of
work. Elsewhere (musl, macOS) there is no such call and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def give_back_freed_memory() -> bool:
    """Return the C heap's free memory to the system; False where that cannot be done."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True

"""Handing freed memory back to the system.

A model run with tensors of a new size each time (Piper's sentences) allocates and frees large
blocks. glibc keeps freed heap memory for reuse, so the process's resident size drifts upward
over a day though nothing is held; `malloc_trim` returns what is free at the end of a piece of
work. glibc also gives each new thread a heap of its own, whose free top `malloc_trim` cannot
return: replies are made on a thread each, so every thread shares the one heap instead.
Elsewhere (musl, macOS) there are no such calls and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


@functools.cache
def _glibc_call(name: str):
    library = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(library), name) if library else None
    except (OSError, AttributeError):
        return None


def share_one_heap() -> bool:
    """From now on every new thread allocates from the main heap. Call it before threads
    start (the program's first line does); False where that cannot be done."""
    mallopt = _glibc_call("mallopt")
    return mallopt is not None and mallopt(M_ARENA_MAX, 1) == 1


def give_back_freed_memory() -> bool:
    """Return the C heap's free memory to the system; False where that cannot be done."""
    trim = _glibc_call("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True

"""Giving freed memory back to the operating system during long runs."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, Windows, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim") if name else None
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Return the allocator's free pages to the system. Freed NumPy and torch buffers otherwise
    stay in the process's heaps, scattered between live ones, and a run of many similar steps
    (a scene's tiles) keeps growing its resident memory with the scene, not with the step."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

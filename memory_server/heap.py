"""Giving the heap that a burst of work freed back to the operating system.

glibc keeps freed memory mapped in the process (in each thread's arena too), so a one-off burst of allocations,
such as building the embedder's session or embedding a taxonomy's few hundred prototype texts on the embedder's
threads, would leave the server tens of MB larger for good. `malloc_trim` returns it; elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes


def give_back() -> None:
    """Return the freed heap of every arena to the OS (glibc's malloc_trim; a no-op where there is none)."""
    try:
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # the symbols the process has loaded
    except (OSError, TypeError):  # no such lookup on this platform
        return
    if trim is not None:
        trim(0)

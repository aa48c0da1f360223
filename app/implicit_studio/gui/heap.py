"""Keep Python's cyclic garbage collector from stalling the UI thread.

A full (generation 2) collection walks every tracked object of the process; with torch,
PySide6, vispy and pyqtgraph loaded that is ~260,000 objects and 100-200 ms here, with
the GIL held, so the UI thread stops too. A fitting or reconstruction worker allocates
enough to trigger one about every second. Freezing the objects alive once the window is
built (``gc.freeze``) takes them out of every later collection, which then only walk
what the session created since.
"""

from __future__ import annotations

import gc
import importlib
import logging
import time

log = logging.getLogger(__name__)

# modules imported on first use (by workers, and by the loader on the UI thread): loaded up
# front, so the UI thread never compiles a module mid-session and their objects are frozen too
WORKER_MODULES = ("implicit_studio.io.files", "implicit_studio.engine.fitting.siren_fit", "implicit_studio.evaluate.metrics")


def settle_heap() -> None:
    """Import the workers' modules, collect the garbage there is, and freeze the survivors."""
    start = time.perf_counter()
    for name in WORKER_MODULES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    log.debug("froze %d objects in %.2f s", gc.get_freeze_count(), time.perf_counter() - start)

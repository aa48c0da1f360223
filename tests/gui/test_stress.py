"""The window under abuse: rapid reconstruct / cancel / model-switch cycles, and closing mid-run."""

from __future__ import annotations

import ctypes
import gc
import os

import pytest

from conftest import random_checkpoint
from .conftest import drop

pytestmark = pytest.mark.gui
CYCLES = 100
MAX_GROWTH_MB = 50
SWITCH_MODELS = ["siren", "relu-mlp", "convonet-3plane"]


def rss_mb() -> float:
    """Resident memory of this process in MB (psutil if installed, else /proc/self/statm).

    Freed heap is handed back to the system first (glibc's ``malloc_trim``): every worker
    thread gets its own malloc arena, which keeps the high-water mark of a burst of
    concurrent runs; untrimmed, RSS wanders by ~100 MB between bursts without any leak.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass                                  # not glibc: measure as is
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    return psutil.Process().memory_info().rss / 1e6


@pytest.fixture
def started_threads(window, monkeypatch):
    """Every worker thread the window's model starts, kept to check none is left running."""
    started = []
    original = window.model._start

    def record(thread):
        started.append(thread)
        original(thread)

    monkeypatch.setattr(window.model, "_start", record)
    return started


@pytest.fixture
def learned_checkpoint(monkeypatch, tmp_path):
    """Random ConvONet weights in a private checkpoint folder, so a learned model is among the switches."""
    folder = tmp_path / "checkpoints"
    random_checkpoint(folder / "convonet-3plane.safetensors")
    monkeypatch.setenv("IMPLICIT_STUDIO_CHECKPOINTS", str(folder))


def burst(window, qtbot, cycles: int) -> None:
    """Switch model, reconstruct, wait 0-40 ms and cancel every third time, ``cycles`` times."""
    for cycle in range(cycles):
        window.model_panel.set_model(SWITCH_MODELS[cycle % len(SWITCH_MODELS)])
        window.reconstruct()
        qtbot.wait(cycle % 5 * 10)
        if cycle % 3 == 0:
            window.model.cancel()


def test_rapid_reconstruct_cancel_and_model_switches(window, qtbot, sphere_file, started_threads,
                                                     learned_checkpoint):
    """100 rapid cycles over a learned and two fitted models: no crash, no thread left, no growth."""
    from implicit_studio.gui.workers import SessionThread

    window.model_panel.apply({"resolution0": 8, "levels": 1, "seconds": 1, "threshold": 0.0})
    with qtbot.waitSignal(window.idle, timeout=60_000):
        drop(window, sphere_file)
    # warm-up: torch, the model store, and the malloc arenas, which in a process that has already run
    # the rest of the suite keep growing for a first burst (61-71 MB over the first 100 cycles measured
    # in full runs, under 50 MB alone): only the second burst is measured, so a steady leak still shows
    for cycles in (10, CYCLES):
        burst(window, qtbot, cycles)
        with qtbot.waitSignal(window.idle, timeout=60_000):
            window.reconstruct()
        qtbot.waitUntil(lambda: not window.model._threads, timeout=30_000)
    gc.collect()
    before = rss_mb()

    burst(window, qtbot, CYCLES)
    with qtbot.waitSignal(window.idle, timeout=60_000):
        window.reconstruct()
    qtbot.waitUntil(lambda: not window.model._threads, timeout=30_000)

    assert len(started_threads) > CYCLES
    assert not [t.objectName() for t in started_threads if t.isRunning()]
    assert not [e for e in window.errors if "Internal error" in e]
    assert window.model.runs[0].done and window.model.runs[0].error is None
    del started_threads[:]
    gc.collect()
    alive = [o for o in gc.get_objects() if type(o) is SessionThread]
    assert len(alive) <= 1, f"{len(alive)} finished session threads are still referenced"
    growth = rss_mb() - before
    assert growth < MAX_GROWTH_MB, f"memory grew by {growth:.0f} MB over {CYCLES} cycles"


def test_close_during_reconstruction_exits_cleanly(window, qtbot, sphere_file, started_threads):
    """Closing the window mid-fit cancels and joins every worker; no exception reaches Qt."""
    from implicit_studio.engine.events import FitProgress

    window.model_panel.apply({"seconds": 60})
    fits = []
    window.model.run_event.connect(lambda i, e: fits.append(e) if isinstance(e, FitProgress) else None)
    drop(window, sphere_file)
    qtbot.waitUntil(lambda: bool(fits), timeout=60_000)
    session = window.model.runs[0].session
    window.close()
    assert session.cancelled
    assert started_threads and not [t.objectName() for t in started_threads if t.isRunning()]
    assert not window.model._threads


def test_close_while_loading_exits_cleanly(window, qtbot, sphere_file, started_threads):
    """Closing right after a drop, before the file is parsed, leaves no worker running."""
    drop(window, sphere_file)
    window.close()
    assert started_threads and not [t.objectName() for t in started_threads if t.isRunning()]

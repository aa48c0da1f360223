"""``implicit-studio gui``: build the QApplication and the main window, optionally screenshot and exit."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger(__name__)
SLICE_WAIT_S = 120.0      # an unattended screenshot waits at most this long for the slices asked for


def studio_application_class():
    """The QApplication subclass of the studio: it can time how long the UI thread spends rendering.

    ``render_clock`` (seconds, a float) grows by the wall time of every top-level paint,
    update-request and expose event while ``time_rendering`` is on. Responsiveness
    measurements subtract it: under a software OpenGL renderer (Xvfb's llvmpipe) drawing
    and compositing a frame takes long, which says nothing about work wrongly done on the
    UI thread.
    """
    global _StudioApplication
    if _StudioApplication is None:
        from PySide6.QtCore import QEvent
        from PySide6.QtWidgets import QApplication

        render_types = {QEvent.Type.Paint, QEvent.Type.UpdateRequest, QEvent.Type.UpdateLater, QEvent.Type.Expose}

        class StudioApplication(QApplication):
            time_rendering = False
            render_clock = 0.0
            _depth = 0

            def notify(self, receiver, event):
                if not self.time_rendering or self._depth or event.type() not in render_types:
                    return super().notify(receiver, event)
                self._depth = 1
                start = time.perf_counter()
                try:
                    return super().notify(receiver, event)
                finally:
                    self._depth = 0
                    self.render_clock += time.perf_counter() - start

        _StudioApplication = StudioApplication
    return _StudioApplication


_StudioApplication = None


def qt_application():
    """The running QApplication, or a new studio application set up for vispy and pyqtgraph."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = studio_application_class()(sys.argv[:1])
        app.setApplicationName("Implicit Studio")
        app.setOrganizationName("ImplicitStudio")
    import vispy

    vispy.use(app="pyside6")
    return app


def parse_slice_plane(text: str) -> tuple[int, float]:
    """``"z"`` or ``"x=0.1"`` -> (axis index, position in the unit frame); InputError otherwise."""
    from ..errors import InputError
    from ..io.normalize import BOX_HALF

    name, _, position = text.partition("=")
    name = name.strip().lower()
    try:
        value = float(position) if position.strip() else 0.0
    except ValueError:
        value = float("nan")
    if name not in ("x", "y", "z") or not -BOX_HALF <= value <= BOX_HALF:
        raise InputError(f"--slice-plane must be x, y or z, optionally with =POSITION between "
                         f"{-BOX_HALF:g} and {BOX_HALF:g} (e.g. z=0.1), not {text!r}")
    return "xyz".index(name), value


def run_gui(args) -> int:
    """Open the window with the command line's files, model, comparison, preset and view options.

    With ``--screenshot OUT.png`` the whole window is saved when every level is done, with
    ``--turntable OUT.gif`` (or .mp4) one orbit of the views; ``--exit-when-done`` then quits:
    0 on success, 1 (with a message) on failure. Output paths are checked before anything starts.
    """
    from PySide6.QtCore import QTimer

    from ..io.animation import check_animation_output
    from ..io.files import check_output
    from ..engine.settings import PARAMETERS, parse_pose
    from ..io.orientation import parse_up
    from ..io.units import parse_units
    from ..io.photo import parse_box
    from .main_window import MainWindow
    from .presets import get_preset

    up = parse_up(args.up) if args.up else None
    units = parse_units(args.units) if args.units else None
    pose = parse_pose(args.pose) if getattr(args, "pose", None) else None
    ensemble = getattr(args, "ensemble", None)
    if ensemble is not None:
        PARAMETERS["ensemble"].check(ensemble)
    if args.screenshot:
        check_output(args.screenshot, (".png",))
    if args.turntable:
        check_animation_output(args.turntable)
    plane = parse_slice_plane(args.slice_plane) if args.slice_plane else None
    box = parse_box(args.box) if getattr(args, "box", None) else None
    app = qt_application()
    unattended = bool(args.exit_when_done)
    window = MainWindow(interactive=not unattended)
    result = {"code": 0}

    def finish() -> None:
        if args.screenshot:
            if window.save_screenshot(args.screenshot):
                log.info("wrote %s", args.screenshot)
            else:
                log.error("could not write the screenshot %s", args.screenshot)
                result["code"] = 1
        if args.turntable:
            recorder = window.save_turntable(args.turntable)
            recorder.done.connect(lambda path: (log.info("wrote %s", path), close()))
            recorder.failed.connect(lambda message: (log.error("turntable: %s", message), close(1)))
        else:
            close()

    def close(code: int = 0) -> None:
        result["code"] = max(result["code"], code)
        if unattended:
            if not any(r.final is not None for r in window.model.runs) and window.model.data is not None:
                log.error("no mesh was produced: %s", "; ".join(window.errors) or "unknown reason")
                result["code"] = 1
            window.close()
            app.quit()

    def failed_to_load(path: str, message: str, _user: bool) -> None:
        if unattended:
            log.error("%s", message)
            result["code"] = 1
            window.close()
            app.quit()

    if args.screenshot or args.turntable or unattended:
        # once the slices asked for are drawn too (a room's encodes its tiles again: seconds), let the
        # last frame render before grabbing the window; only the first idle counts
        def when_sliced(waited: float = 0.0) -> None:
            if window.slice_view.thread.idle or waited >= SLICE_WAIT_S:
                QTimer.singleShot(400, finish)
            else:
                QTimer.singleShot(200, lambda: when_sliced(waited + 0.2))

        def on_idle() -> None:
            window.idle.disconnect(on_idle)
            when_sliced()

        window.idle.connect(on_idle)
        window.model.load_failed.connect(failed_to_load)
    if up:
        window.input_panel.set_up(up)
    if getattr(args, "box", None):
        window.pending_box = box
    if args.model:
        window.model_panel.set_model(args.model)
    if units:
        window.model_panel.apply({"units": units})
    if pose:
        window.model_panel.apply({"pose": pose})
    if ensemble is not None:
        window.model_panel.apply({"ensemble": ensemble})
    if args.compare:
        window.set_compare([m.strip() for m in args.compare.split(",") if m.strip()])
    if plane is not None:
        window.slice_view.set_plane(*plane)
        window.set_slice_plane(True)
    window.set_cut_away(args.cut_away)
    if args.error_colours:
        window.set_error_colours(True)
    window.show()
    if args.preset:
        preset = get_preset(args.preset)
        window.apply_preset(preset)
        if args.files:
            window.open_files(args.files)
    elif args.files:
        window.open_files(args.files)
    elif args.screenshot or args.turntable or unattended:
        QTimer.singleShot(800, finish)
    app.exec()
    return result["code"]

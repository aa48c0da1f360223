"""The reconstruction session: one API that the CLI, the GUI, the benchmarks and the tests drive.

A session takes an ``InputData`` and ``Settings`` and yields progress events
(``core.events``) from ``run()``: started, encoded, SIREN fit progress, one mesh per
MISE level (coarse first), finished. It can be cancelled, paused and resumed from
another thread; it never touches Qt.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from ..io.inputs import InputData
from ..io.normalize import BOX
from .meshing.components import drop_floaters
from .meshing.mise import dense_grid, is_cancelled, mise
from .settings import Settings, threshold_parameter
from .device import select_device
from ..errors import InputError, ModelUnavailable
from .events import Encoded, Event, Finished, FitProgress, Isolated, LevelMesh, Started, TileMesh
from .ensemble import TurnEnsemble, ensemble_turns
from .pose import Pose, straighten
from .registry import ModelSpec, default_checkpoint

log = logging.getLogger(__name__)
MAX_FIT_POINTS = 200_000
STRAIGHTEN_POINTS = 5000      # at most this many input points decide how a scan is straightened
# an image model's final grid more filled than this did not find an object: the largest share of
# the padded box any of 291 data-set shapes fills is 0.597 (a cabinet); a failed photo fills ~1
FILL_LIMIT = 0.7
AS_LOADED_NOTE = "as loaded, while the pose is searched"


class ModelStore:
    """Loaded checkpoints kept for reuse, keyed by file, modification time and device."""

    def __init__(self):
        self._models: dict[tuple, tuple[torch.nn.Module, dict]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, model_name: str, device: torch.device) -> tuple[torch.nn.Module, dict]:
        from .checkpoints import load_checkpoint

        key = (str(Path(path).resolve()), Path(path).stat().st_mtime_ns, str(device))
        with self._lock:
            if key not in self._models:
                self._models[key] = load_checkpoint(path, expected_model=model_name, device=device)
            return self._models[key]


def resolve_checkpoint(spec: ModelSpec, checkpoint: str | None) -> Path:
    """The weights to use for a learned model, checked cheaply (file kind, card, model name),
    or ModelUnavailable saying how to get some."""
    from .checkpoints import check_checkpoint

    path = Path(checkpoint) if checkpoint else default_checkpoint(spec.name)
    if path is None:
        raise ModelUnavailable(f"{spec.name} has no trained checkpoint yet: pass --checkpoint PATH "
                               f"or train one with 'implicit-studio train --model {spec.name}'")
    check_checkpoint(path, spec.name)
    return path


def refine_budget(spec: ModelSpec, settings: Settings) -> float:
    """Seconds of test-time refinement after a learned model's meshes: the setting, else the
    model's measured default; 0 for models that are not refined (image and fitted models)."""
    if not spec.learned or spec.input_kind != "points":
        return 0.0
    return spec.refine_seconds if settings.refine is None else settings.refine


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def sigmoid(x):
    """The inverse of ``logit``: a logit (float or array of any shape) -> probability, same shape;
    0.0 for logits too negative for exp, without an overflow warning."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


class ReconstructionSession:
    """Reconstruct a mesh from ``data`` with ``settings``; iterate ``run()`` for events."""

    def __init__(self, data: InputData, settings: Settings, store: ModelStore | None = None):
        self.spec = settings.validate()
        if self.spec.input_kind != data.kind:
            want = "an image" if self.spec.input_kind == "image" else "a point cloud or mesh"
            raise InputError(f"{self.spec.name} needs {want} as input, but {data.source} is "
                             f"{'an image' if data.kind == 'image' else 'a point cloud'}")
        # session-frame units per unit-frame unit of the input: the scene model works in metres
        self.frame_scale = 1.0
        if self.spec.metric:
            from ..io.units import in_metres

            metric = in_metres(data, settings.units)
            self.frame_scale = data.normalization.scale / metric.normalization.scale
            data = metric
        self.data = data
        self.settings = settings
        self.store = store or ModelStore()
        self.device = select_device(settings.device)
        self.field: Callable[[np.ndarray], np.ndarray] | None = None
        self.iso = 0.0              # the field's level meshed (a logit, or minus a distance)
        self.threshold: float | None = None   # the same as the user sees it (probability or distance), once encoded
        self._support: np.ndarray | None = None   # (N, 3) points every mesh component must pass near
        self._prior: tuple | None = None  # (model, code, turns) for this input (never modified; engine.ensemble)
        self._prior_field: Callable | None = None  # the prior's field, kept when refinement replaces ``field``
        self._coarse: tuple | None = None   # (field, level-0 grid) of the last full meshing: remesh reuses it
        self.isolation: Isolated | None = None   # an image input's object, framed for the model
        self.checkpoint: Path | None = None
        self.pose = Pose.identity()    # the frame a learned point model sees the input in (``engine.pose``)
        self._cancel = threading.Event()
        self._stop_fit = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._model_lock = threading.Lock()
        if self.spec.learned:
            self.checkpoint = resolve_checkpoint(self.spec, settings.checkpoint)

    # --- control from other threads -------------------------------------------------
    def cancel(self) -> None:
        """Stop as soon as possible: between field batches, between fit steps, or inside a fit step
        after its forward pass."""
        self._cancel.set()
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def pause(self) -> None:
        """Pause fitting or refinement (no effect while a learned model encodes or meshes)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop_fit(self) -> None:
        """End fitting or refinement now and extract the final mesh from the current weights."""
        self._stop_fit.set()
        self._running.set()

    # --- the run ----------------------------------------------------------------------
    def run(self, scene_sink: Callable[[np.ndarray, np.ndarray], None] | None = None) -> Iterator[Event]:
        """Yield Started, Encoded, [FitProgress...], LevelMesh per level, Finished.

        scene_sink : for the scene model, called with each tile's part of the welded scene mesh
            (its new vertices (n, 3) in the session's frame, its faces (F, 3) in the scene's
            numbering) instead of keeping the mesh: the final LevelMesh then has no vertices or
            faces (the CLI streams a room to disk this way)."""
        t0 = time.perf_counter()
        stats: dict = {"model": self.spec.name, "device": str(self.device), "input": self.data.summary(),
                       "checkpoint": str(self.checkpoint) if self.checkpoint else None,
                       "settings": asdict(self.settings), "levels": []}
        yield Started(self.spec.name, str(self.device), stats["checkpoint"], self.data.summary())
        if self.data.kind == "image":
            yield self._isolate(stats)
        if self.spec.metric:
            yield from self._scene(t0, stats, scene_sink)
        elif self.spec.learned:
            if self.turns_points:
                self._support = subsample(self.data.points, MAX_FIT_POINTS, self.settings.seed)
                if self.settings.pose == "straighten":
                    straightening = straighten(subsample(self.data.points, STRAIGHTEN_POINTS, self.settings.seed))
                    self.pose = straightening.pose
                    stats["pose"] = straightening.summary()
            self._prepare_learned(stats)
            stats["encode_s"] = time.perf_counter() - t0
            yield Encoded(stats["encode_s"])
            if self.turns_points and self.settings.pose == "auto":
                yield from self._pose_first(t0, stats)
            refine = self.refine_seconds
            yield from self._mesh(t0, stats, last=not refine, coarse=self._coarse_grid())
            if refine and not self.cancelled:
                yield from self._refine(t0, stats, refine)
        else:
            yield from self._fit(t0, stats)
        stats["total_s"] = time.perf_counter() - t0
        yield Finished(stats, cancelled=self.cancelled)

    def _scene(self, t0: float, stats: dict, sink: Callable[[np.ndarray, np.ndarray], None] | None) -> Iterator[Event]:
        """The scene model: tiles stream as they are meshed and are welded as they come; the
        welded scene is the final mesh (or went to ``sink``, tile by tile)."""
        from .checkpoints import tuned_threshold
        from .meshing.weld import TileWelder
        from .tiling import SceneField, SceneTiler

        model, card = self.store.get(self.checkpoint, self.spec.name, self.device)
        self.threshold = tuned_threshold(card) if self.settings.threshold is None else self.settings.threshold
        self.iso = logit(self.threshold)
        tiler = SceneTiler(model, self.data.points, self.settings.voxel, self.iso, self.device,
                           seed=self.settings.seed, batch_size=self.settings.batch_points,
                           refine=self.refine_seconds, trim=self.settings.trim)
        plan = tiler.plan
        scene_field, scale = SceneField(tiler), self.frame_scale
        self.field = lambda points: scene_field(np.asarray(points, dtype=np.float64) * scale)   # the input's unit frame
        stats["scene"] = {"voxel_m": plan.voxel, "tile_m": plan.core, "tiles": list(plan.shape),
                          "occupied_tiles": tiler.tile_count, "refine_s_per_tile": tiler.refine, "trim_m": tiler.trim,
                           "plan_s": time.perf_counter() - t0}
        stats["encode_s"] = 0.0
        yield Encoded(stats["scene"]["plan_s"])
        welder = TileWelder(plan.origin, plan.voxel, plan.cells, tiler.occupied)
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        meshed_tiles = 0
        for meshed in tiler.run(self._cancel):
            part = welder.add(meshed.tile, meshed.vertices, meshed.faces)
            if sink is None:
                parts.append(part)
            else:
                sink(*part)
            meshed_tiles += 1
            now = time.perf_counter() - t0
            stats["scene"].setdefault("first_tile_s", now)
            yield TileMesh(meshed.tile, meshed_tiles, tiler.tile_count, meshed.vertices.astype(np.float32),
                           meshed.faces, now)
        stats["scene"]["meshed_tiles"] = meshed_tiles
        if self.cancelled:
            return
        vertices = np.concatenate([v for v, _ in parts] or [np.zeros((0, 3))])
        faces = np.concatenate([f for _, f in parts] or [np.zeros((0, 3), np.int64)])
        now = time.perf_counter() - t0
        stats["levels"].append({"level": 0, "resolution": plan.cells * max(plan.shape), "t_s": now,
                                "evaluations": tiler.evaluations, "new_evaluations": tiler.evaluations,
                                "field_s": None, "marching_s": None, "vertices": welder.vertex_count,
                                "faces": welder.face_count, "floaters_removed": 0})
        if welder.face_count == 0:
            stats["empty"] = f"{self.spec.name} found no surface in this scene at threshold {self.threshold:g}"
        yield LevelMesh(0, 0, plan.cells * max(plan.shape), vertices.astype(np.float32), faces,
                        tiler.evaluations, now, final=True)

    def _isolate(self, stats: dict) -> Isolated:
        """Find the image's object and frame it as the training renders are (io/photo.py)."""
        from ..io.photo import isolate

        iso = isolate(self.data.image, self.settings.box)
        self.isolation = iso
        stats["isolation"] = {"method": iso.method, "box": list(iso.box), "problem": iso.problem,
                              "mask_fraction": float(iso.mask.mean())}
        if iso.problem:
            log.info("%s", iso.problem)
        return self.isolation

    @property
    def turns_points(self) -> bool:
        """True for the models ``Settings.pose`` applies to: the learned point models but the scene model."""
        return self.spec.learned and self.spec.input_kind == "points" and not self.spec.metric

    def _pose_first(self, t0: float, stats: dict) -> Iterator[LevelMesh]:
        """``Settings.pose == "auto"``: show the input as loaded at once (a coarse preview whose
        ``note`` says so, its time in ``stats["as_loaded_s"]``), then search the pose and encode the
        input again in it if it is not the input's own; the run's levels follow in that pose."""
        for mesh in self._mesh(t0, stats, preview=True, levels=0, note=AS_LOADED_NOTE):
            stats["as_loaded_s"] = mesh.seconds
            yield mesh
        if self.cancelled:
            return
        model, _ = self.store.get(self.checkpoint, self.spec.name, self.device)
        from .pose import find_pose

        # the search encodes 25 candidates: it takes the count the model was trained on, not a dense cloud's more
        points = subsample(self._encoder_points(), model.cfg.n_input_points, self.settings.seed)
        search = find_pose(model, points, self.iso, self.device, self._cancel)
        if search is None:               # cancelled: the run ends as it is
            return
        stats["pose"] = search.summary()
        if not search.pose.is_identity:
            self.pose = search.pose
            self._prepare_learned(stats)

    def _encoder_points(self) -> np.ndarray:
        """(n, 3) the input points a learned point model encodes (``Settings.n_input_points``, else
        as many as its card says, ``checkpoints.encoder_points``; drawn with ``Settings.seed``), in the
        input's unit frame."""
        from .checkpoints import encoder_points

        model, card = self.store.get(self.checkpoint, self.spec.name, self.device)
        n = self.settings.n_input_points or encoder_points(card, model.cfg)
        return subsample(self.data.points, n, self.settings.seed)

    def _coarse_grid(self) -> np.ndarray | None:
        """The level-0 grid already evaluated for the current field, if any."""
        return self._coarse[1] if self._coarse is not None and self._coarse[0] is self.field else None

    def _prepare_learned(self, stats: dict | None = None) -> None:
        """Encode the input (in ``self.pose``; in each turn of ``Settings.ensemble``) and set the
        field and threshold; ``stats`` receives the points encoded and the ensemble's size."""
        from .checkpoints import tuned_threshold

        model, card = self.store.get(self.checkpoint, self.spec.name, self.device)
        cfg = model.cfg
        threshold = tuned_threshold(card) if self.settings.threshold is None else self.settings.threshold
        ensemble, turns = model, None
        with torch.inference_mode():
            if self.spec.input_kind == "image":
                image = self.isolation.framed if self.isolation is not None else self.data.image
                inputs = image_tensor(image, cfg.image_size).to(self.device)
            else:
                points = self._encoder_points()
                inputs = torch.from_numpy(self.pose.to_model(points))[None].to(self.device)
                if stats is not None:
                    stats["encoder_points"] = len(points)
                turns = ensemble_turns(self.settings.ensemble)
                ensemble = TurnEnsemble(model, turns)
                if stats is not None and len(turns) > 1:
                    stats["ensemble"] = len(turns)
            code = ensemble.encode(inputs) if turns is None else ensemble.encode(inputs, self._cancel.is_set)

        @torch.inference_mode()
        def model_field(points: np.ndarray) -> np.ndarray:
            pts = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))[None].to(self.device)
            return ensemble.decode(pts, code)[0].float().cpu().numpy()

        field = self.pose.field(model_field)
        self.field = field
        self._prior = (model, code, None if turns is None else turns[:len(code)])
        self.threshold = threshold
        self.iso = logit(threshold)
        self._prior_field = field      # last: ``prior_view`` needs the threshold too

    def _mesh(self, t0: float, stats: dict, preview: bool = False, levels: int | None = None,
              fit_step: int | None = None, last: bool = True, cancel: Callable[[], bool] | None = None,
              coarse: np.ndarray | None = None, note: str = "") -> Iterator[LevelMesh]:
        """Stream MISE levels of the current field; ``last``: this pass ends the run (its top level is
        final); ``coarse``: a level-0 grid of this field already evaluated; ``note``: a preview's
        caption (a preview with a note shows a field the run goes on with, so its grid is kept)."""
        levels = self.settings.levels if levels is None else levels
        for lv in mise(self._locked_field, self.settings.resolution0, levels, self.iso, BOX,
                       self.settings.batch_points, self._cancel if cancel is None else cancel, coarse):
            if lv.level == 0 and (note or not preview):
                self._coarse = (self.field, lv.grid)
            vertices, faces, floaters = lv.vertices, lv.faces, 0
            if self._support is not None:      # blobs far from every input point go (a fit's floaters, a prior's bubbles)
                vertices, faces, floaters = drop_floaters(vertices, faces, self._support, lv.resolution, BOX)
            now = time.perf_counter() - t0
            if not preview:
                stats["levels"].append({"level": lv.level, "resolution": lv.resolution, "t_s": now,
                                        "evaluations": lv.evaluations, "new_evaluations": lv.new_evaluations,
                                        "field_s": lv.field_seconds, "marching_s": lv.marching_seconds,
                                        "vertices": len(vertices), "faces": len(faces),
                                        "floaters_removed": floaters})
            final = last and not preview and lv.level == levels
            if final and len(faces) == 0:
                stats["empty"] = self.empty_surface_message(lv.peak)
            elif final and self.isolation is not None:
                stats.pop("cannot", None)
                stats["filled_fraction"] = float(np.mean(lv.grid > self.iso))
                if stats["filled_fraction"] > FILL_LIMIT or self.isolation.method == "box":
                    stats["cannot"] = self.cannot_message(stats["filled_fraction"])
            yield LevelMesh(lv.level, levels, lv.resolution, vertices, faces, lv.evaluations, now,
                            final=final, preview=preview, fit_step=fit_step, note=note)

    def remesh(self, threshold: float, cancel=None, stats: dict | None = None) -> Iterator[LevelMesh]:
        """Mesh the field already encoded (or fitted) by ``run()`` again at another iso-level.

        Nothing is re-encoded or refitted: only MISE runs, streaming one ``LevelMesh`` per level
        (coarse first, the last one ``final``; ``seconds`` counts from this call). The level-0 grid
        of the last full meshing of the same field is reused, so the first mesh costs only marching
        cubes. The threshold is checked (InputError) and taken at once; the meshing happens as the
        iterator is consumed.

        threshold : as ``Settings.threshold``: an occupancy probability for ONet/ConvONet, a signed
            distance level for SIREN / ReLU MLP; it becomes the session's ``threshold``
        cancel : a ``threading.Event`` or a callable returning True: the remesh stops between field
            batches and the generator ends (the session's own ``cancel`` stops it too)
        stats : a dict to receive the per-level figures (``"levels"``) and, when the final mesh is
            empty, the reason (``"empty"``), as in ``run()``'s stats
        """
        if self.spec.metric:
            raise InputError(f"{self.spec.name} does not re-mesh a scene at a new threshold: run it again")
        if self.field is None:
            raise RuntimeError("the session has no field yet: run it first")
        threshold_parameter(self.spec.learned).check(threshold, "threshold")
        stats = {} if stats is None else stats
        stats.setdefault("levels", [])
        self.threshold = float(threshold)
        self.iso = logit(self.threshold) if self.spec.learned else -self.threshold
        return self._mesh(time.perf_counter(), stats, cancel=lambda: self._cancel.is_set() or is_cancelled(cancel),
                          coarse=self._coarse_grid())

    def prior_view(self) -> "ReconstructionSession":
        """This learned session's prior, unrefined, as a session of its own for ``slice`` and ``remesh``
        (the window's "prior vs refined" views: one run, the prior's meshes kept, nothing encoded twice).

        Its field is the prior's, which refinement never changes; it shares the input, the settings,
        the model lock and the cancel flag (cancelling the run stops its re-meshes too), and keeps its
        own threshold. Available once the run has yielded ``Encoded``; RuntimeError before.
        """
        if self._prior_field is None:
            raise RuntimeError("the session has no learned prior yet: run it until Encoded")
        view = copy.copy(self)
        view.field = self._prior_field
        return view

    def cannot_message(self, filled: float) -> str:
        """One line for an image the model could not make sense of: no object could be isolated, or
        its occupancy fills ``filled`` of the box; says why (the isolation's problem when there was
        one) and what to do."""
        from ..io.photo import MARK_IT

        iso = self.isolation
        why = f"{iso.problem[0].lower()}{iso.problem[1:]}" if iso is not None and iso.problem else None
        if iso is not None and iso.method == "box":
            return f"{self.spec.name} was given no object to reconstruct, so no mesh is shown: {why}"
        what = why or ("crop the photo to one object on a plain background" if self.settings.box is not None
                       else f"crop the photo to one object or {MARK_IT}")
        return (f"{self.spec.name} filled {filled:.0%} of the box instead of finding one object, so no mesh is "
                f"shown: {what}")

    def empty_surface_message(self, peak: float) -> str:
        """One line saying why the final mesh is empty, given the largest field value ``peak``
        on the grid, and which threshold would give a surface."""
        name = self.spec.name
        if math.isnan(peak):
            return f"{name} gave no finite values on this input"
        if peak > self.iso:        # a fitted surface existed, but every piece was away from the input
            return f"{name}'s surface lay entirely away from the input points and was removed as floaters"
        if self.spec.learned:
            best = float(sigmoid(peak))
            if best < 0.02:
                return (f"{name} found no surface: its highest occupancy anywhere is {best:.3f}, "
                        "so no threshold gives a shape; try another model")
            hint = max(0.01, math.floor(best * 80) / 100)
            return (f"{name} found no surface at threshold {self.threshold:g}: its highest occupancy "
                    f"is {best:.2f}; lower the threshold (e.g. to {hint:.2f})")
        return (f"{name} found no surface at level {self.threshold:g}: the smallest distance "
                f"it reached is {-peak:.3f}")

    def _locked_field(self, points: np.ndarray) -> np.ndarray:
        with self._model_lock:
            return self.field(points)

    def _fit(self, t0: float, stats: dict) -> Iterator[Event]:
        from .fitting.siren_fit import SdfFitter

        points, normals = self._fit_points()
        self._support = points
        with self._model_lock:
            fitter = SdfFitter(points, normals, self.spec.config("cpu"), self.device, self.settings.seed)
        self.field = fitter.field
        self.threshold = self.spec.threshold if self.settings.threshold is None else self.settings.threshold
        self.iso = -self.threshold
        yield Encoded(time.perf_counter() - t0)
        stats["fit"] = yield from self._optimise(fitter, self.settings.seconds, "fit", t0, stats)
        if not self.cancelled:
            yield from self._mesh(t0, stats, fit_step=fitter.steps)

    @property
    def refine_seconds(self) -> float:
        return refine_budget(self.spec, self.settings)

    def _refine(self, t0: float, stats: dict, seconds: float) -> Iterator[Event]:
        """Fine-tune a copy of the prior's features on this input, streaming progress and previews."""
        from .fitting.refine import DEFAULTS, Refiner

        points = self.data.points
        if len(points) > MAX_FIT_POINTS:
            points = subsample(points, MAX_FIT_POINTS, self.settings.seed)
            normals = None
        else:
            normals = self.data.normals
        model, code, turns = self._prior
        points, normals = self.pose.to_model(points), None if normals is None else self.pose.turn(normals)
        with self._model_lock:
            refiner = Refiner(model, code, points, normals, self.iso, self.device, self.settings.seed,
                              DEFAULTS[self.spec.name], turns)
            self.field = self.pose.field(refiner.field)
        stats["refine"] = yield from self._optimise(refiner, seconds, "refine", t0, stats, refiner.cfg.steps)
        if not self.cancelled:
            yield from self._mesh(t0, stats, fit_step=refiner.steps)

    def _optimise(self, fitter, seconds: float, stage: str, t0: float, stats: dict, max_steps: int | None = None):
        """Step ``fitter`` (``step(cancel) -> terms | None``, ``steps``) for ``seconds`` of its own time
        (or until ``max_steps``), yielding FitProgress about every 0.2 s and a preview mesh every ``mesh_every`` seconds; honours
        pause, stop and cancel. Returns the JSON-ready summary of the optimisation."""
        fit_time, next_mesh, last_report, terms = 0.0, 0.3, 0.0, {}
        losses = []
        self._stop_fit.clear()
        while fit_time < seconds and not self._stop_fit.is_set() and fitter.steps < (max_steps or math.inf):
            self._running.wait()
            if self.cancelled:
                break
            step_start = time.perf_counter()
            with self._model_lock:
                step = fitter.step(self._cancel)
            fit_time += time.perf_counter() - step_start
            if step is None:
                break
            terms = step
            if fit_time - last_report >= 0.2:
                last_report = fit_time
                losses.append((fitter.steps, fit_time, terms["total"]))
                yield FitProgress(fitter.steps, fit_time, terms["total"],
                                  {k: v for k, v in terms.items() if k != "total"}, fitter.steps / fit_time, stage)
            if fit_time >= next_mesh:
                next_mesh = fit_time + self.settings.mesh_every
                yield from self._mesh(t0, stats, preview=True, levels=min(1, self.settings.levels),
                                      fit_step=fitter.steps)
        if terms and (not losses or losses[-1][0] != fitter.steps):    # the last step is always reported
            losses.append((fitter.steps, fit_time, terms["total"]))
            yield FitProgress(fitter.steps, fit_time, terms["total"],
                              {k: v for k, v in terms.items() if k != "total"}, fitter.steps / fit_time, stage)
        return {"steps": fitter.steps, "seconds": fit_time, "final_loss": terms.get("total"),
                "final_terms": {k: v for k, v in terms.items() if k != "total"},
                "steps_per_s": fitter.steps / fit_time if fit_time else 0.0,
                "normals": "input" if self.data.normals is not None else "estimated", "curve": losses}

    def _fit_points(self) -> tuple[np.ndarray, np.ndarray]:
        points = self.data.points
        normals = self.data.normals
        if len(points) > MAX_FIT_POINTS:
            idx = np.random.default_rng(self.settings.seed).choice(len(points), MAX_FIT_POINTS, replace=False)
            points = points[idx]
            normals = None if normals is None else normals[idx]
        if normals is None:
            from ..io.normals import estimate_normals

            normals = estimate_normals(points)
        return points, normals

    # --- slices -----------------------------------------------------------------------
    def slice(self, axis: int, position: float, resolution: int = 128) -> np.ndarray:
        """The field on an axis-aligned plane through the box, ready to show.

        axis : 0, 1 or 2 (x, y, z); position : coordinate along that axis in the unit frame
        Returns (resolution, resolution) float32: occupancy probability for ONet/ConvONet,
        signed distance (negative inside) for SIREN; rows follow the first remaining axis.
        """
        if self.field is None:
            raise RuntimeError("the session has no field yet: run it first")
        return slice_values(self._locked_field, axis, position, resolution, sdf=not self.spec.learned)

    def dense(self, resolution: int) -> np.ndarray | None:
        """The field on every corner of a dense resolution^3 grid (benchmarks, voxel views)."""
        return dense_grid(self._locked_field, resolution, BOX, self.settings.batch_points, self._cancel)


def slice_ticks(resolution: int) -> np.ndarray:
    """(resolution,) float32 coordinates of a slice's samples along each in-plane axis."""
    return np.linspace(-BOX / 2, BOX / 2, resolution, dtype=np.float32)


def slice_values(field: Callable[[np.ndarray], np.ndarray], axis: int, position: float, resolution: int,
                 sdf: bool) -> np.ndarray:
    """Evaluate ``field`` on a (resolution, resolution) plane orthogonal to ``axis`` at ``position``."""
    if axis not in (0, 1, 2):
        raise ValueError("axis must be 0, 1 or 2")
    ticks = slice_ticks(resolution)
    u, v = np.meshgrid(ticks, ticks, indexing="ij")
    pts = np.empty((resolution * resolution, 3), np.float32)
    rest = [a for a in range(3) if a != axis]
    pts[:, axis] = position
    pts[:, rest[0]] = u.ravel()
    pts[:, rest[1]] = v.ravel()
    values = field(pts).reshape(resolution, resolution)
    return -values if sdf else sigmoid(values)


def subsample(points: np.ndarray, n: int, seed: int) -> np.ndarray:
    """(N, 3) -> (min(N, n), 3) float32, a random subset without replacement (fixed seed)."""
    if len(points) <= n:
        return np.ascontiguousarray(points, dtype=np.float32)
    idx = np.random.default_rng(seed).choice(len(points), n, replace=False)
    return np.ascontiguousarray(points[idx], dtype=np.float32)


def image_tensor(image: np.ndarray, size: int) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, size, size) float32 in [0, 1], resized with antialiasing."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(image[..., :3])).resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()

"""``implicit-studio benchmark speed``: speed figures of the engine as one JSON document.

Per model (onet-pointcloud, onet-image, convonet-3plane, convonet-grid, siren): time to the
first visible mesh (level 0, encoding included) and to the final mesh (resolution0 32, 2 and
3 levels), MISE field evaluations against a dense grid of the same resolution and the
official implementation's reference counts, decoder throughput as points/s and as a fraction of the same
run's dense matmul throughput, marching-cubes time, the time a new threshold takes to its first
mesh from the encoded field (``remesh``), and the peak resident memory. Then how
fast SIREN fits the sample torus (F-score and Chamfer-L1 against the known surface), the
longest UI-thread stall of the real window (under xvfb-run, in a subprocess) and screened
Poisson (Open3D) on the same input.

Learned models use the shipped ``checkpoints/NAME.safetensors`` when there is one, else
random weights saved to a temporary checkpoint (timings hold, the surface is meaningless:
the iso-level is then set so that 30 % of the level-0 corners are inside, so MISE has a
surface to refine). Timings are medians of repeated runs; the machine is stated in the
output. Module-level imports are light: torch loads only when the benchmark runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..io.normalize import BOX

log = logging.getLogger(__name__)

LEARNED = ("onet-pointcloud", "onet-image", "convonet-3plane", "convonet-grid")
MODELS = LEARNED + ("siren",)
REFERENCE_EVALUATIONS = {"sphere_r0.35": 133_813, "torus_R0.3_r0.1": 105_257}
"""MISE evaluations of the official ONet implementation on these analytic fields (res0 32, 2 levels)."""
TARGETS = {
    "first_mesh_s": {"convonet-3plane": 0.25, "onet-pointcloud": 0.25, "onet-image": 0.4,
                     "convonet-grid": 0.4, "siren": 0.4},
    "final_mesh_s": {"convonet-3plane": 1.0, "onet-pointcloud": 1.5},
    "remesh_first_mesh_s": {"convonet-3plane": 0.3, "convonet-grid": 0.3},
    "dense_over_mise": 5.0,
    "siren_seconds_to_recognisable": 5.0,
    "siren_seconds_to_f1_0p9": 60.0,
    "ui_max_stall_ms": 50.0,
}
RECOGNISABLE = "F-score@2% >= 0.5 against the ground-truth surface"
GOOD = "F-score@1% >= 0.9 and Chamfer-L1 <= 1.5 x the sampling floor (the ground truth against itself)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``implicit-studio benchmark speed``."""
    parser.add_argument("--quick", action="store_true",
                        help="one repeat, short SIREN fit and UI run, small matmul: a smoke run (< 1 min)")
    parser.add_argument("--json", metavar="FILE", help="also write the JSON to FILE")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated models to time")
    parser.add_argument("--repeats", type=int, default=None, help="runs per timing (default 5, quick 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--siren-seconds", type=float, default=None,
                        help="SIREN fitting budget (default 60, quick 3)")
    parser.add_argument("--no-ui", action="store_true", help="skip the UI-stall measurement")
    parser.add_argument("--no-poisson", action="store_true", help="skip the screened Poisson baseline")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the JSON on stdout (and to ``--json``); 0 on success."""
    report = benchmark(
        models=[m.strip() for m in args.models.split(",") if m.strip()],
        quick=args.quick,
        repeats=args.repeats,
        threads=args.threads,
        siren_seconds=args.siren_seconds,
        ui=not args.no_ui,
        poisson=not args.no_poisson,
    )
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    return 0


def benchmark(models=MODELS, quick: bool = False, repeats: int | None = None, threads: int | None = None,
              siren_seconds: float | None = None, ui: bool = True, poisson: bool = True) -> dict:
    """All figures as a JSON-ready dict (see the module docstring)."""
    import torch

    from ..engine.registry import get_spec

    for name in models:
        get_spec(name)
    if threads:
        torch.set_num_threads(threads)
    repeats = repeats or (1 if quick else 5)
    siren_seconds = siren_seconds or (3.0 if quick else 60.0)
    started = time.perf_counter()
    report: dict = {"machine": machine_info(), "quick": quick, "repeats": repeats,
                    "matmul_gflops": matmul_gflops(0.3 if quick else 1.5), "targets": TARGETS,
                    "reference_evaluations": REFERENCE_EVALUATIONS}
    report["mise_reference_check"] = mise_reference_check()
    inputs = sample_inputs()
    report["input"] = {k: v for k, v in inputs.items() if not k.startswith("_")}
    report["models"] = {}
    with tempfile.TemporaryDirectory(prefix="implicit-bench-") as tmp:
        for name in models:
            log.info("bench: %s (%.1f s so far)", name, time.perf_counter() - started)
            if name == "siren":
                report["models"][name] = time_siren(repeats, quick)
            else:
                report["models"][name] = time_learned(name, inputs, repeats, Path(tmp), quick)
    log.info("bench: SIREN convergence (%.1f s so far)", time.perf_counter() - started)
    report["siren"] = siren_convergence(siren_seconds) if "siren" in models else None
    log.info("bench: UI stall, Poisson (%.1f s so far)", time.perf_counter() - started)
    report["ui"] = ui_stall(inputs, quick) if ui else {"max_stall_ms": None, "reason": "skipped (--no-ui)"}
    report["ui_max_stall_ms"] = report["ui"]["max_stall_ms"]
    report["poisson"] = (poisson_baseline(inputs["_points"]) if poisson
                         else {"seconds": None, "input_points": None, "reason": "skipped (--no-poisson)"})
    report["matmul_gflops_end"] = matmul_gflops(0.3 if quick else 1.5)
    # the machine is shared: the fractions are taken against the better of the two measurements
    report["matmul_gflops_start"] = report["matmul_gflops"]
    report["matmul_gflops"] = max(report["matmul_gflops_start"], report["matmul_gflops_end"])
    for figures in report["models"].values():
        figures["matmul_fraction"] = figures["decoder_gflops"] / report["matmul_gflops"]
    report["machine"]["load_average_end"] = list(os.getloadavg())
    report["total_s"] = time.perf_counter() - started
    return report


# --- machine and reference throughput ---------------------------------------------------
def machine_info() -> dict:
    """What the figures were measured on: CPU, cores, load, versions, torch threads."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average_start": list(os.getloadavg()), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "nice": os.nice(0)}


def matmul_gflops(seconds: float, size: int = 1024) -> float:
    """Dense float32 matmul throughput (GFLOP/s) with the current torch threads; best of short bursts."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * size ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def mise_reference_check() -> dict:
    """MISE on the analytic sphere r 0.35 and torus R 0.3 r 0.1: evaluations vs the reference counts."""
    from ..engine.meshing import mise

    def sphere(p):
        return 0.35 - np.linalg.norm(p, axis=1)

    def torus(p):
        q = np.sqrt(p[:, 0] ** 2 + p[:, 1] ** 2) - 0.3
        return 0.1 - np.sqrt(q ** 2 + p[:, 2] ** 2)

    out = {}
    for key, field in (("sphere_r0.35", sphere), ("torus_R0.3_r0.1", torus)):
        last = list(mise(field, 32, 2, 0.0))[-1]
        out[key] = {"evaluations": last.evaluations, "reference": REFERENCE_EVALUATIONS[key],
                    "dense_evaluations": 129 ** 3, "faces": len(last.faces),
                    "matches": last.evaluations == REFERENCE_EVALUATIONS[key]}
    return out


# --- inputs -------------------------------------------------------------------------------
def sample_inputs() -> dict:
    """The 3,000-point cloud and the image the learned models reconstruct.

    resources/samples/sparse.ply and chair.png when present; otherwise a noisy 3,000-point
    torus and a rendered silhouette made here. Keys starting with "_" hold the data.
    """
    from ..io.inputs import InputData
    from ..io.files import load_input

    samples = Path(__file__).resolve().parents[2] / "resources" / "samples"
    out: dict = {}
    cloud = samples / "sparse.ply"
    if cloud.is_file():
        data = load_input(cloud)
        out["points"] = str(cloud.relative_to(samples.parents[1]))
    else:
        data = InputData("noisy torus (made by the benchmark)", "points", points=noisy_torus(3000))
        out["points"] = data.source
    out["_points"] = data
    out["n_points"] = int(len(data.points))
    image = samples / "chair.png"
    if image.is_file():
        out["_image"] = load_input(image)
        out["image"] = str(image.relative_to(samples.parents[1]))
    else:
        out["_image"] = InputData("disc (made by the benchmark)", "image", image=synthetic_image())
        out["image"] = "disc (made by the benchmark)"
    return out


def torus_mesh():
    """The ground-truth torus (R 0.3, r 0.1, unit frame) as a fine trimesh."""
    import trimesh

    return trimesh.creation.torus(0.3, 0.1, major_sections=128, minor_sections=64)


def noisy_torus(n: int, noise: float = 0.005, seed: int = 0) -> np.ndarray:
    """n points on the torus with Gaussian noise: (n, 3) float32."""
    import trimesh

    pts, _ = trimesh.sample.sample_surface(torus_mesh(), n, seed=seed)
    rng = np.random.default_rng(seed)
    return (pts + rng.normal(scale=noise, size=pts.shape)).astype(np.float32)


def synthetic_image(size: int = 128) -> np.ndarray:
    """A shaded grey disc on white: (size, size, 3) uint8."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(xx - size / 2, yy - size / 2) / (size / 3)
    img = np.full((size, size, 3), 255, np.uint8)
    img[r < 1] = (80 + 100 * r[r < 1, None]).astype(np.uint8)
    return img


# --- learned models -------------------------------------------------------------------------
class PeakRss:
    """Peak resident memory (MB) of this process while the ``with`` block runs, sampled every 5 ms."""

    def __enter__(self):
        self.peak_mb = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())


def rss_mb() -> float:
    """Current resident set size of this process in MB (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def random_checkpoint(name: str, folder: Path) -> Path:
    """A checkpoint of ``name``'s CPU config with random (seeded) weights."""
    import torch

    from ..engine.registry import get_spec
    from ..engine.checkpoints import save_checkpoint

    cfg = get_spec(name).config("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = cfg.build()
    path = folder / f"{name}.safetensors"
    save_checkpoint(path, name, model, cfg)
    return path


def run_session(data, settings, store) -> dict:
    """One reconstruction: level-0 and final times, evaluations, per-level stats."""
    from ..engine.events import Finished, LevelMesh
    from ..engine.session import ReconstructionSession

    session = ReconstructionSession(data, settings, store)
    first = final = None
    stats: dict = {}
    for event in session.run():
        if isinstance(event, LevelMesh):
            first = first or event
            if event.final:
                final = event
        elif isinstance(event, Finished):
            stats = event.stats
    return {"session": session, "first_s": first.seconds, "final_s": final.seconds,
            "evaluations": final.evaluations, "faces": len(final.faces), "stats": stats}


def decoder_flops_per_point(field, n: int = 4096) -> float:
    """Multiply-adds x 2 of every Linear layer per query point, counted with forward hooks.

    ONet's conditional blocks use their linears' weights directly at inference (folded batch
    norms), so they are counted as a whole.
    """
    import torch

    from ..engine.models.layers import CResnetBlock

    counted = [0.0]

    def linear(module, inputs, output):
        counted[0] += 2.0 * module.out_features * inputs[0].numel()

    def block(module, inputs, output):
        counted[0] += 2.0 * (module.fc_0.out_features + module.fc_1.out_features) * inputs[0].numel()

    inner = {id(m) for b in field.model.modules() if isinstance(b, CResnetBlock) for m in (b.fc_0, b.fc_1)}
    handles = [m.register_forward_hook(block) for m in field.model.modules() if isinstance(m, CResnetBlock)]
    handles += [m.register_forward_hook(linear) for m in field.model.modules()
                if isinstance(m, torch.nn.Linear) and id(m) not in inner]
    try:
        field(np.zeros((n, 3), np.float32))
    finally:
        for h in handles:
            h.remove()
    return counted[0] / n


def field_throughput(field, repeats: int, batch: int, n: int = 65536) -> float:
    """Median points/s of ``field`` on n random points in the box, in batches of ``batch``."""
    pts = ((np.random.default_rng(0).random((n, 3)) - 0.5) * BOX).astype(np.float32)
    field(pts[:batch])
    times = []
    for _ in range(max(repeats, 2)):
        t0 = time.perf_counter()
        for s in range(0, n, batch):
            field(pts[s:s + batch])
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def time_learned(name: str, inputs: dict, repeats: int, tmp: Path, quick: bool) -> dict:
    """Figures of one learned model on the sample input (see the module docstring)."""
    from ..engine.registry import default_checkpoint, get_spec
    from ..engine.session import ModelStore, Settings, sigmoid

    spec = get_spec(name)
    data = inputs["_image"] if spec.input_kind == "image" else inputs["_points"]
    shipped = default_checkpoint(name)
    checkpoint = shipped or random_checkpoint(name, tmp)
    store = ModelStore()
    base = Settings(model=name, checkpoint=str(checkpoint), refine=0)   # the prior alone; refinement apart
    with PeakRss() as mem:
        cold = run_session(data, base, store)  # loads the checkpoint, warms caches
        threshold = None
        if shipped is None:
            values = cold["session"].dense(32)
            threshold = float(sigmoid(np.quantile(values, 0.7)))
        settings = Settings(model=name, checkpoint=str(checkpoint), threshold=threshold, refine=0)
        runs = [run_session(data, settings, store) for _ in range(repeats)]
        fine = None if quick else [
            run_session(data, Settings(model=name, checkpoint=str(checkpoint), threshold=threshold, levels=3, refine=0),
                        store)
            for _ in range(max(1, repeats // 2))]
        session = runs[-1]["session"]
        field = session.field
        flops = decoder_flops_per_point(_ModelField(session))
        throughput = field_throughput(field, repeats, settings.batch_points, 16384 if quick else 65536)
        remesh = time_remesh(session, repeats)
        refine = time_refine(data, replace(settings, refine=None), store, spec.refine_seconds)
    figures = learned_figures(runs, fine, cold, flops, throughput, mem.peak_mb,
                              weights="shipped" if shipped else "random", threshold=threshold)
    figures.update(remesh)
    figures.update(refine)
    return figures


def time_refine(data, settings, store, budget: float) -> dict:
    """One run with the model's default refinement: its steps, steps/s, seconds of refinement and
    seconds to the refined final mesh ({} for models that are not refined)."""
    if budget <= 0:
        return {}
    stats = run_session(data, settings, store)["stats"]
    refine = stats["refine"]
    return {"refine_steps": refine["steps"], "refine_steps_per_s": refine["steps_per_s"],
            "refine_s": refine["seconds"], "refined_final_mesh_s": stats["levels"][-1]["t_s"]}


def time_remesh(session, repeats: int) -> dict:
    """Median over ``repeats`` threshold changes of a finished session (``ReconstructionSession.remesh``)
    of the seconds to the first mesh at the new iso-level, alternating 0.1 below and above the
    session's own threshold (as a user's spin-box steps would)."""
    base = session.threshold
    firsts = []
    for k in range(max(repeats, 2)):
        threshold = min(max(base + (0.1 if k % 2 else -0.1), 0.05), 0.95)
        firsts.append(next(iter(session.remesh(threshold))).seconds)
    return {"remesh_first_mesh_s": statistics.median(firsts)}


class _ModelField:
    """The session's field with its torch model exposed (for FLOP counting hooks)."""

    def __init__(self, session):
        self.model = session.store.get(session.checkpoint, session.spec.name, session.device)[0]
        self._field = session.field

    def __call__(self, points):
        return self._field(points)


def learned_figures(runs, fine, cold, flops, throughput, peak_mb, weights, threshold) -> dict:
    """Medians of repeated session runs, the dense-grid comparison and throughput figures."""
    med = statistics.median
    last = [r["stats"]["levels"][-1] for r in runs]
    evaluations = runs[-1]["evaluations"]
    dense = 129 ** 3
    mise_field_s = med([sum(lv["field_s"] for lv in r["stats"]["levels"]) for r in runs])
    dense_s = dense / throughput + med([lv["marching_s"] for lv in last])
    return {
        "weights": weights,
        "threshold": threshold,
        "first_mesh_s": med([r["first_s"] for r in runs]),
        "final_mesh_s": med([r["final_s"] for r in runs]),
        "final_mesh_levels3_s": med([r["final_s"] for r in fine]) if fine else None,
        "cold_first_mesh_s": cold["first_s"],
        "encode_s": med([r["stats"].get("encode_s", 0.0) for r in runs]),
        "level_s": [med([r["stats"]["levels"][k]["t_s"] for r in runs]) for k in range(len(runs[0]["stats"]["levels"]))],
        "mise_field_s": mise_field_s,
        "evaluations": evaluations,
        "evaluations_levels3": fine[-1]["evaluations"] if fine else None,
        "dense_evaluations": dense,
        "dense_evaluations_levels3": 257 ** 3,
        "evaluation_ratio": dense / evaluations,
        "dense_s_estimated": dense_s,
        "dense_over_mise": dense_s / med([r["final_s"] for r in runs]),
        "faces": runs[-1]["faces"],
        "decoder_points_per_s": throughput,
        "decoder_flops_per_point": flops,
        "decoder_gflops": throughput * flops / 1e9,
        "marching_cubes_s": med([lv["marching_s"] for lv in last]),
        "marching_cubes_all_levels_s": med([sum(lv["marching_s"] for lv in r["stats"]["levels"]) for r in runs]),
        "peak_rss_mb": peak_mb,
    }


# --- SIREN ----------------------------------------------------------------------------------
def siren_data(n: int = 20000):
    """Oriented points sampled on the ground-truth torus, as the application's input."""
    import trimesh

    from ..io.inputs import InputData

    mesh = torus_mesh()
    pts, face = trimesh.sample.sample_surface(mesh, n, seed=0)
    return InputData("torus R0.3 r0.1 (20,000 oriented points)", "points", points=pts.astype(np.float32),
                     normals=mesh.face_normals[face].astype(np.float32))


def time_siren(repeats: int, quick: bool) -> dict:
    """SIREN through the session: fit for a fixed short time, then the timed MISE levels.

    The first visible mesh is the first preview (after 0.3 s of fitting, as in the window);
    the final-mesh times are the meshing after the fit (start to final mesh minus fit time).
    """
    from ..engine.session import Settings

    data = siren_data()
    fit_s = 0.5 if quick else 2.0
    with PeakRss() as mem:
        runs = [run_session(data, Settings(model="siren", seconds=fit_s, mesh_every=1e9), None)
                for _ in range(repeats)]
        session = runs[-1]["session"]
        fine = None if quick else [run_session(data, Settings(model="siren", seconds=fit_s, mesh_every=1e9, levels=3),
                                               None)]
        flops = decoder_flops_per_point(_FitterField(session))
        throughput = field_throughput(session.field, repeats, Settings().batch_points, 16384 if quick else 65536)
    med = statistics.median
    out = learned_figures(runs, fine, runs[0], flops, throughput, mem.peak_mb, "fitted", 0.0)
    out["final_mesh_s"] = med([r["final_s"] - r["stats"]["fit"]["seconds"] for r in runs])
    if fine:
        out["final_mesh_levels3_s"] = med([r["final_s"] - r["stats"]["fit"]["seconds"] for r in fine])
    out["fit_steps_per_s"] = med([r["stats"]["fit"]["steps_per_s"] for r in runs])
    out["timing_note"] = ("first_mesh_s: start to the first preview mesh (0.3 s of fitting included); "
                          f"final_mesh_s: start to the final mesh minus the {fit_s:g} s fit")
    return out


class _FitterField:
    """A SIREN session's fitted model exposed for FLOP counting."""

    def __init__(self, session):
        self._field = session.field
        self.model = session.field.__self__.model

    def __call__(self, points):
        return self._field(points)


def siren_convergence(budget_s: float) -> dict:
    """Fit SIREN (CPU config) to the torus; mesh and evaluate at growing fit times.

    Returns the fit seconds (optimisation only; meshing and evaluation are not counted) to a
    recognisable surface and to a good one (see RECOGNISABLE and GOOD), and the curve.
    """
    import torch
    import trimesh

    from ..engine.registry import get_spec
    from ..engine.meshing import mise
    from ..engine.meshing.components import drop_floaters
    from .metrics import evaluate_meshes
    from ..engine.fitting.siren_fit import SdfFitter

    gt = torus_mesh()
    n_eval = 10_000 if budget_s < 10 else 30_000
    floor = evaluate_meshes(gt, gt, n_points=n_eval, seed=1)["chamfer_l1"]
    data = siren_data()
    cfg = get_spec("siren").config("cpu")
    fitter = SdfFitter(data.points, data.normals, cfg, torch.device("cpu"), seed=0)
    checkpoints = [t for t in (0.5, 1, 2, 3, 4, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120) if t <= budget_s]
    curve, fit_s = [], 0.0
    recognisable = good = None
    for target in checkpoints:
        while fit_s < target:
            t0 = time.perf_counter()
            fitter.step()
            fit_s += time.perf_counter() - t0
        last = list(mise(fitter.field, 32, 2, 0.0, BOX))[-1]
        vertices, faces, _ = drop_floaters(last.vertices, last.faces, data.points, last.resolution, BOX)  # as the session does
        mesh = trimesh.Trimesh(vertices, faces, process=False) if len(faces) else None
        m = evaluate_meshes(mesh, gt, n_points=n_eval, seed=1)
        curve.append({"fit_s": fit_s, "steps": fitter.steps, "fscore_1pct": m["fscore_1pct"],
                      "fscore_2pct": m["fscore_2pct"], "chamfer_l1": m["chamfer_l1"], "iou": m["iou"]})
        if recognisable is None and m["fscore_2pct"] >= 0.5:
            recognisable = fit_s
        if good is None and m["fscore_1pct"] >= 0.9 and m["chamfer_l1"] is not None and m["chamfer_l1"] <= 1.5 * floor:
            good = fit_s
            break
    return {"config": {k: v for k, v in vars(cfg).items()}, "ground_truth": "torus R0.3 r0.1, 20,000 oriented points",
            "recognisable": RECOGNISABLE, "good": GOOD, "chamfer_floor": floor, "eval_points": n_eval,
            "seconds_to_recognisable": recognisable, "seconds_to_f1_0p9": good, "budget_s": budget_s,
            "seconds_to_fscore_1pct_0p9_alone": next((c["fit_s"] for c in curve if c["fscore_1pct"] >= 0.9), None),
            "seconds_note": "fit time only (optimiser steps); meshing (res0 32, 2 levels) and evaluation excluded",
            "curve": curve}


# --- UI and the baseline ----------------------------------------------------------------------
def ui_stall(inputs: dict, quick: bool) -> dict:
    """Longest UI-thread stall (ms) of the real window reconstructing the sample cloud.

    Runs ``gui.responsiveness.measure_ui_stall`` in a subprocess under ``xvfb-run`` (or on the
    present display); SIREN always, learned models only with shipped weights. None with a
    reason when no display can be had.
    """
    from ..engine.registry import default_checkpoint

    cloud = Path(__file__).resolve().parents[2] / inputs["points"]
    if not cloud.is_file():
        return {"max_stall_ms": None, "reason": "no sample file for the window to open"}
    prefix = []
    if not os.environ.get("DISPLAY"):
        xvfb = shutil.which("xvfb-run")
        if xvfb is None:
            return {"max_stall_ms": None, "reason": "no display and no xvfb-run"}
        prefix = [xvfb, "-a", "-s", "-screen 0 1280x1024x24"]
    runs = {"siren": 2.0 if quick else 5.0}
    if not quick:
        runs.update({m: 0.0 for m in ("convonet-3plane", "onet-pointcloud") if default_checkpoint(m)})
    per_model, errors = {}, {}
    for model, seconds in runs.items():
        code = ("import json, logging; from implicit_studio.gui.responsiveness import measure_ui_stall; "
                f"print(json.dumps(measure_ui_stall([{str(cloud)!r}], model={model!r}, seconds={seconds or 1.0}, "
                "timeout_s=120)))")
        try:
            proc = subprocess.run(prefix + [sys.executable, "-c", code], capture_output=True, text=True,
                                  timeout=180, env={**os.environ, "QT_QPA_PLATFORM": "xcb"})
            per_model[model] = float(proc.stdout.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            errors[model] = f"{type(exc).__name__}: {(proc.stderr or '')[-300:] if 'proc' in locals() else exc}"
    if not per_model:
        return {"max_stall_ms": None, "reason": "; ".join(f"{k}: {v}" for k, v in errors.items())}
    return {"max_stall_ms": max(per_model.values()), "per_model_ms": per_model, "errors": errors or None,
            "input": str(cloud.name), "note": "rendering (widget paints, OpenGL frames and compositing) timed apart and excluded: software rendering under Xvfb"}


def poisson_baseline(data) -> dict:
    """Screened Poisson (Open3D, depth 8, normals estimated) on the same point cloud: seconds, faces."""
    from .quality import open3d_problem, poisson

    if problem := open3d_problem():
        return {"seconds": None, "input_points": int(len(data.points)), "reason": problem}
    mesh, seconds = poisson(np.asarray(data.points))
    return {"seconds": seconds, "input_points": int(len(data.points)), "method": "Open3D screened Poisson depth 8",
            "faces": None if mesh is None else int(len(mesh.faces))}

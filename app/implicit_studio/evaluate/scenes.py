"""``implicit-studio benchmark scenes``: the scene model on whole rooms, against screened Poisson.

Quality (``--splits``): for each room of the split (``data rooms``), the scene model and screened
Poisson reconstruct the same input cloud (``--inputs scan``: the room as its scanners saw it,
noise 0.5 cm; ``uniform``: samples of every surface with the same noise) and are measured in
metres: IoU at the room's labelled uniform points (winding numbers of the mesh), Chamfer-L1, and
F-score at 1 cm and 2 cm against the surfaces that face the room's interior (what a scanner can
see; the walls' outer faces and the floor's underside are seen by no one), both surfaces sampled
at 10,000 points per m^2 (so that sampling adds a few millimetres, not centimetres, to the
distances: a fixed count of samples would favour a mesh with less area). The labelled solid is
scored too, as the bound of any closed reconstruction (``solid_bound``).

Scaling (``--scaling``): the smallest test room's scan copied side by side on a 1 x 1, 2 x 2 and 4 x 4 grid
(1x, 4x, 16x the floor area at the same density), each reconstructed in a fresh process through
the CLI: seconds to the first tile and to the whole scene, peak resident memory; the exponent of
time against floor area is fitted on a log-log line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
IOU_POINTS = 200_000
SAMPLE_DENSITY = 10_000.0    # mesh samples per m^2: the rooms' EVAL_DENSITY
MAX_SAMPLES = 4_000_000
POISSON_DEPTH = 10          # a 2^10 grid over the room's longest side: about 1 cm for a 10 m room
ROW_KEYS = ("iou", "chamfer_l1", "fscore_1cm", "fscore_2cm", "seconds")
# the CLI in a child process that reports its own peak resident memory (Linux VmHWM: the high-water
# mark of this process's memory since its exec, not inherited from the benchmark that started it)
PEAK_RSS_CHILD = ("import sys\nfrom implicit_studio.cli import main\nrc = main(sys.argv[1:])\n"
                  "sys.stderr.write(''.join(l for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
                  "sys.exit(rc)")


def room_input(room: dict, kind: str, seed: int) -> np.ndarray:
    """The input cloud (N, 3) metres of a room: its scan, or its uniform surface samples with the
    scan's noise."""
    if kind == "scan":
        return room["scan_points"].astype(np.float64)
    from ..train.data.rooms import SCAN_NOISE

    rng = np.random.default_rng(seed)
    surface = room["surface_points"].astype(np.float64)
    return surface + rng.normal(0.0, SCAN_NOISE, surface.shape)


def scene_mesh(points: np.ndarray, checkpoint: str | None, voxel: float, refine: float = 0.0):
    """The scene model's mesh of ``points`` (N, 3) metres, each tile refined for at most ``refine``
    seconds: (trimesh or None, seconds, stats)."""
    import trimesh

    from ..engine.events import Finished, LevelMesh
    from ..engine.session import ReconstructionSession, Settings
    from ..io.inputs import InputData

    data = InputData("room", "points", points=points.astype(np.float32))
    session = ReconstructionSession(data, Settings(model="convonet-scene", checkpoint=checkpoint, voxel=voxel,
                                                         refine=refine))
    t0 = time.perf_counter()
    mesh, stats = None, {}
    for event in session.run():
        if isinstance(event, LevelMesh) and event.final and len(event.faces):
            mesh = trimesh.Trimesh(event.vertices.astype(np.float64), event.faces, process=False)
        elif isinstance(event, Finished):
            stats = event.stats
    return mesh, time.perf_counter() - t0, stats


def poisson_room(points: np.ndarray, eyes: np.ndarray | None):
    """Screened Poisson (Open3D, depth ``POISSON_DEPTH``) of a room cloud (N, 3): normals estimated
    from 16 neighbours and turned toward the nearest scanner position ``eyes`` (S, 3) when known
    (a scan knows where it was taken), else oriented by a consistent tangent plane.
    Returns (trimesh or None, seconds)."""
    import open3d as o3d
    import trimesh
    from scipy.spatial import cKDTree

    t0 = time.perf_counter()
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(16))
    if eyes is not None and len(eyes):
        normals = np.asarray(pcd.normals)
        eye = eyes[cKDTree(eyes).query(points)[1]]
        flip = np.einsum("ij,ij->i", normals, eye - points) < 0
        normals[flip] *= -1.0
        pcd.normals = o3d.utility.Vector3dVector(normals)
    else:
        pcd.orient_normals_consistent_tangent_plane(16)
    mesh, density = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(pcd, depth=POISSON_DEPTH)
    density = np.asarray(density)
    mesh.remove_vertices_by_mask(density < np.quantile(density, 0.02))
    out = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.triangles), process=False)
    return (out if len(out.faces) else None), time.perf_counter() - t0


def interior_surface(room: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The room's dense samples of its interior-facing surface (``eval_points``, ``eval_normals``:
    (E, 3) float64 each); rooms built before they existed are refused."""
    from ..errors import InputError

    if "eval_points" not in room:
        raise InputError(f"{name}: built before rooms carried their dense evaluation surface; "
                         "build the split again with 'implicit-studio data rooms'")
    return room["eval_points"].astype(np.float64), room["eval_normals"].astype(np.float64)


def room_metrics(mesh, room: dict, name: str, seed: int) -> dict:
    """IoU, Chamfer-L1 and F-scores at 1 and 2 cm of ``mesh`` (metres) against ``room``'s labels and
    its interior-facing surface; a missing mesh scores IoU 0 and F 0. The mesh is sampled at
    ``SAMPLE_DENSITY`` per m^2 (at most ``MAX_SAMPLES``) and the room's surface is sampled as
    densely (``interior_surface``), so that a surface that is right measures within a few
    millimetres at any room size."""
    from ..evaluate.inside import points_inside
    from ..evaluate.metrics import occupancy_iou, sample_surface, surface_metrics

    rng = np.random.default_rng(seed)
    gt_points, gt_normals = interior_surface(room, name)
    if mesh is None:
        return {"iou": 0.0, "chamfer_l1": None, "fscore_1cm": 0.0, "fscore_2cm": 0.0}
    pick = rng.choice(len(room["uniform_points"]), min(IOU_POINTS, len(room["uniform_points"])), replace=False)
    inside = points_inside(mesh.vertices, mesh.faces, room["uniform_points"][pick].astype(np.float64))
    iou = occupancy_iou(inside, room["uniform_occ"][pick])
    count = int(min(MAX_SAMPLES, max(1000, SAMPLE_DENSITY * mesh.area)))
    pred_points, pred_normals = sample_surface(mesh.vertices[mesh.faces], count, rng)
    surface = surface_metrics(pred_points, pred_normals, gt_points, gt_normals)
    # the rooms are in metres: the metric module's 0.01 and 0.02 thresholds are 1 and 2 cm
    return {"iou": iou, "chamfer_l1": surface["chamfer_l1"], "fscore_1cm": surface["fscore_1pct"],
            "fscore_2cm": surface["fscore_2pct"]}


def solid_bound(room: dict, name: str) -> dict:
    """The F-scores of the exact labelled solid: its whole surface, the walls' outer faces and the
    floor's underside included, against the interior-facing part. Its recall is 1 (the interior
    surface is part of it); its precision is the share of its area within the threshold of the
    interior surface (over ``surface_points``, uniform by area). No closed reconstruction can do
    better, as the faces no scanner saw count against its precision. IoU is 1 by definition."""
    from scipy.spatial import cKDTree

    from ..evaluate.metrics import fscore

    gt_points, _ = interior_surface(room, name)
    distance = cKDTree(gt_points).query(room["surface_points"].astype(np.float64))[0]
    distance[room["surface_inner"]] = 0.0
    return {"iou": 1.0, "chamfer_l1": None,
            "fscore_1cm": fscore(float(np.mean(distance <= 0.01)), 1.0),
            "fscore_2cm": fscore(float(np.mean(distance <= 0.02)), 1.0)}


def trimmed(mesh, points: np.ndarray, distance: float):
    """``mesh`` without the faces farther than ``distance`` from every input point (N, 3): what
    ``--trim`` makes tile by tile (``engine.tiling.trim_faces``; the same faces, tests/unit/test_tiling.py)."""
    import trimesh

    from ..engine.tiling import trim_faces

    vertices, faces = trim_faces(mesh.vertices, mesh.faces, points, distance)
    return trimesh.Trimesh(vertices, faces, process=False) if len(faces) else None


def evaluate_rooms(root: Path, split: str, n_rooms: int, kind: str, checkpoint: str | None, voxel: float,
                   with_poisson: bool, seed: int, refine: float = 0.0, trims: tuple[float, ...] = ()) -> dict:
    """Rows per room and the mean of each method over the first ``n_rooms`` rooms of ``split``; with
    ``trims``, the scene model's mesh is also scored trimmed at each of those distances (metres)."""
    from ..train.data.rooms import load_room, read_rooms

    method = "convonet-scene+refine" if refine > 0 else "convonet-scene"
    rows: dict[str, list] = {method: []}
    rows.update({f"{method}, trim {100 * t:g} cm": [] for t in trims})
    rows.update({"poisson": [], "labelled solid (bound)": []})
    for name in read_rooms(root, split)[:n_rooms]:
        room = load_room(root / f"{name}.npz")
        points = room_input(room, kind, seed)
        mesh, seconds, stats = scene_mesh(points, checkpoint, voxel, refine)
        row = {"room": name, **room_metrics(mesh, room, name, seed), "seconds": seconds, "points": len(points),
               "first_tile_s": stats.get("scene", {}).get("first_tile_s")}
        rows[method].append(row)
        log.info("%s %s: %s", name, method, {k: row[k] for k in ROW_KEYS})
        for t in trims:
            cut = trimmed(mesh, points, t) if mesh is not None else None
            rows[f"{method}, trim {100 * t:g} cm"].append({"room": name, **room_metrics(cut, room, name, seed),
                                                           "seconds": seconds})
        if with_poisson:
            mesh, seconds = poisson_room(points, room["scan_origins"].astype(np.float64) if kind == "scan" else None)
            row = {"room": name, **room_metrics(mesh, room, name, seed), "seconds": seconds}
            rows["poisson"].append(row)
            log.info("%s poisson: %s", name, {k: row[k] for k in ROW_KEYS})
        rows["labelled solid (bound)"].append({"room": name, **solid_bound(room, name), "seconds": None})
    return {method: {"rooms": r, "mean": _mean(r)} for method, r in rows.items() if r}


def _mean(rows: list[dict]) -> dict:
    out = {}
    for key in ROW_KEYS:
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    out["rooms"] = len(rows)
    return out


def scaling(room_path: Path, checkpoint: str | None, voxel: float, grids=(1, 2, 4)) -> dict:
    """Time and peak memory of the CLI on 1x, 4x, 16x the floor area of one room's scan."""
    from ..io.files import write_point_cloud
    from ..train.data.rooms import load_room

    room = load_room(room_path)
    scan = room["scan_points"].astype(np.float64)
    step = np.array([room["size"][0] + 0.6, 0.0, room["size"][2] + 0.6])
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in grids:
            copies = [scan + step * np.array([i, 0, j]) for i in range(n) for j in range(n)]
            cloud = Path(tmp, f"room{n}.ply")
            write_point_cloud(cloud, np.concatenate(copies))
            stats_path = Path(tmp, f"stats{n}.json")
            cmd = [sys.executable, "-c", PEAK_RSS_CHILD, "reconstruct", str(cloud), "--model", "convonet-scene",
                   "--out", str(Path(tmp, f"mesh{n}.ply")), "--voxel", str(voxel), "--stats-json", str(stats_path),
                   "--quiet"] + (["--checkpoint", checkpoint] if checkpoint else [])
            done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            peak = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("VmHWM:")]
            if done.returncode != 0 or not peak:
                raise RuntimeError(f"reconstruct failed on the {n} x {n} scene: {done.stderr[-500:]}")
            stats = json.loads(stats_path.read_text())
            runs.append({"copies": n * n, "floor_m2": float(n * n * room["size"][0] * room["size"][2]),
                         "points": int(sum(len(c) for c in copies)), "total_s": stats["total_s"],
                         "first_tile_s": stats["scene"].get("first_tile_s"),
                         "tiles": stats["scene"]["occupied_tiles"], "peak_rss_mb": int(peak[-1]) / 1024.0})
            log.info("scaling %d x %d: %s", n, n, runs[-1])
    area = np.log([r["floor_m2"] for r in runs])
    exponent = float(np.polyfit(area, np.log([r["total_s"] for r in runs]), 1)[0]) if len(runs) > 1 else None
    return {"room": room_path.stem, "runs": runs, "time_exponent": exponent,
            "memory_spread": max(r["peak_rss_mb"] for r in runs) / min(r["peak_rss_mb"] for r in runs) - 1.0}


def format_table(results: dict) -> str:
    lines = ["| split | method | rooms | IoU | Chamfer-L1 (m) | F@1cm | F@2cm | s/room |", "|---|---|---|---|---|---|---|---|"]
    for split, methods in results.get("splits", {}).items():
        for method, block in methods.items():
            m = block["mean"]
            cells = [f"{m[k]:.3f}" if m[k] is not None else "-" for k in ("iou",)]
            cells.append(f"{m['chamfer_l1']:.4f}" if m["chamfer_l1"] is not None else "-")
            cells += [f"{m[k]:.3f}" for k in ("fscore_1cm", "fscore_2cm")]
            cells.append(f"{m['seconds']:.1f}" if m["seconds"] is not None else "-")
            lines.append(f"| {split} | {method} | {m['rooms']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="data/rooms", help="rooms folder (from 'data rooms')")
    parser.add_argument("--splits", default="test,unfamiliar")
    parser.add_argument("--rooms", type=int, default=5, help="rooms per split")
    parser.add_argument("--inputs", choices=("scan", "uniform"), default="scan")
    parser.add_argument("--voxel", type=float, default=0.02, help="the scene model's lattice step (m)")
    parser.add_argument("--checkpoint", help="scene weights to measure instead of the shipped ones")
    parser.add_argument("--trim", default="", metavar="METRES,...",
                        help="also score the scene model's mesh trimmed at these distances (e.g. 0.04,0.06)")
    parser.add_argument("--refine", type=float, default=0.0, metavar="SECONDS",
                        help="refine each tile's features to its points for at most this long (default 0: off)")
    parser.add_argument("--no-poisson", action="store_true", help="leave screened Poisson out")
    parser.add_argument("--scaling", action="store_true", help="also time 1x, 4x and 16x the smallest test room")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results here")


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from .quality import open3d_problem
    from ..train.data.rooms import load_room, read_rooms

    root = Path(args.data)
    try:
        trims = tuple(float(t) for t in args.trim.split(",") if t.strip())
    except ValueError:
        raise InputError(f"--trim {args.trim!r}: give distances in metres, e.g. 0.04,0.06") from None
    if not (root / "manifest.json").is_file():
        raise InputError(f"{root}: no rooms there (manifest.json missing); run 'implicit-studio data rooms'")
    problem = None if args.no_poisson else open3d_problem()
    if problem:
        print(f"benchmark scenes: poisson skipped: {problem}", file=sys.stderr)
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "inputs": args.inputs, "voxel_m": args.voxel, "checkpoint": args.checkpoint,
               "refine_s_per_tile": args.refine, "trims_m": list(trims), "splits": {}}
    for split in args.splits.split(","):
        if read_rooms(root, split):
            results["splits"][split] = evaluate_rooms(root, split, args.rooms, args.inputs, args.checkpoint,
                                                      args.voxel, not args.no_poisson and problem is None, args.seed,
                                                      args.refine, trims)
    if args.scaling:
        rooms = read_rooms(root, "test")
        if not rooms:
            raise InputError(f"{root}: no test room to scale")
        smallest = min(rooms, key=lambda r: float(np.prod(load_room(root / f"{r}.npz")["size"][[0, 2]])))
        results["scaling"] = scaling(root / f"{smallest}.npz", args.checkpoint, args.voxel)
    print(format_table(results))
    if "scaling" in results:
        s = results["scaling"]
        print(f"scaling: time exponent {s['time_exponent']:.2f}, peak memory spread {100 * s['memory_spread']:.0f} %")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0

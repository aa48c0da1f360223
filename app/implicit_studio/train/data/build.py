"""Build the training data set: labelled points, surface samples and views per shape.

Layout of ``DIR`` (the training code reads exactly this):

- ``manifest.json``: ``{"version": 1, "shapes": [{"id", "source", "category", "name",
  "creator", "license", "split"}, ...], "held_out_categories": [...]}``
- ``shapes/<id>.npz`` (see ``write_shape``), ``splits/{train,val,test,heldout}.txt``
- ``rejected.json``: shapes left out and why; ``report.json``: the last build's figures.

Reproducible: every random draw of a shape comes from ``seed`` and its id. Resumable: a
shape whose file is complete, or that was rejected before, is not built again (delete
``rejected.json`` to retry rejected shapes); files are written to a temporary name and
renamed. Bad source files are rejected with a reason, never fatal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from . import labels, procedural, render
from ...io.normalize import BOX_HALF, Normalization
from .sources import SOURCES, UNFAMILIAR_SOURCES, MeshData, ShapeRecord, SourceUnavailable, list_shapes, load_mesh

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
HELD_OUT_CATEGORIES = ("Bathroom", "Vehicles")
SPLITS = ("train", "val", "test", "heldout", "unfamiliar")
NEAR_SIGMAS = (0.01, 0.05)  # half of the near points each
SHAPE_KEYS = ("uniform_points", "uniform_occ", "near_points", "near_occ", "surface_points",
              "surface_normals", "images", "cam_K", "cam_Rt")
MANIFEST_EVERY = 25  # shapes between manifest rewrites during a long build


@dataclass(frozen=True)
class BuildConfig:
    """What is computed per shape, and what is rejected.

    n_points : points of each kind (uniform, near, surface)
    n_views, image_size : rendered views per shape and their side in pixels
    resolution : label voxels along the longest side (see labels.py)
    max_faces : meshes with more faces are rejected
    min_occupancy : shapes whose uniform points are less occupied are rejected
    """

    n_points: int = 100_000
    n_views: int = render.N_VIEWS
    image_size: int = render.IMAGE_SIZE
    resolution: int = labels.DEFAULT_RESOLUTION
    max_faces: int = 300_000
    min_occupancy: float = 0.005


class Rejected(Exception):
    """A shape that cannot be used; the message is the reason."""


# --------------------------------------------------------------------------- one shape


def shape_rng(seed: int, shape_id: str) -> np.random.Generator:
    """The generator of every random draw for one shape: fixed by ``seed`` and the id."""
    return np.random.default_rng([seed, zlib.crc32(shape_id.encode("utf-8"))])


def compute_shape(vertices: np.ndarray, faces: np.ndarray, face_colors: np.ndarray, rng: np.random.Generator,
                  config: BuildConfig = BuildConfig(), on_floor: bool = False,
                  exact: procedural.Sdf | None = None) -> dict[str, np.ndarray]:
    """All arrays of one shape from its mesh (any units, y up; normalised here to the unit frame).

    vertices : (V, 3), faces : (F, 3), face_colors : (F, 3) uint8
    on_floor : the shape stands on a floor at its lowest point (see labels.build_labeler)
    exact : the shape's own signed function in the mesh's frame (procedural shapes): labels
        come from it instead of the "seen from outside" convention
    Returns the ``shapes/<id>.npz`` arrays (see ``write_shape``); raises Rejected.
    """
    if len(faces) == 0:
        raise Rejected("empty mesh")
    if len(faces) > config.max_faces:
        raise Rejected(f"too many faces ({len(faces):,} > {config.max_faces:,})")
    used = np.asarray(vertices, dtype=np.float64)[np.asarray(faces).ravel()]
    if not np.isfinite(used).all():
        raise Rejected("non-finite vertex coordinates")
    if np.ptp(used, axis=0).max() <= 0:
        raise Rejected("degenerate mesh (zero extent)")
    normalization = Normalization.fit(used)
    unit = normalization.to_unit(vertices).astype(np.float64)
    _, keep = labels.unit_face_normals(unit, faces)
    if not keep.any():
        raise Rejected("degenerate mesh (every face has zero area)")
    faces, face_colors = faces[keep], face_colors[keep]
    labeler = (labels.build_labeler(unit, faces, config.resolution, on_floor) if exact is None else
               procedural.ExactLabeler(exact, normalization))
    n = config.n_points
    uniform = _as_half(rng.uniform(-BOX_HALF, BOX_HALF, (n, 3)))
    uniform_occ = labeler.occupancy(uniform)
    if uniform_occ.mean() < config.min_occupancy:
        raise Rejected(f"under {config.min_occupancy:.1%} occupied ({uniform_occ.mean():.2%})")
    surface, normals = sample_surface(unit, faces, n, rng)
    normals = labeler.orient_outward(surface, normals)
    near_base, _ = sample_surface(unit, faces, n, rng)
    sigma = np.repeat(NEAR_SIGMAS, [n - n // 2, n // 2])[:, None]
    near = _as_half(near_base + rng.normal(size=(n, 3)) * sigma)
    cam_k, cam_rt = render.random_cameras(rng, config.n_views, config.image_size)
    return {
        "uniform_points": uniform.astype(np.float16),
        "uniform_occ": np.packbits(uniform_occ),
        "near_points": near.astype(np.float16),
        "near_occ": np.packbits(labeler.occupancy(near)),
        "surface_points": surface.astype(np.float16),
        "surface_normals": normals.astype(np.float16),
        "images": render.render_views(unit, faces, face_colors, cam_k, cam_rt, config.image_size),
        "cam_K": cam_k,
        "cam_Rt": cam_rt,
    }


def _as_half(points: np.ndarray) -> np.ndarray:
    """Round (N, 3) points to float16 and back, so labels hold for the stored values."""
    return points.astype(np.float16).astype(np.float64)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted uniform samples on a mesh: points (n, 3) and their faces' unit normals (n, 3)."""
    normals, _ = labels.unit_face_normals(vertices, faces)
    tri = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    cumulative = np.cumsum(area)
    face = np.minimum(np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right"), len(faces) - 1)
    r1, r2 = rng.random(n), rng.random(n)
    flip = r1 + r2 > 1.0
    r1, r2 = np.where(flip, 1.0 - r1, r1), np.where(flip, 1.0 - r2, r2)
    t = tri[face]
    points = t[:, 0] + r1[:, None] * (t[:, 1] - t[:, 0]) + r2[:, None] * (t[:, 2] - t[:, 0])
    return points, normals[face]


def write_shape(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``shapes/<id>.npz`` atomically (temporary file, then rename).

    uniform_points (N, 3) float16 in [-0.55, 0.55]^3, uniform_occ packbits of (N,) bool,
    near_points (N, 3) float16, near_occ packbits, surface_points (N, 3) float16,
    surface_normals (N, 3) float16, images (V, H, W, 3) uint8, cam_K (V, 3, 3) float32,
    cam_Rt (V, 3, 4) float32 world-to-camera (OpenCV axes, see render.py).
    """
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(tmp, path)


def is_complete(path: Path) -> bool:
    """True when ``path`` is a readable shape file holding every array."""
    try:
        with np.load(path) as data:
            return set(SHAPE_KEYS) <= set(data.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False


def build_one(record: ShapeRecord, shapes_dir: str, seed: int, config: BuildConfig) -> dict:
    """Build one shape file; never raises. Returns {"id", "status", "reason", "seconds", ...}."""
    start = time.perf_counter()
    result = {"id": record.id, "status": "written", "reason": ""}
    try:
        rng = shape_rng(seed, record.id)
        exact = None
        try:
            if record.source == procedural.SOURCE:     # the shape itself is drawn from the shape's generator
                vertices, faces, exact = procedural.make_shape(record.category, rng)
                mesh = MeshData(vertices, faces, np.tile(rng.integers(60, 230, 3).astype(np.uint8), (len(faces), 1)))
            else:
                mesh = load_mesh(record)
        except Exception as exc:  # any broken file: a rejection, not a crash
            raise Rejected(f"load failed: {type(exc).__name__}: {exc}") from exc
        arrays = compute_shape(mesh.vertices, mesh.faces, mesh.face_colors, rng, config, record.on_floor, exact)
        write_shape(Path(shapes_dir) / f"{record.id}.npz", arrays)
        result["faces"] = int(len(mesh.faces))
        result["occupancy"] = float(np.unpackbits(arrays["uniform_occ"])[:config.n_points].mean())
    except Rejected as exc:
        result.update(status="rejected", reason=str(exc))
    except Exception as exc:  # a bug or an odd mesh must not stop a long build
        result.update(status="rejected", reason=f"error: {type(exc).__name__}: {exc}")
    result["seconds"] = time.perf_counter() - start
    return result


# --------------------------------------------------------------------------- splits


def assign_split(shape_id: str, category: str, seed: int, held_out: tuple[str, ...] | list[str],
                 source: str = "") -> str:
    """The split of a shape: "unfamiliar" for whole sources and procedural families never
    trained on, "heldout" for held-out categories, else train/val/test ~80/10/10.

    The others come from a hash of ``seed`` and the id (not a shuffle), so a shape keeps
    its split when shapes are added or rejected.
    """
    if source in UNFAMILIAR_SOURCES or (source == procedural.SOURCE and category in procedural.HELD_OUT_FAMILIES):
        return "unfamiliar"
    if category in held_out:
        return "heldout"
    u = int(hashlib.sha256(f"{seed}:{shape_id}".encode("utf-8")).hexdigest()[:12], 16) / 16 ** 12
    return "train" if u < 0.8 else "val" if u < 0.9 else "test"


def build_order(records: list[ShapeRecord], seed: int) -> list[ShapeRecord]:
    """A seeded order that mixes sources, so ``limit`` takes a sample of them all."""
    return sorted(records, key=lambda r: hashlib.sha256(f"order:{seed}:{r.id}".encode("utf-8")).hexdigest())


def write_index(out: Path, records: list[ShapeRecord], seed: int, held_out: tuple[str, ...]) -> dict[str, int]:
    """Write manifest.json and splits/*.txt for every complete shape file; returns split counts.

    Entries of an earlier manifest whose files exist are kept (a build of other sources).
    """
    shapes_dir = out / "shapes"
    entries = {r.id: r.manifest_entry() for r in records if (shapes_dir / f"{r.id}.npz").exists()}
    old = out / "manifest.json"
    if old.exists():
        for entry in json.loads(old.read_text(encoding="utf-8")).get("shapes", []):
            if entry["id"] not in entries and (shapes_dir / f"{entry['id']}.npz").exists():
                entries[entry["id"]] = {k: v for k, v in entry.items() if k != "split"}
    shapes = [{**entries[i], "split": assign_split(i, entries[i]["category"], seed, held_out, entries[i]["source"])}
              for i in sorted(entries)]
    return write_manifest(out, shapes, held_out)


def write_manifest(out: Path, shapes: list[dict], held_out: tuple[str, ...] | list[str]) -> dict[str, int]:
    """Write manifest.json and splits/*.txt for manifest entries that carry their split."""
    manifest = {"version": MANIFEST_VERSION, "shapes": shapes, "held_out_categories": list(held_out)}
    _write_json(out / "manifest.json", manifest)
    (out / "splits").mkdir(exist_ok=True)
    counts = {}
    for split in SPLITS:
        ids = [s["id"] for s in shapes if s["split"] == split]
        _write_text(out / "splits" / f"{split}.txt", "".join(f"{i}\n" for i in ids))
        counts[split] = len(ids)
    return counts


def _write_json(path: Path, data) -> None:
    _write_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def _write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- the build


def iter_build(out_dir: str | Path, sources: tuple[str, ...] | list[str] = ("furniture", "blobs"),
               limit: int | None = None, workers: int = 1, seed: int = 0, cache_dir: str | Path | None = None,
               held_out: tuple[str, ...] = HELD_OUT_CATEGORIES,
               config: BuildConfig = BuildConfig()) -> Iterator[dict]:
    """Build the data set, yielding one event per shape; the generator returns the report.

    Events: {"done", "total", "id", "status" ("written" or "rejected"),
    "reason", "seconds"}. Closing the generator stops the build after the current shape
    (with workers > 1, after the shapes in flight); what was written stays valid.
    """
    out = Path(out_dir)
    shapes_dir = out / "shapes"
    shapes_dir.mkdir(parents=True, exist_ok=True)
    records = build_order(list_shapes(sources, cache_dir), seed)[:limit]
    rejected = _load_rejected(out)
    todo = [r for r in records if r.id not in rejected and not is_complete(shapes_dir / f"{r.id}.npz")]
    already_done = sum(1 for r in records if r.id not in rejected) - len(todo)
    stats, start, times = Counter(), time.perf_counter(), []
    results = _run_shapes(todo, str(shapes_dir), seed, config, workers)
    try:
        for done, (record, result) in enumerate(zip(todo, results), start=1):
            stats[result["status"]] += 1
            times.append(result["seconds"])
            if result["status"] == "rejected":
                rejected[record.id] = {"id": record.id, "source": record.source, "name": record.name,
                                       "path": record.path, "reason": result["reason"]}
                _write_json(out / "rejected.json", sorted(rejected.values(), key=lambda r: r["id"]))
            if done % MANIFEST_EVERY == 0:
                write_index(out, records, seed, held_out)
            yield {"done": done, "total": len(todo), **result}
    finally:
        results.close()
        counts = write_index(out, records, seed, held_out)
    report = {
        "out_dir": str(out), "sources": list(sources), "seed": seed, "candidates": len(records),
        "already_done": already_done, "written": stats["written"], "rejected": stats["rejected"],
        "rejected_total": sum(1 for r in records if r.id in rejected),
        "rejected_reasons": dict(Counter(_reason_kind(v["reason"]) for v in rejected.values())),
        "splits": counts, "held_out_categories": list(held_out), "config": asdict(config),
        "seconds": round(time.perf_counter() - start, 1),
        "seconds_per_shape": round(float(np.mean(times)), 3) if times else None,
    }
    _write_json(out / "report.json", report)
    return report


def _run_shapes(todo: list[ShapeRecord], shapes_dir: str, seed: int, config: BuildConfig,
                workers: int) -> Iterator[dict]:
    """Results of ``build_one`` in the order of ``todo``, in this process or a pool."""
    if workers <= 1:
        for record in todo:
            yield build_one(record, shapes_dir, seed, config)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(build_one, r, shapes_dir, seed, config) for r in todo]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _load_rejected(out: Path) -> dict[str, dict]:
    path = out / "rejected.json"
    if not path.exists():
        return {}
    return {r["id"]: r for r in json.loads(path.read_text(encoding="utf-8"))}


def _reason_kind(reason: str) -> str:
    """The kind of a rejection reason, for counting: text before any figures or details."""
    return reason.split(" (")[0].split(":")[0]


def build_dataset(out_dir: str | Path, sources: tuple[str, ...] | list[str] = ("furniture", "blobs"),
                  limit: int | None = None, workers: int = 1, seed: int = 0, log: logging.Logger | None = None,
                  progress: Callable[[dict], None] | None = None, **options) -> dict:
    """Build (or resume) a data set in ``out_dir``; returns the report (also in report.json).

    sources : names from ``sources.SOURCES``; limit : build only the first ``limit``
    shapes of the seeded order; workers : processes; log : logger for the progress lines
    (default: this module's); progress : called with every event of ``iter_build``;
    options : ``cache_dir``, ``held_out``, ``config`` of ``iter_build``.
    """
    logger = log or globals()["log"]
    events = iter_build(out_dir, sources, limit, workers, seed, **options)
    start = time.perf_counter()
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            report = stop.value
            break
        if progress is not None:
            progress(event)
        logger.info("%s", progress_line(event, time.perf_counter() - start))
    logger.info("built %d shapes, rejected %d, %d were already done; splits %s", report["written"],
                report["rejected"], report["already_done"], report["splits"])
    return report


def progress_line(event: dict, elapsed: float) -> str:
    """One progress line: "[12/60] id: written (1.8 s) | 1.9 s/shape, 1 min left"."""
    done, total = event["done"], event["total"]
    rate = elapsed / max(done, 1)
    status = event["status"] + (f": {event['reason']}" if event["reason"] else "")
    return (f"[{done}/{total}] {event['id']}: {status} ({event['seconds']:.1f} s) | "
            f"{rate:.1f} s/shape, {rate * (total - done) / 60:.0f} min left")


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``implicit-studio data build``."""
    parser.add_argument("--out", required=True, help="output directory (created; an existing one is resumed)")
    parser.add_argument("--sources", default="furniture,blobs",
                        help=f"comma-separated sources among {','.join(SOURCES)} (default: furniture,blobs)")
    parser.add_argument("--limit", type=int, default=None, help="build only the first N shapes of the seeded order")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw and of the splits")
    parser.add_argument("--cache-dir", default=None, help="where downloaded packages go "
                        "(default ~/.cache/implicit-studio/sources)")


def run(args: argparse.Namespace) -> int:
    """Run ``data build`` from parsed arguments; 0 on success, 2 when a source is unavailable."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("trimesh").setLevel(logging.ERROR)  # missing textures are expected: not shipped
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    try:
        report = build_dataset(args.out, sources, args.limit, args.workers, args.seed, cache_dir=args.cache_dir)
    except (SourceUnavailable, ValueError) as exc:
        log.error("data build: %s", exc)
        return 2
    log.info("report: %s", json.dumps({k: report[k] for k in ("written", "rejected", "splits", "seconds_per_shape")}))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m implicit_studio.train.data.build``: the same options as ``implicit-studio data build``."""
    parser = argparse.ArgumentParser(prog="python -m implicit_studio.train.data.build",
                                     description="Build the training data set from package-registry shapes.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

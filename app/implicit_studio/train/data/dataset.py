"""Torch data set over a built data directory (see build.py), and a synthetic one for tests.

Each item is a dict of tensors:

- ``inputs`` (n_input_points, 3) float32: surface samples with Gaussian noise
- ``points`` (n_queries, 3) float32: near-surface points (``near_fraction``) then uniform ones
- ``occ`` (n_queries,) float32: 1 inside, 0 outside
- ``image`` (3, H, W) float32 in [0, 1], with ``with_images``: a random view, view 0 in eval

With ``mirror`` (training only), half the draws mirror the shape left-right: ``inputs`` and
``points`` get x -> -x, labels unchanged (the box is symmetric), and the image is flipped
horizontally. The flipped image is exactly the mirrored shape seen from the mirrored camera
(cameras orbit the y axis with uniform azimuth, principal point centred), so it is still a
view from the training distribution; only the light then comes from the other side.

With ``photos`` (a ``photos.PhotoAugment``, images only) every view is framed as a user's photo
is (``io.photo``), and that share of them first made photo-like over backgrounds of the
``backgrounds`` bank ("train" or "eval"; see photos.py).

With ``kinds`` (``scans.InputKinds``, point inputs only) the inputs are drawn like real
scans (partial, uneven, any count, noise, outliers) and inputs and queries together get a
random pose; see scans.py.

With ``eval=True`` every draw is fixed by (seed, index); otherwise it comes from torch's
global generator, so ``torch.manual_seed`` (and DataLoader worker seeding) make a
training run repeatable while each epoch sees new samples.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from . import photos as photo_views
from . import render, scans
from .build import BOX_HALF, NEAR_SIGMAS, SPLITS, sample_surface, write_manifest, write_shape

POINT_KEYS = ("uniform_points", "near_points", "surface_points", "surface_normals")


def load_shape(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of one ``shapes/<id>.npz``: points as float32, occupancies as (N,) bool."""
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    for key in POINT_KEYS:
        arrays[key] = arrays[key].astype(np.float32)
    for kind in ("uniform", "near"):
        arrays[f"{kind}_occ"] = _unpack(arrays[f"{kind}_occ"], len(arrays[f"{kind}_points"]))
    return arrays


def _unpack(bits: np.ndarray, n: int) -> np.ndarray:
    """np.packbits output -> the first ``n`` values as (n,) bool."""
    return np.unpackbits(bits)[:n].astype(bool)


def read_manifest(root: str | Path) -> dict:
    """The ``manifest.json`` of a data directory."""
    return json.loads(Path(root, "manifest.json").read_text(encoding="utf-8"))


class ShapeDataset(torch.utils.data.Dataset):
    """Shapes of one split ("train", "val", "test", "heldout" or "all") of a data directory."""

    def __init__(self, root: str | Path, split: str = "train", n_input_points: int = 3000, noise: float = 0.005,
                 n_queries: int = 2048, near_fraction: float = 0.5, with_images: bool = False, seed: int = 0,
                 eval: bool = False, mirror: bool = False, kinds: scans.InputKinds = scans.InputKinds(),
                 photos: "photo_views.PhotoAugment | None" = None, backgrounds: str = "train"):
        if split not in SPLITS + ("all",):
            raise ValueError(f"unknown split {split!r}; choose from {SPLITS + ('all',)}")
        if with_images and not kinds.plain:
            raise ValueError("scan-like inputs and poses apply to point inputs, not images")
        self.root = Path(root)
        self.shapes = [s for s in read_manifest(root)["shapes"] if split == "all" or s["split"] == split]
        self.n_input_points, self.noise = n_input_points, noise
        self.n_queries, self.near_fraction = n_queries, near_fraction
        self.with_images, self.seed, self.eval = with_images, seed, eval
        self.mirror = mirror and not eval
        self.kinds = kinds
        self.photos, self.backgrounds = photos, backgrounds

    @property
    def ids(self) -> list[str]:
        return [s["id"] for s in self.shapes]

    def shape_path(self, index: int) -> Path:
        return self.root / "shapes" / f"{self.shapes[index]['id']}.npz"

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self._rng(index)
        n_near = int(round(self.n_queries * self.near_fraction))
        with np.load(self.shape_path(index)) as data:
            if self.kinds.plain:
                surface = _pick(data["surface_points"], self.n_input_points, rng)
                points, occ = self._queries(data, n_near, rng)
                inputs = surface + rng.normal(0.0, self.noise, surface.shape).astype(np.float32)
            else:
                inputs, points, occ = self._scan_item(data, n_near, rng)
            flip = self.mirror and rng.random() < 0.5
            if flip:
                inputs[:, 0] *= -1.0
                points[:, 0] *= -1.0
            item = {
                "inputs": torch.from_numpy(inputs),
                "points": torch.from_numpy(points),
                "occ": torch.from_numpy(occ.astype(np.float32)),
            }
            if self.with_images:
                images = data["images"]
                view = 0 if self.eval else int(rng.integers(len(images)))
                image = images[view][:, ::-1] if flip else images[view]
                if self.photos is not None:
                    bank = list(photo_views.photo_backgrounds(self.backgrounds)) if self.photos.photo else []
                    image = photo_views.photo_view(np.ascontiguousarray(image), rng, bank, self.photos, image.shape[0])
                item["image"] = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
        return item

    def _queries(self, data, n_near: int, rng: np.random.Generator, pose: scans.Pose | None = None):
        """Query points (n_queries, 3) float32, near then uniform, and their labels (n_queries,) bool."""
        points, occ = [], []
        for kind, count in (("near", n_near), ("uniform", self.n_queries - n_near)):
            if not count:
                continue
            pts = data[f"{kind}_points"]
            labels = _unpack(data[f"{kind}_occ"], len(pts))
            if pose is not None and kind == "uniform":
                pts, labels = scans.posed_uniform_queries(pts, labels, count, pose, rng)
            else:
                idx = _choice(len(pts), count, rng)
                pts, labels = (pts[idx] if pose is None else pose.apply(pts[idx].astype(np.float64))), labels[idx]
            points.append(pts)
            occ.append(labels)
        return np.concatenate(points).astype(np.float32), np.concatenate(occ)

    def _scan_item(self, data, n_near: int, rng: np.random.Generator):
        """Scan-like inputs (n_input_points, 3), queries and labels, posed together (see scans.py)."""
        cloud = scans.scan_cloud(data["surface_points"], data["surface_normals"], self.kinds, self.n_input_points, rng)
        pose = scans.random_pose(cloud, self.kinds, rng) if self.kinds.posed else None
        if pose is not None:
            cloud = pose.apply(cloud)
        inputs = scans.noise_and_outliers(scans.encoder_subset(cloud, self.n_input_points, rng), self.kinds,
                                          self.noise, rng)
        points, occ = self._queries(data, n_near, rng, pose)
        return inputs, points, occ

    def _rng(self, index: int) -> np.random.Generator:
        if self.eval:
            return np.random.default_rng([self.seed, index])
        return np.random.default_rng([self.seed, index, int(torch.randint(0, 2 ** 62, ()).item())])


def _choice(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` indices into ``n`` items, without repetition when ``k <= n``."""
    return rng.choice(n, size=k, replace=k > n)


def _pick(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` rows of ``points`` (N, 3) as float32."""
    return points[_choice(len(points), k, rng)].astype(np.float32)


# --------------------------------------------------------------------------- synthetic


def make_synthetic_dataset(out_dir: str | Path, n_shapes: int = 6, n_points: int = 100_000, seed: int = 0,
                           n_views: int = render.N_VIEWS, image_size: int = render.IMAGE_SIZE) -> Path:
    """Write a small data set of ellipsoids, boxes and tori in the build.py format.

    Shapes are in the unit frame (longest side 1) with random proportions; labels come
    from analytic inside tests. The last shape is "test", the one before "val", the
    rest "train" (no held-out category). Returns ``out_dir``.
    """
    import trimesh

    out = Path(out_dir)
    (out / "shapes").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(n_shapes):
        kind = ("ellipsoid", "box", "torus")[i % 3]
        mesh, inside = _synthetic_shape(kind, rng, trimesh)
        shape_id = f"synthetic-{i:03d}-{kind}"
        write_shape(out / "shapes" / f"{shape_id}.npz",
                    _synthetic_arrays(mesh, inside, rng, n_points, n_views, image_size))
        split = "test" if i == n_shapes - 1 else "val" if i == n_shapes - 2 else "train"
        entries.append({"id": shape_id, "source": "synthetic", "category": kind, "name": f"{kind} {i}",
                        "creator": "implicit-studio", "license": "CC0-1.0", "split": split})
    write_manifest(out, entries, [])
    return out


def _synthetic_shape(kind: str, rng: np.random.Generator, trimesh):
    """A random unit-frame shape: (trimesh.Trimesh, inside test (N, 3) -> (N,) bool)."""
    if kind == "ellipsoid":
        axes = np.append(0.5, rng.uniform(0.2, 0.5, 2))[rng.permutation(3)]
        mesh = trimesh.creation.icosphere(3)
        mesh.vertices *= axes
        return mesh, lambda p: (np.square(p / axes)).sum(axis=1) <= 1.0
    if kind == "box":
        half = np.append(0.5, rng.uniform(0.15, 0.5, 2))[rng.permutation(3)]
        return trimesh.creation.box(2 * half), lambda p: (np.abs(p) <= half).all(axis=1)
    tube = rng.uniform(0.06, 0.16)
    ring = 0.5 - tube
    mesh = trimesh.creation.torus(ring, tube, major_sections=48, minor_sections=24)
    mesh.vertices = mesh.vertices[:, [0, 2, 1]]  # axis along y
    mesh.faces = mesh.faces[:, ::-1]
    return mesh, lambda p: np.square(np.hypot(p[:, 0], p[:, 2]) - ring) + np.square(p[:, 1]) <= tube * tube


def _synthetic_arrays(mesh, inside, rng: np.random.Generator, n: int, n_views: int,
                      image_size: int) -> dict[str, np.ndarray]:
    """The shape-file arrays of a synthetic shape (see build.write_shape)."""
    vertices, faces = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
    uniform = rng.uniform(-BOX_HALF, BOX_HALF, (n, 3)).astype(np.float16)
    surface, normals = sample_surface(vertices, faces, n, rng)
    near_base, _ = sample_surface(vertices, faces, n, rng)
    sigma = np.repeat(NEAR_SIGMAS, [n - n // 2, n // 2])[:, None]
    near = (near_base + rng.normal(size=(n, 3)) * sigma).astype(np.float16)
    cam_k, cam_rt = render.random_cameras(rng, n_views, image_size)
    colors = np.tile(rng.integers(60, 230, 3).astype(np.uint8), (len(faces), 1))
    return {
        "uniform_points": uniform, "uniform_occ": np.packbits(inside(uniform.astype(np.float64))),
        "near_points": near, "near_occ": np.packbits(inside(near.astype(np.float64))),
        "surface_points": surface.astype(np.float16), "surface_normals": normals.astype(np.float16),
        "images": render.render_views(vertices, faces, colors, cam_k, cam_rt, image_size),
        "cam_K": cam_k, "cam_Rt": cam_rt,
    }

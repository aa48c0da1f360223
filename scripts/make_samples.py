"""Make the small sample inputs in resources/samples (run: .venv/bin/python scripts/make_samples.py).

torus.ply   bumpy torus-like blob, 20,000 points with normals
sparse.ply  3,000 noisy points on the same blob, no normals
chair.obj   a chair made of boxes (a mesh: sampled input + ground truth)
chair.png   a 128x128 shaded rendering of the chair (input for the image model)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import trimesh

from implicit_studio.io.files import write_mesh, write_point_cloud
from implicit_studio.train.data.render import orbit_cameras, render_views

log = logging.getLogger("make_samples")
OUT = Path(__file__).resolve().parents[1] / "resources" / "samples"


def blob() -> trimesh.Trimesh:
    """A torus whose tube radius varies smoothly around it (a bumpy, organic ring)."""
    mesh = trimesh.creation.torus(0.3, 0.11, major_sections=96, minor_sections=48)
    v = mesh.vertices
    angle = np.arctan2(v[:, 1], v[:, 0])
    ring = np.stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)], 1) * 0.3
    radial = v - ring
    bump = 1.0 + 0.25 * np.sin(3 * angle) + 0.1 * np.cos(7 * angle)
    mesh.vertices = ring + radial * bump[:, None]
    return mesh


def chair() -> trimesh.Trimesh:
    """Seat, back and four legs as boxes (metres)."""
    parts = [((0.45, 0.05, 0.45), (0.0, 0.45, 0.0)),                # seat
             ((0.45, 0.5, 0.05), (0.0, 0.725, -0.2))]              # back
    for x in (-0.19, 0.19):
        for z in (-0.19, 0.19):
            parts.append(((0.05, 0.45, 0.05), (x, 0.2, z)))       # legs
    boxes = [trimesh.creation.box(extents=e, transform=trimesh.transformations.translation_matrix(c))
             for e, c in parts]
    return trimesh.util.concatenate(boxes)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ring = blob()
    points, face = trimesh.sample.sample_surface(ring, 20_000, seed=1)
    write_point_cloud(OUT / "torus.ply", points, ring.face_normals[face])
    sparse, _ = trimesh.sample.sample_surface(ring, 3_000, seed=2)
    write_point_cloud(OUT / "sparse.ply", sparse + rng.normal(0, 0.005, sparse.shape))
    seat = chair()
    write_mesh(OUT / "chair.obj", seat.vertices, seat.faces)
    unit = seat.copy()
    lo, hi = unit.bounds
    unit.vertices = (unit.vertices - (lo + hi) / 2) / (hi - lo).max()
    cam_k, cam_rt = orbit_cameras(np.array([0.6]), np.array([0.45]))
    colors = np.tile(np.array([[180, 120, 70]], np.uint8), (len(unit.faces), 1))
    image = render_views(unit.vertices, unit.faces, colors, cam_k, cam_rt, size=128)[0]
    from PIL import Image

    Image.fromarray(image).save(OUT / "chair.png")
    for path in sorted(OUT.iterdir()):
        log.info("%s %d bytes", path.name, path.stat().st_size)


if __name__ == "__main__":
    main()

"""Reconstruct scikit-image's sample photos with the image model, as a user dropping them would.

    pip install -e ".[photos]"
    python scripts/photo_gallery.py --out gallery/ --json benchmarks/results/photo-gallery.json [--checkpoint W]

For each photo: the object is isolated and framed (io/photo.py), onet-image reconstructs it, and
the outcome is recorded: the mask (method, share of the photo, problem), the final grid's filled
fraction, the one-line refusal when the model filled the box, and the mesh's extent. ``--out``
gets one PNG per photo (the photo with its mask and box, the framed input, the mesh rendered from
two sides) and ``gallery.png`` with every row; those hold the photos and stay out of git.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# name: (loader, licence as scikit-image documents it)
PHOTOS = {
    "coffee": ("coffee", "CC0, Rachel Michetti (courtesy of Pikolo Espresso Bar)"),
    "chelsea": ("chelsea", "CC0, Stefan van der Walt"),
    "rocket": ("rocket", "public domain, SpaceX"),
    "astronaut": ("astronaut", "public domain, NASA"),
    "camera": ("camera", "CC0, Lav Varshney"),
    "motorcycle": ("stereo_motorcycle", "Middlebury 2014 stereo data set (Scharstein et al.), as scikit-image ships "
                                        "it; research use"),
}


def load_photo(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of one of ``PHOTOS`` (scikit-image's bundled files, nothing downloaded)."""
    from skimage import data

    image = getattr(data, PHOTOS[name][0])()
    if name == "motorcycle":
        image = image[0]                         # the left view of the stereo pair
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


def reconstruct_photo(image: np.ndarray, checkpoint: str | None) -> dict:
    """Run onet-image on ``image`` (H, W, 3) uint8: the Isolated event, the final mesh and the stats."""
    from implicit_studio.engine.events import Finished, Isolated, LevelMesh
    from implicit_studio.engine.session import ReconstructionSession, Settings
    from implicit_studio.io.inputs import InputData

    out: dict = {}
    session = ReconstructionSession(InputData("photo", "image", image=image),
                                    Settings(model="onet-image", checkpoint=checkpoint))
    for event in session.run():
        if isinstance(event, Isolated):
            out["isolated"] = event
        elif isinstance(event, LevelMesh) and event.final:
            out["mesh"] = event
        elif isinstance(event, Finished):
            out["stats"] = event.stats
    return out


def mesh_views(vertices: np.ndarray, faces: np.ndarray, size: int = 128) -> np.ndarray:
    """The mesh (unit frame) rendered from the front-left and the right, side by side: (size, 2 size, 3) uint8."""
    from implicit_studio.train.data import render

    if len(faces) == 0:
        return np.full((size, 2 * size, 3), 255, np.uint8)
    k, rt = render.orbit_cameras(np.radians([-35.0, 80.0]), np.radians([20.0, 20.0]), size)
    colours = np.tile(np.array([[200, 170, 120]], np.uint8), (len(faces), 1))
    views = render.render_views(vertices, faces, colours, k, rt, size)
    return np.concatenate(list(views), axis=1)


def gallery_row(image: np.ndarray, result: dict, size: int = 128) -> np.ndarray:
    """One picture row: the photo with its mask and box, the framed input, the mesh (or a grey
    panel when the model's result was refused). Returns (size, 4 size, 3) uint8."""
    from PIL import Image

    iso = result["isolated"]
    step = max(1, int(np.ceil(max(image.shape[:2]) / (2 * size))))
    shown = np.where(iso.mask[::step, ::step, None], image[::step, ::step], image[::step, ::step] // 3 + 40)
    thumb = Image.fromarray(shown.astype(np.uint8))
    thumb.thumbnail((size, size))
    photo_tile = np.full((size, size, 3), 255, np.uint8)
    t = np.asarray(thumb)
    y, x = (size - t.shape[0]) // 2, (size - t.shape[1]) // 2
    photo_tile[y:y + t.shape[0], x:x + t.shape[1]] = t
    framed = np.asarray(Image.fromarray(iso.framed).resize((size, size)))
    mesh = result.get("mesh")
    if mesh is None or "cannot" in result["stats"]:
        views = np.full((size, 2 * size, 3), 200, np.uint8)
    else:
        views = mesh_views(mesh.vertices, mesh.faces, size)
    return np.concatenate([photo_tile, framed, views], axis=1)


def summary(name: str, image: np.ndarray, result: dict) -> dict:
    """The JSON record of one photo."""
    iso, stats, mesh = result["isolated"], result["stats"], result.get("mesh")
    record = {"photo": name, "licence": PHOTOS[name][1], "size": [int(image.shape[1]), int(image.shape[0])],
              "mask": {"method": iso.method, "fraction": round(float(iso.mask.mean()), 3), "box": list(iso.box),
                       "problem": iso.problem},
              "filled_fraction": round(stats.get("filled_fraction", float("nan")), 3),
              "refused": stats.get("cannot") or stats.get("empty"), "faces": 0 if mesh is None else len(mesh.faces)}
    if mesh is not None and len(mesh.faces):
        extent = mesh.vertices.max(axis=0) - mesh.vertices.min(axis=0)
        record["extent_xyz"] = [round(float(v), 3) for v in extent]
    return record


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the pictures (not for git: they show the photos)")
    parser.add_argument("--json", help="write the per-photo records here")
    parser.add_argument("--checkpoint", help="onet-image weights instead of the shipped ones")
    parser.add_argument("--photos", default=",".join(PHOTOS))
    args = parser.parse_args(argv)
    from PIL import Image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, records = [], []
    for name in args.photos.split(","):
        image = load_photo(name)
        result = reconstruct_photo(image, args.checkpoint)
        rows.append(gallery_row(image, result))
        Image.fromarray(rows[-1]).save(out / f"{name}.png")
        records.append(summary(name, image, result))
        print(json.dumps(records[-1]))
    Image.fromarray(np.concatenate(rows, axis=0)).save(out / "gallery.png")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": "python scripts/photo_gallery.py " + " ".join(argv),
                                               "checkpoint": args.checkpoint or "shipped", "photos": records},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

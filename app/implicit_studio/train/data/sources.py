"""Real shapes from package registries, with their attribution.

Sources (the names ``build.py`` and the CLI accept):

- ``furniture``: the Debian packages ``sweethome3d-furniture`` (five zipped ``.sh3f``
  catalogues) and ``sweethome3d`` (the default catalogue inside ``sweethome3d.jar``),
  fetched with ``apt-get download`` and unpacked with ``dpkg -x`` into a cache
  directory. Each catalogue's ``*FurnitureCatalog.properties`` names every item's
  model, category, creator and licence; the OBJ and MTL files are extracted next to it
  (textures are not: images are shaded from the materials' diffuse colours).
- ``blobs``: ``pybullet_data/random_urdfs/*/*.obj`` from the PyPI package ``pybullet``,
  about 1000 random closed objects.
- ``pybullet-named``: a few named models of ``pybullet_data`` (duck, bunny, teddy, mug...).
- ``procedural``: shapes made in code with exact labels (``procedural.py``).
- ``openscad``: the example models of the Debian package ``openscad`` (CC0), compiled to
  STL by the installed ``openscad`` program (``apt-get install openscad``). Never
  trained on: the whole source is in the "unfamiliar" split.

Nothing else touches the network. Meshes are returned y-up (the Sweet Home 3D and OBJ
convention); z-up pybullet models are turned.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SOURCES = ("furniture", "blobs", "pybullet-named", "procedural", "openscad")
UNFAMILIAR_SOURCES = ("openscad",)   # whole sources kept out of training (the "unfamiliar" split)
OPENSCAD_LICENSE = "CC0-1.0 (OpenSCAD examples, Debian package openscad)"
OPENSCAD_SECONDS = 300               # longest compilation of one example
FURNITURE_PACKAGES = ("sweethome3d-furniture", "sweethome3d")
DEFAULT_COLOR = (180, 180, 180)
Z_UP_TO_Y_UP = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0)  # (x, y, z) -> (x, z, -y)
PYBULLET_LICENSE = "zlib (Bullet Physics, as shipped in pybullet_data)"
# (file under pybullet_data, name, category, z-up?, licence note); orientations checked by eye
PYBULLET_NAMED = (
    ("duck.obj", "duck", "animal", False, "COLLADA sample model, as shipped in pybullet_data"),
    ("bunny.obj", "bunny", "animal", False, "Stanford 3D Scanning Repository, as shipped in pybullet_data"),
    ("teddy2_VHACD_CHs.obj", "teddy", "toy", False, PYBULLET_LICENSE),
    ("objects/mug.obj", "mug", "kitchenware", True, PYBULLET_LICENSE),
    ("soccerball.obj", "soccer ball", "toy", False, PYBULLET_LICENSE),
    ("torus/torus_textured.obj", "torus", "primitive", False, PYBULLET_LICENSE),
    ("lego/lego.obj", "lego brick", "toy", False, PYBULLET_LICENSE),
    ("jenga/jenga.obj", "jenga block", "toy", True, PYBULLET_LICENSE),
    ("domino/domino.obj", "domino", "toy", True, PYBULLET_LICENSE),
    ("tray/tray_textured.obj", "tray", "kitchenware", True, PYBULLET_LICENSE),
    ("toys/shape_sorter.obj", "shape sorter", "toy", True, PYBULLET_LICENSE),
    ("toys/concave_box.obj", "concave box", "toy", True, PYBULLET_LICENSE),
    ("toys/cylinder.obj", "cylinder", "primitive", True, PYBULLET_LICENSE),
    ("toys/prism.obj", "prism", "primitive", True, PYBULLET_LICENSE),
    ("racecar/meshes/cone.obj", "traffic cone", "object", True, PYBULLET_LICENSE),
)


class SourceUnavailable(RuntimeError):
    """A source cannot be fetched or is not installed (e.g. no apt-get, no pybullet)."""


@dataclass(frozen=True)
class ShapeRecord:
    """One shape of a source: where its mesh is and whom it is from.

    rotation : row-major 3x3 matrix applied to the vertices (v' = R v), or None
    on_floor : the shape stands on a floor at its lowest point (closes a missing bottom)
    """

    id: str
    source: str
    category: str
    name: str
    creator: str
    license: str
    path: str
    rotation: tuple[float, ...] | None = None
    on_floor: bool = False

    def manifest_entry(self) -> dict:
        """The attribution fields written to the data set's manifest (no split yet)."""
        entry = asdict(self)
        del entry["path"], entry["rotation"], entry["on_floor"]
        return entry


@dataclass
class MeshData:
    """A loaded mesh in its source's own units, y up.

    vertices : (V, 3) float64, faces : (F, 3) int64, face_colors : (F, 3) uint8
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_colors: np.ndarray


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/implicit-studio/sources`` (``~/.cache/...`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "implicit-studio" / "sources"


def list_shapes(sources: tuple[str, ...] | list[str], cache_dir: str | Path | None = None) -> list[ShapeRecord]:
    """Every shape of the named sources, fetching packages into ``cache_dir`` as needed.

    Raises ValueError for an unknown source and SourceUnavailable when one cannot be had.
    """
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; choose from {list(SOURCES)}")
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    records: list[ShapeRecord] = []
    for source in sources:
        if source == "furniture":
            records += furniture_records(cache)
        elif source == "blobs":
            records += blob_records()
        elif source == "pybullet-named":
            records += named_records()
        elif source == "procedural":
            records += procedural_records()
        else:
            records += openscad_records(cache)
    return _unique_ids(records)


def _unique_ids(records: list[ShapeRecord]) -> list[ShapeRecord]:
    """Suffix ``-2``, ``-3``... to repeated ids, in order, so every id names one file."""
    seen: dict[str, int] = {}
    out = []
    for record in records:
        count = seen[record.id] = seen.get(record.id, 0) + 1
        out.append(record if count == 1 else replace(record, id=f"{record.id}-{count}"))
    return out


# --------------------------------------------------------------------------- furniture


def furniture_records(cache: Path) -> list[ShapeRecord]:
    """Items of every Sweet Home 3D catalogue in the Debian packages (fetched into ``cache``)."""
    records = []
    for package in FURNITURE_PACKAGES:
        root = fetch_debian_package(package, cache)
        catalogues = sorted(root.rglob("*.sh3f")) + sorted(root.rglob("sweethome3d.jar"))
        for path in catalogues:
            records += catalogue_records(path, cache / "extracted" / path.stem)
    if not records:
        raise SourceUnavailable("the Sweet Home 3D packages hold no furniture catalogue")
    return records


def fetch_debian_package(package: str, cache: Path) -> Path:
    """``apt-get download`` then ``dpkg -x`` a package into ``cache``; both steps are cached.

    Returns the directory the package was unpacked into.
    """
    root = cache / "unpacked" / package
    if (root / ".complete").exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        log.info("downloading Debian package %s into %s", package, debs)
        _run(["apt-get", "download", package], cwd=debs)
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise SourceUnavailable(f"apt-get download {package} produced no .deb file")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    _run(["dpkg", "-x", str(found[-1]), str(root)], cwd=debs)
    (root / ".complete").touch()
    return root


def _run(command: list[str], cwd: Path) -> None:
    """Run a packaging command; SourceUnavailable with its message when it fails."""
    if shutil.which(command[0]) is None:
        raise SourceUnavailable(f"{command[0]} is not installed (needed for the furniture source)")
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        hint = " (the package lists may need 'apt-get update')" if command[0] == "apt-get" else ""
        raise SourceUnavailable(f"{' '.join(command)} failed{hint}: {done.stderr.strip()[-500:]}")


def catalogue_records(path: Path, extract_dir: Path) -> list[ShapeRecord]:
    """Items of one zipped catalogue (``.sh3f`` or ``sweethome3d.jar``), models extracted.

    Items whose model is missing or not an OBJ file are logged and left out.
    """
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        props_name = next((n for n in sorted(names) if re.fullmatch(r"(.*/)?\w*FurnitureCatalog\.properties", n)), None)
        if props_name is None:
            return []
        props = parse_properties(archive.read(props_name).decode("latin-1"))
        prefix = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
        records = []
        for number in sorted({int(k.split("#")[1]) for k in props if re.fullmatch(r"model#\d+", k)}):
            record = _item_record(props, number, prefix, names, extract_dir)
            if record is not None:
                _extract_model(archive, names, record.path, extract_dir)
                records.append(record)
    log.info("catalogue %s: %d items", path.name, len(records))
    return records


def _item_record(props: dict[str, str], number: int, prefix: str, names: set[str],
                 extract_dir: Path) -> ShapeRecord | None:
    """The record of catalogue item ``number``, or None (logged) if its model is unusable."""
    model = props[f"model#{number}"].lstrip("/")
    item_id = props.get(f"id#{number}", model)
    if not model.lower().endswith(".obj") or model not in names:
        log.warning("catalogue %s item %s: model %s is missing or not OBJ, skipped", prefix, item_id, model)
        return None
    rotation = props.get(f"modelRotation#{number}")
    slug = re.sub(r"[^a-z0-9]+", "-", item_id.split("#")[-1].lower()).strip("-")
    return ShapeRecord(
        id=f"furniture-{prefix}-{slug}",
        source="furniture",
        category=props.get(f"category#{number}", "unknown"),
        name=props.get(f"name#{number}", slug),
        creator=props.get(f"creator#{number}", props.get("provider", "unknown")),
        license=props.get(f"license#{number}", props.get("license", "unknown")),
        path=str(extract_dir / model),
        rotation=tuple(float(x) for x in rotation.split()) if rotation else None,
        on_floor=float(props.get(f"elevation#{number}", "0") or 0) == 0.0,
    )


def _extract_model(archive: zipfile.ZipFile, names: set[str], extracted_path: str, extract_dir: Path) -> None:
    """Extract one model's OBJ and the MTL files beside it (safe against ``..`` names)."""
    target = Path(extracted_path)
    folder = os.path.dirname(os.path.relpath(target, extract_dir))
    wanted = [os.path.relpath(target, extract_dir)]
    wanted += [n for n in names if n.lower().endswith(".mtl") and os.path.dirname(n) == folder]
    for name in wanted:
        out = (extract_dir / name).resolve()
        if extract_dir.resolve() not in out.parents or out.exists():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        tmp.write_bytes(archive.read(name))
        tmp.replace(out)


def parse_properties(text: str) -> dict[str, str]:
    """Parse a Java ``.properties`` text (comments, continuations, ``\\uXXXX`` escapes)."""
    result = {}
    logical = re.sub(r"(?<!\\)\\\r?\n[ \t\f]*", "", text)
    for line in logical.splitlines():
        line = line.lstrip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"((?:\\.|[^=:\s\\])+)\s*[=:\s]\s*(.*)$", line)
        if match:
            result[_unescape(match.group(1))] = _unescape(match.group(2))
    return result


def _unescape(text: str) -> str:
    """Undo Java properties escapes: ``\\uXXXX``, ``\\t``, ``\\n``, ``\\:`` ..."""
    simple = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}

    def one(match: re.Match) -> str:
        code = match.group(1)
        return chr(int(code[1:], 16)) if len(code) == 5 else simple.get(code, code)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", one, text)


# --------------------------------------------------------------------------- pybullet


def pybullet_data_dir() -> Path:
    """The installed ``pybullet_data`` directory; SourceUnavailable without pybullet."""
    try:
        import pybullet_data
    except ImportError as exc:
        raise SourceUnavailable("pybullet is not installed (pip install pybullet)") from exc
    return Path(pybullet_data.getDataPath())


def blob_records() -> list[ShapeRecord]:
    """The random closed objects ``random_urdfs/NNN/NNN.obj`` of ``pybullet_data``."""
    root = pybullet_data_dir() / "random_urdfs"
    return [ShapeRecord(id=f"blobs-{p.stem}", source="blobs", category="blob", name=f"random object {p.stem}",
                        creator="Bullet Physics (pybullet_data random_urdfs)", license=PYBULLET_LICENSE,
                        path=str(p), rotation=Z_UP_TO_Y_UP)
            for p in sorted(root.glob("*/*.obj"))]


def named_records() -> list[ShapeRecord]:
    """The named models of ``pybullet_data`` that are installed (see PYBULLET_NAMED)."""
    root = pybullet_data_dir()
    records = []
    for rel, name, category, z_up, license_ in PYBULLET_NAMED:
        if (root / rel).exists():
            slug = re.sub(r"[^a-z0-9]+", "-", name)
            records.append(ShapeRecord(id=f"pybullet-named-{slug}", source="pybullet-named", category=category,
                                       name=name, creator="pybullet_data", license=license_, path=str(root / rel),
                                       rotation=Z_UP_TO_Y_UP if z_up else None))
    return records


# --------------------------------------------------------------------------- procedural, OpenSCAD


def procedural_records() -> list[ShapeRecord]:
    """Every procedural shape (the family is the category; the shape is drawn at build time)."""
    from . import procedural

    return [ShapeRecord(id=shape_id, source=procedural.SOURCE, category=family, name=f"{family} {shape_id[-4:]}",
                        creator="implicit-studio", license=procedural.LICENSE, path="")
            for shape_id, family in procedural.shape_ids()]


def openscad_records(cache: Path) -> list[ShapeRecord]:
    """The 3D example models of the Debian package ``openscad`` (z-up, compiled when loaded)."""
    if shutil.which("openscad") is None:
        raise SourceUnavailable("the openscad program is not installed (apt-get install openscad)")
    root = fetch_debian_package("openscad", cache) / "usr" / "share" / "openscad" / "examples"
    return [ShapeRecord(id=f"openscad-{p.parent.name.lower()}-{re.sub(r'[^a-z0-9]+', '-', p.stem.lower())}",
                        source="openscad", category=p.parent.name, name=p.stem, creator="OpenSCAD examples",
                        license=OPENSCAD_LICENSE, path=str(p), rotation=Z_UP_TO_Y_UP)
            for p in sorted(root.glob("*/*.scad"))]


def compiled_scad(path: Path) -> Path:
    """``path`` (.scad) compiled to an STL file beside it (cached); raises ValueError when it fails
    (a 2D example, an error in the script, or longer than OPENSCAD_SECONDS)."""
    stl = path.with_suffix(".stl")
    if not stl.exists():
        tmp = path.with_suffix(".part.stl")
        try:
            done = subprocess.run(["openscad", "-o", str(tmp), str(path)], cwd=path.parent, capture_output=True,
                                  text=True, timeout=OPENSCAD_SECONDS)
        except subprocess.TimeoutExpired:
            raise ValueError(f"openscad took over {OPENSCAD_SECONDS} s") from None
        if done.returncode != 0 or not tmp.exists():
            raise ValueError(f"openscad failed: {done.stderr.strip().splitlines()[-1:] or ['no output']}")
        os.replace(tmp, stl)
    return stl


# --------------------------------------------------------------------------- loading


def load_mesh(record: ShapeRecord) -> MeshData:
    """Load a record's mesh: all parts concatenated, rotation applied, diffuse colour per face.

    Raises whatever the loader raises for a broken file, ValueError for no triangles.
    """
    import trimesh

    path = compiled_scad(Path(record.path)) if record.source == "openscad" else record.path
    scene = trimesh.load(path, force="scene")
    parts = [g for g in scene.dump() if isinstance(g, trimesh.Trimesh) and len(g.faces)]
    if not parts:
        raise ValueError("no triangles in the file")
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
    vertices = np.concatenate([np.asarray(p.vertices, dtype=np.float64) for p in parts])
    faces = np.concatenate([np.asarray(p.faces, dtype=np.int64) + o for p, o in zip(parts, offsets)])
    colors = np.concatenate([_face_colors(p) for p in parts])
    if record.rotation is not None:
        vertices = vertices @ np.asarray(record.rotation, dtype=np.float64).reshape(3, 3).T
    return MeshData(vertices, faces, colors)


def _face_colors(part) -> np.ndarray:
    """(F, 3) uint8 diffuse colour of a trimesh part: material colour, colour visuals or grey."""
    visual = part.visual
    n = len(part.faces)
    material = getattr(visual, "material", None)
    color = getattr(material, "main_color", None) if material is not None else None
    if color is not None:
        return np.tile(np.asarray(color, dtype=np.uint8)[:3], (n, 1))
    if getattr(visual, "kind", None) in ("face", "vertex"):
        return np.asarray(visual.face_colors, dtype=np.uint8)[:, :3]
    return np.tile(np.array(DEFAULT_COLOR, dtype=np.uint8), (n, 1))

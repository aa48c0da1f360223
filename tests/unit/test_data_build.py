"""The data set builder on small local shapes: format, splits, rejections, resuming."""

import argparse
import json
import zipfile

import numpy as np
import pytest
import trimesh

from implicit_studio.train.data import build, sources
from implicit_studio.train.data.dataset import load_shape

SMALL = build.BuildConfig(n_points=2000, n_views=2, image_size=32, resolution=64)
HELD_OUT = ("lamps",)


@pytest.fixture(scope="module")
def shape_files(tmp_path_factory):
    """Records of OBJ files written here: good shapes in three categories and bad ones."""
    folder = tmp_path_factory.mktemp("meshes")
    meshes = {
        "box": ("tables", trimesh.creation.box((0.6, 0.3, 0.4))),
        "ball": ("chairs", trimesh.creation.icosphere(2, radius=0.3)),
        "ring": ("chairs", trimesh.creation.torus(0.3, 0.1, major_sections=32, minor_sections=12)),
        "slab": ("tables", trimesh.creation.box((0.5, 0.2, 0.5))),
        "shade": ("lamps", trimesh.creation.cylinder(0.2, 0.5, sections=24)),
        "sheet": ("tables", trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 0.1, 0]], [[0, 1, 2]])),
    }
    records = []
    for name, (category, mesh) in meshes.items():
        path = folder / f"{name}.obj"
        mesh.export(path)
        records.append(record(name, category, path))
    (folder / "broken.obj").write_text("v 0 0 0\nf 1 2 3 garbage\n\x00\x01")
    (folder / "empty.obj").write_text("# nothing\n")
    records += [record("broken", "tables", folder / "broken.obj"), record("empty", "tables", folder / "empty.obj"),
                record("missing", "tables", folder / "missing.obj")]
    return records


def record(name, category, path):
    return sources.ShapeRecord(id=f"test-{name}", source="test", category=category, name=name, creator="tests",
                               license="CC0-1.0", path=str(path))


def run_build(out, records, monkeypatch, **kwargs):
    monkeypatch.setattr(build, "list_shapes", lambda names, cache_dir=None: list(records))
    events = []
    report = build.build_dataset(out, ["test"], progress=events.append, held_out=HELD_OUT, config=SMALL, **kwargs)
    return report, events


def test_build_writes_the_documented_format(tmp_path, shape_files, monkeypatch):
    report, events = run_build(tmp_path, shape_files, monkeypatch)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["held_out_categories"] == list(HELD_OUT)
    ids = {s["id"] for s in manifest["shapes"]}
    assert ids == {"test-box", "test-ball", "test-ring", "test-slab", "test-shade"}
    assert set(manifest["shapes"][0]) == {"id", "source", "category", "name", "creator", "license", "split"}
    rejected = {r["id"]: r["reason"] for r in json.loads((tmp_path / "rejected.json").read_text())}
    assert set(rejected) == {"test-sheet", "test-broken", "test-empty", "test-missing"}
    assert rejected["test-sheet"].startswith("under 0.5% occupied")
    assert rejected["test-missing"].startswith("load failed")
    assert report["written"] == 5 and report["rejected"] == 4 and len(events) == 9
    with np.load(tmp_path / "shapes" / "test-box.npz") as data:
        n, v = SMALL.n_points, SMALL.n_views
        expected = {"uniform_points": ((n, 3), np.float16), "uniform_occ": ((n // 8,), np.uint8),
                    "near_points": ((n, 3), np.float16), "near_occ": ((n // 8,), np.uint8),
                    "surface_points": ((n, 3), np.float16), "surface_normals": ((n, 3), np.float16),
                    "images": ((v, 32, 32, 3), np.uint8), "cam_K": ((v, 3, 3), np.float32),
                    "cam_Rt": ((v, 3, 4), np.float32)}
        assert {k: (data[k].shape, data[k].dtype) for k in data.files} == expected
    shape = load_shape(tmp_path / "shapes" / "test-box.npz")
    assert np.abs(shape["uniform_points"]).max() <= 0.55
    assert np.allclose(np.linalg.norm(shape["surface_normals"], axis=1), 1.0, atol=1e-2)
    # a 0.6 x 0.3 x 0.4 box normalised to longest side 1 fills 1 * 0.5 * 0.667 of 1.1^3
    assert shape["uniform_occ"].mean() == pytest.approx(0.333 / 1.331, abs=0.03)


def test_splits_are_disjoint_and_hold_out_whole_categories(tmp_path, shape_files, monkeypatch):
    run_build(tmp_path, shape_files, monkeypatch)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    listed = {s: set((tmp_path / "splits" / f"{s}.txt").read_text().split()) for s in build.SPLITS}
    assert sum(len(v) for v in listed.values()) == len(set().union(*listed.values())) == len(manifest["shapes"])
    for shape in manifest["shapes"]:
        assert shape["id"] in listed[shape["split"]]
        assert (shape["split"] == "heldout") == (shape["category"] in HELD_OUT)
    ids = [f"shape-{i}" for i in range(3000)]
    splits = [build.assign_split(i, "chairs", 0, HELD_OUT) for i in ids]
    assert splits == [build.assign_split(i, "chairs", 0, HELD_OUT) for i in ids]
    fractions = [splits.count(s) / len(ids) for s in ("train", "val", "test")]
    assert np.allclose(fractions, [0.8, 0.1, 0.1], atol=0.03)


def test_second_build_skips_and_incomplete_files_are_redone(tmp_path, shape_files, monkeypatch):
    run_build(tmp_path, shape_files, monkeypatch)
    report, events = run_build(tmp_path, shape_files, monkeypatch)
    assert report["written"] == 0 and report["already_done"] == 5 and events == []
    (tmp_path / "shapes" / "test-ball.npz").unlink()
    box = tmp_path / "shapes" / "test-box.npz"
    box.write_bytes(box.read_bytes()[:1000])  # as if killed while copying
    report, events = run_build(tmp_path, shape_files, monkeypatch)
    assert sorted(e["id"] for e in events) == ["test-ball", "test-box"] and report["written"] == 2


def test_interrupted_build_leaves_a_usable_directory(tmp_path, shape_files, monkeypatch):
    monkeypatch.setattr(build, "list_shapes", lambda names, cache_dir=None: list(shape_files))
    events = build.iter_build(tmp_path, ["test"], held_out=HELD_OUT, config=SMALL)
    first = next(events)
    while first["status"] != "written":
        first = next(events)
    events.close()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [s["id"] for s in manifest["shapes"]] == [first["id"]]
    assert not list((tmp_path / "shapes").glob("*.part"))


def test_build_is_reproducible(tmp_path, shape_files, monkeypatch):
    good = [r for r in shape_files if r.id in ("test-ring", "test-shade")]
    run_build(tmp_path / "a", good, monkeypatch)
    run_build(tmp_path / "b", good, monkeypatch)
    for r in good:
        a, b = (load_shape(tmp_path / d / "shapes" / f"{r.id}.npz") for d in ("a", "b"))
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_limit_takes_the_seeded_order(tmp_path, shape_files, monkeypatch):
    report, events = run_build(tmp_path, shape_files, monkeypatch, limit=3)
    assert report["candidates"] == 3
    assert [e["id"] for e in events] == [r.id for r in build.build_order(shape_files, 0)[:3]]


def test_parse_properties_handles_escapes_and_continuations():
    text = "# comment\nname#1=Caf\\u00e9 chair\ncategory#1 = Living \\\n    room\nmodel#1:/a/b.obj\n! other\n"
    assert sources.parse_properties(text) == {"name#1": "Café chair", "category#1": "Living room",
                                              "model#1": "/a/b.obj"}


def test_catalogue_items_are_read_and_extracted(tmp_path):
    box = trimesh.creation.box((1, 2, 3))
    obj = "mtllib box.mtl\nusemtl red\n" + "".join(f"v {x} {y} {z}\n" for x, y, z in box.vertices)
    obj += "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in box.faces)
    catalogue = tmp_path / "Test-Catalog.sh3f"
    props = ("license=CC-BY 3.0\nid#1=Maker#tall-box\nname#1=Tall box\ncategory#1=Bedroom\ncreator#1=Ann\n"
             "model#1=/models/box/box.obj\nmodelRotation#1=1 0 0 0 0 1 0 -1 0\n"
             "id#2=Maker#lamp\nname#2=Lamp\ncategory#2=Lights\nmodel#2=/models/lamp/lamp.obj\nelevation#2=180\n"
             "license#2=CC0\nid#3=Maker#gone\nmodel#3=/models/gone.obj\n")
    with zipfile.ZipFile(catalogue, "w") as archive:
        archive.writestr("PluginFurnitureCatalog.properties", props)
        archive.writestr("models/box/box.obj", obj)
        archive.writestr("models/box/box.mtl", "newmtl red\nKd 1 0 0\n")
        archive.writestr("models/lamp/lamp.obj", obj)
        archive.writestr("../evil.mtl", "x")
    records = sources.catalogue_records(catalogue, tmp_path / "extracted")
    assert [(r.id, r.category, r.creator, r.license, r.on_floor) for r in records] == [
        ("furniture-test-catalog-tall-box", "Bedroom", "Ann", "CC-BY 3.0", True),
        ("furniture-test-catalog-lamp", "Lights", "unknown", "CC0", False)]
    assert (tmp_path / "extracted" / "models" / "box" / "box.mtl").exists()
    assert not (tmp_path / "evil.mtl").exists()
    mesh = sources.load_mesh(records[0])
    assert np.allclose(np.ptp(mesh.vertices, axis=0), [1, 3, 2])  # rotated z-up -> y-up
    assert mesh.faces.shape == (12, 3) and mesh.face_colors.tolist() == [[255, 0, 0]] * 12


def test_pybullet_sources_load():
    pytest.importorskip("pybullet_data")
    blobs, named = sources.blob_records(), sources.named_records()
    assert len(blobs) > 500 and {r.name for r in named} >= {"duck", "bunny", "teddy", "mug"}
    for r in (blobs[0], named[0]):
        mesh = sources.load_mesh(r)
        assert len(mesh.faces) > 0 and mesh.vertices.shape[1] == 3


def test_cli_reports_an_unknown_source(tmp_path):
    parser = argparse.ArgumentParser()
    build.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path), "--sources", "nonsense", "--limit", "2"])
    assert build.run(args) == 2

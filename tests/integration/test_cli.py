"""The command line end to end, on small data the tests make."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from conftest import random_checkpoint
from implicit_studio.engine.registry import get_spec
from implicit_studio.engine.checkpoints import save_checkpoint


CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


def cli(*args, cwd=None):
    # one torch thread, as in tests/conftest.py: two threads on cores other processes load are 10-30x slower
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "implicit_studio.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=240, env=env)


def user_box(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """The meshing box [-BOX/2, BOX/2]^3 of the unit frame, in ``mesh``'s own units: (lo (3,), hi (3,))."""
    from implicit_studio.io.normalize import BOX, Normalization

    frame = Normalization.fit(mesh.vertices)
    corners = frame.to_user(np.array([[-BOX / 2] * 3, [BOX / 2] * 3]))
    return corners.min(axis=0), corners.max(axis=0)


def assert_in_user_units(out: Path, source: trimesh.Trimesh) -> trimesh.Trimesh:
    """Open a written mesh: it has faces, and every vertex lies in the input's meshing box in the input's units."""
    result = trimesh.load(out, process=False)
    assert len(result.faces) > 0
    lo, hi = user_box(source)
    slack = 0.01 * (hi - lo)     # caps closing a surface at the box lie a fraction of a voxel outside it
    assert np.all(result.vertices >= lo - slack) and np.all(result.vertices <= hi + slack), (result.bounds, lo, hi)
    return result


@pytest.fixture
def torus_ply(tmp_path):
    mesh = trimesh.creation.torus(0.3, 0.1)
    mesh.apply_scale(10.0)  # user units: the output must come back in them
    mesh.apply_translation([5.0, -2.0, 1.0])
    path = tmp_path / "torus mesh ü.ply"
    mesh.export(path)
    return path, mesh


def test_version_and_models():
    out = cli("--version")
    assert out.returncode == 0 and "implicit-studio" in out.stdout
    out = cli("models", "--json")
    names = {m["name"] for m in json.loads(out.stdout)}
    assert {"onet-pointcloud", "onet-image", "convonet-3plane", "convonet-grid", "siren", "relu-mlp"} <= names


def test_siren_reconstruct_and_evaluate(tmp_path, torus_ply):
    """Input, output and stats paths with spaces and non-ASCII letters, through reconstruct and evaluate."""
    src, mesh = torus_ply
    (tmp_path / "résultats 3d").mkdir()
    out = tmp_path / "résultats 3d" / "tore reconstruit ø.ply"
    stats = tmp_path / "résultats 3d" / "stats é.json"
    r = cli("reconstruct", src, "--model", "siren", "--out", out, "--seconds", "8", "--resolution0", "16",
            "--levels", "2", "--stats-json", stats)
    assert r.returncode == 0, r.stderr
    rec = assert_in_user_units(out, mesh)
    assert len(rec.faces) > 100
    # back in the user's coordinates: the torus's bounds (8 x 8 x 2 units around (5, -2, 1)) within 0.6
    assert np.allclose(rec.bounds, mesh.bounds, atol=0.6), rec.bounds
    s = json.loads(stats.read_text())
    assert s["model"] == "siren" and s["levels"][-1]["resolution"] == 64
    assert s["first_mesh_s"] <= s["final_mesh_s"]
    r = cli("evaluate", out, src, "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    for key in ("iou", "chamfer_l1", "chamfer_l1_x10", "normal_consistency", "fscore_1pct", "fscore_2pct"):
        assert key in m
    assert m["iou"] > 0.3


def test_learned_model_with_checkpoint(tmp_path, torus_ply):
    """Weights given by --checkpoint (the shipped ones, copied with their card under another name)."""
    ckpt = tmp_path / "mine.safetensors"
    shutil.copyfile(CHECKPOINTS / "convonet-3plane.safetensors", ckpt)
    shutil.copyfile(CHECKPOINTS / "convonet-3plane.json", ckpt.with_suffix(".json"))
    out = tmp_path / "o.obj"
    stats = tmp_path / "stats.json"
    r = cli("reconstruct", torus_ply[0], "--model", "convonet-3plane", "--checkpoint", ckpt,
            "--out", out, "--resolution0", "16", "--levels", "1", "--stats-json", stats)
    assert r.returncode == 0, r.stderr
    assert json.loads(stats.read_text())["checkpoint"] == str(ckpt)
    result = assert_in_user_units(out, torus_ply[1])
    assert np.allclose(result.bounds, torus_ply[1].bounds, atol=0.8), result.bounds


def test_empty_mesh_is_one_line_naming_a_threshold_that_works(tmp_path, torus_ply):
    spec = get_spec("onet-pointcloud")
    ckpt = random_checkpoint(tmp_path / "w.safetensors", spec.name)
    out = tmp_path / "o.ply"
    args = ("reconstruct", torus_ply[0], "--model", spec.name, "--checkpoint", ckpt, "--out", out,
            "--resolution0", "16", "--levels", "1", "--refine", "0", "--quiet")
    r = cli(*args, "--threshold", "0.9999")
    assert r.returncode == 2 and not out.exists()
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "found no surface at threshold 0.9999" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    hint = lines[0].rsplit("to ", 1)[1].rstrip(")")
    r = cli(*args, "--threshold", hint)
    assert r.returncode == 0, r.stderr
    assert_in_user_units(out, torus_ply[1])     # random weights: some surface, somewhere in the box


def test_photo_the_model_cannot_read_is_one_line_saying_what_to_do(tmp_path):
    """A model whose occupancy fills the box: exit 2, one line (why, and crop / --box), no mesh."""
    import torch
    from PIL import Image

    spec = get_spec("onet-image")
    cfg = spec.config("cpu")
    model = cfg.build()
    with torch.no_grad():
        model.decoder.fc_out.weight.zero_()
        model.decoder.fc_out.bias.fill_(8.0)
    ckpt = tmp_path / "full.safetensors"
    save_checkpoint(ckpt, spec.name, model, cfg)
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(110, 25, (90, 120, 3)), 0, 255).astype(np.uint8)
    image[30:60, 40:80] = (220, 30, 30)
    Image.fromarray(image).save(tmp_path / "photo.png")
    out = tmp_path / "o.ply"
    args = ("reconstruct", tmp_path / "photo.png", "--model", spec.name, "--checkpoint", ckpt, "--out", out,
            "--resolution0", "8", "--levels", "1")
    for extra, advice in (((), "mark the object with --box"), (("--box", "30,20,90,70"), "crop the photo")):
        r = cli(*args, *extra)
        assert r.returncode == 2 and not out.exists(), r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert "filled 100% of the box instead of finding one object" in lines[0] and advice in lines[0]
    assert "object isolated (grabcut, box 30,20,90,70)" in r.stderr


@pytest.mark.parametrize("up", ["z", "-x"])
def test_up_axis_turns_the_scan_for_the_model_and_the_mesh_back(tmp_path, torus_ply, up):
    """The shipped convonet-grid on a torus told its up is z or -x: the mesh lands on the torus in user units."""
    path, mesh = torus_ply
    out = tmp_path / "o.ply"
    r = cli("reconstruct", path, f"--up={up}", "--out", out, "--levels", "1")
    assert r.returncode == 0, r.stderr
    result = assert_in_user_units(out, mesh)
    assert np.allclose(result.bounds, mesh.bounds, atol=0.4)      # the torus is 8 x 8 x 2 units
    m = json.loads(cli("evaluate", out, path, "--json").stdout)
    assert m["iou"] > 0.6


def test_las_scan_stands_up_on_its_own_and_the_mesh_comes_back_in_the_file_axes(tmp_path):
    """A LAS torus lying on its ground (z up) in metres away from the origin: without --up the
    model sees it upright, the log says why, and the mesh lands on the torus."""
    from scan_writers import las_bytes

    mesh = trimesh.creation.torus(0.3, 0.1)          # its axis is z: lying flat in a z-up world
    mesh.apply_scale(10.0)
    mesh.apply_translation([5000.0, -2000.0, 100.0])
    points = mesh.sample(6000, seed=0)
    path, truth, out = tmp_path / "scan.las", tmp_path / "torus.ply", tmp_path / "o.ply"
    path.write_bytes(las_bytes(np.round(points / 0.001).astype(np.int64), 1))
    mesh.export(truth)
    r = cli("reconstruct", path, "--out", out, "--levels", "1")
    assert r.returncode == 0, r.stderr
    assert "LAS heights are z: turned so that +z is up" in r.stderr and "turned so that the file's" not in r.stderr
    assert_in_user_units(out, mesh)
    assert json.loads(cli("evaluate", out, truth, "--json").stdout)["iou"] > 0.6


def test_pose_auto_turns_a_tilted_scan_for_the_model_and_writes_the_mesh_in_the_file_axes(tmp_path):
    """A torus tilted 40 degrees, in user units: the 3-plane model finds a pose, says so on one log
    line, and the mesh lands on the tilted torus."""
    mesh = trimesh.creation.torus(0.3, 0.1)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.radians(40), [1.0, 0.0, 1.0]))
    mesh.apply_scale(10.0)
    mesh.apply_translation([5.0, -2.0, 1.0])
    path, out = tmp_path / "tilted.ply", tmp_path / "o.ply"
    mesh.export(path)
    r = cli("reconstruct", path, "--model", "convonet-3plane", "--pose", "auto", "--out", out, "--levels", "1")
    assert r.returncode == 0, r.stderr
    assert "pose search (25 poses" in r.stderr and "written in the file's axes" in r.stderr
    assert_in_user_units(out, mesh)
    assert json.loads(cli("evaluate", out, path, "--json").stdout)["iou"] > 0.6


def test_evaluate_reference_spheres(tmp_path):
    gt = trimesh.creation.icosphere(subdivisions=3, radius=0.40)
    pred = trimesh.creation.icosphere(subdivisions=3, radius=0.42)
    pred.apply_translation([0.01, 0, 0])
    gt.export(tmp_path / "gt.ply")
    pred.export(tmp_path / "pred.ply")
    m = json.loads(cli("evaluate", tmp_path / "pred.ply", tmp_path / "gt.ply", "--json").stdout)
    assert abs(m["iou"] - 0.864) / 0.864 < 0.01
    assert abs(m["chamfer_l1"] - 0.0201) / 0.0201 < 0.03
    assert abs(m["normal_consistency"] - 0.9988) < 0.01
    assert m["fscore_1pct"] < 0.01 and abs(m["fscore_2pct"] - 0.495) / 0.495 < 0.1


@pytest.mark.parametrize("args, message", [
    (["reconstruct", "missing.ply", "--model", "siren", "--out", "o.ply"], "missing.ply"),
    (["reconstruct", "{empty}", "--model", "siren", "--out", "o.ply"], "empty.xyz"),
    (["reconstruct", "{torus}", "--model", "nope", "--out", "o.ply"], "unknown model"),
    (["reconstruct", "{torus}", "--model", "siren", "--out", "o.xyz9"], "o.xyz9"),
    (["reconstruct", "{torus}", "--model", "onet-pointcloud", "--checkpoint", "{evil}", "--out", "o.ply"],
     "pickle-based checkpoints (.pt) are refused"),
    (["evaluate", "missing.ply", "{torus}"], "missing.ply"),
    (["reconstruct", "{torus}", "--model", "siren", "--out", "dossier absent ü/o.ply"], "dossier absent ü"),
    (["evaluate", "{torus}", "vérité absente.ply"], "vérité absente.ply"),
    (["reconstruct", "{torus}", "--up", "w", "--out", "o.ply"], "unknown up axis 'w'"),
    (["reconstruct", "{torus}", "--pose", "sideways", "--out", "o.ply"], "pose must be one of as-is, straighten, auto, not 'sideways'"),
    (["reconstruct", "{torus}", "--box", "1,2,3", "--out", "o.ply"], "--box must be four pixel coordinates"),
    (["reconstruct", "{torus}", "--ensemble", "0", "--out", "o.ply"], "--ensemble must be in [1, 24], not 0"),
    (["benchmark", "quality", "--data", "{data}", "--models", "siren+ensemble"],
     "+pose, +ensemble and +refine apply to the learned point-cloud models"),
])
def test_bad_input_one_line_exit_2(tmp_path, torus_ply, args, message):
    (tmp_path / "empty.xyz").write_text("")
    (tmp_path / "evil.pt").write_bytes(b"\x80\x04K\x01.")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text("{}")
    subst = {"{empty}": tmp_path / "empty.xyz", "{torus}": torus_ply[0], "{evil}": tmp_path / "evil.pt",
             "{data}": tmp_path / "data"}
    r = cli(*[subst.get(a, a) for a in args], cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert message in lines[0]


def test_scene_model_units_are_checked_in_one_line(tmp_path):
    """A room in centimetres read as metres needs too many tiles: one line naming --units; bad units too."""
    from implicit_studio.io.files import write_point_cloud

    model = get_spec("convonet-scene").config("cpu").build()
    ckpt = tmp_path / "scene.safetensors"
    save_checkpoint(ckpt, "convonet-scene", model, model.cfg, steps=0)
    rng = np.random.default_rng(0)
    room = tmp_path / "room_cm.ply"
    write_point_cloud(room, rng.random((20_000, 3)) * np.array([4_000.0, 280.0, 3_000.0]))   # a 40 x 30 m hall in cm
    out = cli("reconstruct", room, "--model", "convonet-scene", "--checkpoint", ckpt, "--out", tmp_path / "m.ply")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "tiles of 1.00 m, more than 20,000: if the file is not in metres, give its units (--units cm or mm)" in out.stderr
    assert "if the file is in cm, pass --units cm" in out.stderr              # the notice came first
    out = cli("reconstruct", room, "--model", "convonet-scene", "--checkpoint", ckpt, "--units", "inch",
              "--out", tmp_path / "m.ply")
    assert out.returncode == 2 and "unknown units 'inch'; choose one of m, cm, mm" in out.stderr
    assert not (tmp_path / "m.ply").exists()

"""The scene model through the session (the API the window and the CLI use): tiles stream, then
one welded mesh in the file's own units."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from implicit_studio.engine.scene_frame import UNIT_M

from conftest import NearestPointModel, box_room, edges_shared_twice, triangles


def test_session_streams_tiles_then_the_welded_scene(tmp_path, monkeypatch):
    """The scene model through the API: tiles, then one final mesh in the file's own units."""
    from implicit_studio.engine.checkpoints import save_checkpoint
    from implicit_studio.engine.events import Finished, LevelMesh, TileMesh
    from implicit_studio.engine.registry import get_spec
    from implicit_studio.engine.session import ReconstructionSession, Settings
    from implicit_studio.io.inputs import InputData
    from implicit_studio.io.normalize import Normalization

    spec = get_spec("convonet-scene")
    torch.manual_seed(0)
    model = spec.config("cpu").build()
    ckpt = tmp_path / "scene.safetensors"
    save_checkpoint(ckpt, "convonet-scene", model, model.cfg, steps=0)
    rng = np.random.default_rng(9)
    user = box_room(rng, (1800.0, 1100.0, 1300.0), 6000)                 # millimetres
    norm = Normalization.fit(user)
    data = InputData("room.ply", "points", points=norm.to_unit(user), normalization=norm)
    class Store:            # the stand-in model, whose surface is known: a shell around the points
        def get(self, path, name, device):
            assert (Path(path), name) == (ckpt, "convonet-scene")
            return NearestPointModel(), {}

    session = ReconstructionSession(data, Settings(model="convonet-scene", checkpoint=str(ckpt), units="mm",
                                                   voxel=0.05, threshold=0.5), store=Store())
    events = list(session.run())
    tiles = [e for e in events if isinstance(e, TileMesh)]
    final = [e for e in events if isinstance(e, LevelMesh)]
    stats = events[-1].stats
    assert isinstance(events[-1], Finished) and not events[-1].cancelled
    assert stats["scene"]["occupied_tiles"] == tiles[0].total >= len(tiles) == stats["scene"]["meshed_tiles"]
    assert [t.done for t in tiles] == list(range(1, len(tiles) + 1))
    assert len(final) == 1 and final[0].final and len(tiles) > 4
    assert len(final[0].faces) == sum(len(t.faces) for t in tiles)
    assert edges_shared_twice(final[0].faces)
    written = session.data.normalization.to_user(final[0].vertices)        # millimetres again
    reach = 0.05 * UNIT_M * 1000 + 50.0          # the shell, plus one lattice step
    assert np.all(written >= user.min(0) - reach) and np.all(written <= user.max(0) + reach)
    assert np.ptp(written, axis=0) == pytest.approx(np.ptp(user, axis=0) + 2 * 62.5, abs=50.0)


def test_a_scene_streamed_to_a_sink_is_the_scene_kept_in_memory(tmp_path, monkeypatch):
    """With a sink the session hands over each tile's welded part and keeps nothing: the parts
    joined are the mesh it returns without one; the CLI streams a .ply this way and assembles an
    .obj in memory, the same mesh."""
    from implicit_studio.cli import main
    from implicit_studio.engine.checkpoints import save_checkpoint
    from implicit_studio.engine.events import LevelMesh
    from implicit_studio.engine.registry import get_spec
    from implicit_studio.engine.session import ModelStore, ReconstructionSession, Settings
    from implicit_studio.io.files import load_input, read_mesh, write_point_cloud

    model = get_spec("convonet-scene").config("cpu").build()
    ckpt = tmp_path / "scene.safetensors"
    save_checkpoint(ckpt, "convonet-scene", model, model.cfg, steps=0)
    monkeypatch.setattr(ModelStore, "get", lambda self, path, name, device: (NearestPointModel(), {}))
    rng = np.random.default_rng(4)
    room = tmp_path / "room.ply"
    write_point_cloud(room, box_room(rng, (2.2, 1.2, 1.6), 8000) + np.array([100.0, 0.0, -40.0]))
    settings = Settings(model="convonet-scene", checkpoint=str(ckpt), voxel=0.05, threshold=0.5)
    kept = [e for e in ReconstructionSession(load_input(room), settings).run() if isinstance(e, LevelMesh)][-1]
    parts = []
    session = ReconstructionSession(load_input(room), settings)
    streamed = [e for e in session.run(scene_sink=lambda v, f: parts.append((v, f))) if isinstance(e, LevelMesh)]
    assert len(streamed) == 1 and len(streamed[0].faces) == 0 == len(streamed[0].vertices)
    vertices, faces = np.concatenate([v for v, _ in parts]), np.concatenate([f for _, f in parts])
    assert len(parts) > 4 and len(vertices) == len(kept.vertices) and edges_shared_twice(faces)
    assert triangles(vertices.astype(np.float32), faces, 4) == triangles(kept.vertices, kept.faces, 4)

    for name in ("m.ply", "m.obj"):
        assert main(["reconstruct", str(room), "--model", "convonet-scene", "--checkpoint", str(ckpt),
                     "--voxel", "0.05", "--threshold", "0.5", "--out", str(tmp_path / name), "--quiet"]) == 0
    user = session.data.normalization.to_user(kept.vertices)                # the file's frame
    for name in ("m.ply", "m.obj"):
        written = read_mesh(tmp_path / name)
        assert len(written.faces) == len(kept.faces) and edges_shared_twice(written.faces)
        gap = cKDTree(written.vertices[written.faces].mean(axis=1)).query(user[kept.faces].mean(axis=1))[0]
        assert gap.max() < 1e-4                 # every face written where the session's mesh has it

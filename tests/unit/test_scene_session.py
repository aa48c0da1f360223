"""The scene model through the session (the API the window and the CLI use): tiles stream, then
one welded mesh in the file's own units."""

from pathlib import Path

import numpy as np
import pytest
import torch

from implicit_studio.engine.scene_frame import UNIT_M

from conftest import NearestPointModel, box_room, edges_shared_twice


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

"""ReconstructionSession.remesh: a new iso-level from the field already encoded or fitted."""

import threading

import numpy as np
import pytest

from conftest import random_checkpoint
from implicit_studio.engine.events import LevelMesh
from implicit_studio.engine.meshing.components import drop_floaters
from implicit_studio.engine.meshing.mise import mise
from implicit_studio.engine.registry import get_spec
from implicit_studio.engine.session import ModelStore, ReconstructionSession, Settings, sigmoid
from implicit_studio.errors import InputError
from implicit_studio.io.inputs import InputData
from implicit_studio.io.normalize import BOX


@pytest.fixture
def convonet(tmp_path, torus_cloud):
    """A finished convonet-3plane session (random weights), its store and two thresholds with a surface."""
    spec = get_spec("convonet-3plane")
    path = random_checkpoint(tmp_path / "c3.safetensors", spec.name)
    store = ModelStore()
    data = InputData("torus", "points", points=torus_cloud[0])
    settings = Settings(model=spec.name, checkpoint=str(path), resolution0=16, levels=1, refine=0)
    session = ReconstructionSession(data, settings, store)
    values = session_run_values(session)
    thresholds = [float(sigmoid(np.quantile(values, q))) for q in (0.5, 0.7)]
    return session, store, data, settings, thresholds


def session_run_values(session) -> np.ndarray:
    """Run ``session`` to the end; the field's values on its level-0 grid."""
    list(session.run())
    return session.dense(session.settings.resolution0)


def test_remesh_equals_a_fresh_run_at_that_threshold_without_encoding(convonet, monkeypatch):
    session, store, data, settings, (_, high) = convonet
    model = store.get(session.checkpoint, session.spec.name, session.device)[0]
    monkeypatch.setattr(model, "encode", lambda *a: pytest.fail("remesh encoded the input again"))
    stats = {}
    meshes = list(session.remesh(high, stats=stats))
    assert [m.level for m in meshes] == [0, 1] and meshes[-1].final and not meshes[0].final
    assert session.threshold == high and session.iso == pytest.approx(np.log(high / (1 - high)))
    assert meshes[0].evaluations == 0          # the level-0 grid of the run is reused
    assert 0 < stats["levels"][-1]["new_evaluations"] < 33 ** 3
    monkeypatch.undo()

    fresh = ReconstructionSession(data, Settings(**{**vars(settings), "threshold": high}), store)
    expected = [e for e in fresh.run() if isinstance(e, LevelMesh)][-1]
    assert len(meshes[-1].faces) > 0
    np.testing.assert_array_equal(meshes[-1].faces, expected.faces)
    np.testing.assert_allclose(meshes[-1].vertices, expected.vertices, atol=1e-6)


def test_remesh_moves_the_surface_with_the_threshold(convonet):
    session, _, _, _, (low, high) = convonet
    loose = list(session.remesh(low))[-1]
    tight = list(session.remesh(high))[-1]
    # a higher occupancy threshold keeps fewer corners inside: a different, smaller surface
    assert len(loose.faces) > 0 and len(tight.faces) > 0
    assert len(loose.faces) != len(tight.faces)


def test_remesh_stops_when_cancelled_and_checks_its_threshold(convonet):
    session, _, _, _, (low, _) = convonet
    stop = threading.Event()
    stop.set()
    meshes = list(session.remesh(low, cancel=stop))
    assert len(meshes) <= 1 and not any(m.final for m in meshes)   # level 0 needs no evaluation
    assert list(session.remesh(low, cancel=lambda: False))[-1].final
    with pytest.raises(InputError, match="threshold"):
        session.remesh(1.5)
    fresh = ReconstructionSession(session.data, session.settings, session.store)
    with pytest.raises(RuntimeError, match="run it first"):
        fresh.remesh(low)


def test_remesh_of_a_fitted_sdf_at_a_distance_level(torus_cloud):
    pts, nrm = torus_cloud
    session = ReconstructionSession(InputData("torus", "points", points=pts, normals=nrm),
                                    Settings(model="siren", seconds=2, mesh_every=100, resolution0=16, levels=1))
    list(session.run())
    # a level the fitted surface passes through near the input whatever the fit reached on a busy machine:
    # the signed distance of the median input point (the field is minus the distance)
    level = float(np.clip(-np.median(session.field(pts)), -0.2, 0.2))
    final = list(session.remesh(level))[-1]
    assert session.iso == -level and final.final and len(final.faces) > 0
    # the same field meshed by MISE directly at that level, pieces away from the input dropped as the session does
    direct = list(mise(session.field, 16, 1, -level, BOX))[-1]
    vertices, faces, _ = drop_floaters(direct.vertices, direct.faces, pts, direct.resolution, BOX)
    np.testing.assert_array_equal(final.faces, faces)
    np.testing.assert_array_equal(final.vertices, vertices)


def test_a_learned_models_surface_away_from_every_point_is_dropped(tmp_path):
    """A prior's closed bubble deep inside a bulky shape (no input point near it) is not kept as a hidden surface."""
    path = random_checkpoint(tmp_path / "c3.safetensors")
    directions = np.random.default_rng(0).normal(size=(3000, 3))
    points = 0.4 * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    session = ReconstructionSession(InputData("ball", "points", points=points),
                                    Settings(model="convonet-3plane", checkpoint=str(path), resolution0=16, levels=1, refine=0))
    list(session.run())
    # a shell: inside between radii 0.15 and 0.4, so its mesh is the scanned sphere and an unsupported bubble
    session.field = lambda p: 50.0 * np.minimum(0.4 - np.linalg.norm(p, axis=1), np.linalg.norm(p, axis=1) - 0.15)
    stats: dict = {}
    final = list(session.remesh(0.5, stats=stats))[-1]
    radii = np.linalg.norm(final.vertices, axis=1)
    assert final.final and len(final.faces) > 0 and np.all(radii > 0.35)
    assert stats["levels"][-1]["floaters_removed"] == 1

"""The field averaged over quarter turns of the input (engine.ensemble), on tiny random models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import random_checkpoint
from implicit_studio.engine.ensemble import MAX_TURNS, TurnEnsemble, ensemble_turns, turned
from implicit_studio.engine.fitting.refine import RefineConfig, Refiner
from implicit_studio.engine.models.convonet import ConvONetConfig
from implicit_studio.engine.models.onet import ONetConfig
from implicit_studio.engine.pose import CUBE
from implicit_studio.engine.session import ReconstructionSession, Settings
from implicit_studio.engine.events import LevelMesh
from implicit_studio.io.inputs import InputData

CONFIGS = {
    "grid": ConvONetConfig(kind="grid", c_dim=8, hidden=16, n_blocks=2, reso=8, unet_depth=2, unet_filters=4),
    "onet": ONetConfig(c_dim=16, hidden=16, n_blocks=2, encoder_hidden=16),
}


def model_and_cloud(kind: str, n: int = 500, seed: int = 0):
    torch.manual_seed(seed)
    model = CONFIGS[kind].build().eval()
    with torch.no_grad():   # a fresh decoder's zero-initialised layers would hide the code
        for p in model.decoder.parameters():
            if p.dim() == 2 and not p.any():
                p.normal_(0.0, 0.3)
    rng = np.random.default_rng(seed)
    cloud = rng.uniform(-0.4, 0.4, (n, 3)) * [1.0, 0.6, 0.3]        # an anisotropic, unsymmetric box
    queries = rng.uniform(-0.5, 0.5, (300, 3))
    return model, torch.tensor(cloud, dtype=torch.float32)[None], torch.tensor(queries, dtype=torch.float32)[None]


def test_turns_are_distinct_rotations_identity_first():
    turns = ensemble_turns(MAX_TURNS)
    assert turns.shape == (24, 3, 3)
    np.testing.assert_array_equal(turns[0], np.eye(3))
    np.testing.assert_allclose(turns @ turns.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (24, 3, 3)))
    assert np.allclose(np.linalg.det(turns), 1.0)
    assert len({t.tobytes() for t in turns}) == 24
    # the first turns differ most from the identity: half turns (trace -1) before quarter turns
    assert np.trace(turns[1]) == -1 and np.trace(turns[-1]) == 1
    for bad in (0, 25):
        with pytest.raises(ValueError, match="1 to 24 turns"):
            ensemble_turns(bad)


def test_turned_matches_the_matrix_product_and_keeps_precision_under_bf16():
    points = torch.rand(7, 3) - 0.5
    turn = torch.tensor(CUBE[5], dtype=torch.float32)
    np.testing.assert_allclose(turned(points, turn), points @ turn.T, atol=1e-7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = turned(points, turn)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out, points @ turn.T, atol=1e-7)


@pytest.mark.parametrize("kind", ["grid", "onet"])
def test_an_ensemble_of_one_is_the_model(kind):
    model, cloud, queries = model_and_cloud(kind)
    with torch.no_grad():
        alone = model.decode(queries, model.encode(cloud))
        ensemble = TurnEnsemble(model, ensemble_turns(1))
        np.testing.assert_allclose(ensemble.decode(queries, ensemble.encode(cloud)), alone, atol=1e-6)


@pytest.mark.parametrize("kind", ["grid", "onet"])
def test_the_full_ensemble_turns_with_its_input(kind):
    """Over all 24 quarter turns the field is equivariant: turning the input by any quarter turn Q
    turns the field with it, f_{Q x}(Q q) = f_x(q); a single turn of a random model is not."""
    model, cloud, queries = model_and_cloud(kind)
    q_turn = torch.tensor(CUBE[7], dtype=torch.float32)
    ensemble = TurnEnsemble(model, ensemble_turns(MAX_TURNS))
    with torch.no_grad():
        here = ensemble.decode(queries, ensemble.encode(cloud))
        there = ensemble.decode(queries @ q_turn.T, ensemble.encode(cloud @ q_turn.T))
        np.testing.assert_allclose(there, here, atol=1e-4)
        single = model.decode(queries @ q_turn.T, model.encode(cloud @ q_turn.T))
        assert (single - model.decode(queries, model.encode(cloud))).abs().max() > 1e-3


def test_refiner_starts_from_the_ensemble_field_and_refines_every_code():
    model, cloud, queries = model_and_cloud("grid")
    turns = ensemble_turns(3)
    ensemble = TurnEnsemble(model, turns)
    with torch.no_grad():
        codes = ensemble.encode(cloud)
        expected = ensemble.decode(queries, codes)[0].numpy()
    points = cloud[0].numpy()
    refiner = Refiner(model, codes, points, None, iso=0.0, config=RefineConfig(batch=128, far_batch=128), turns=turns)
    np.testing.assert_allclose(refiner.field(queries[0].numpy()), expected, atol=1e-5)
    before = [c["grid"].clone() for c in refiner.code]
    refiner.step()
    assert all(not torch.equal(b, c["grid"]) for b, c in zip(before, refiner.code))
    for code in codes:                       # the shipped encoding is never modified
        assert not code["grid"].requires_grad
    with pytest.raises(ValueError, match="3 codes for 2 turns"):
        Refiner(model, codes, points, None, iso=0.0, turns=turns[:2])


def test_session_meshes_an_ensemble(tmp_path, torus_cloud):
    path = random_checkpoint(tmp_path / "grid.safetensors", "convonet-grid")
    data = InputData("torus", "points", points=torus_cloud[0])
    fields = {}
    for k in (1, 4):
        session = ReconstructionSession(data, Settings(model="convonet-grid", checkpoint=str(path), resolution0=16,
                                                       levels=0, refine=0, ensemble=k, threshold=0.5))
        events = list(session.run())
        assert any(isinstance(e, LevelMesh) and e.final for e in events)
        fields[k] = session.field(torus_cloud[0][:200])
        assert len(session._prior[1]) == k            # one code per turn
    assert not np.allclose(fields[1], fields[4])


def test_a_cancelled_encoding_keeps_the_turns_it_has():
    model, cloud, queries = model_and_cloud("grid")
    ensemble = TurnEnsemble(model, ensemble_turns(6))
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) >= 2          # cancelled while the third turn is due

    with torch.no_grad():
        codes = ensemble.encode(cloud, cancelled)
        assert len(codes) == 2 and len(ensemble.turns) == 2
        expected = TurnEnsemble(model, ensemble_turns(2))
        np.testing.assert_allclose(ensemble.decode(queries, codes),
                                   expected.decode(queries, expected.encode(cloud)), atol=1e-6)

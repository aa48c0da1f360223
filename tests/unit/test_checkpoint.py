import json
import pickle

import pytest
import torch

from implicit_studio.core.errors import CheckpointError
from implicit_studio.core.registry import get_spec
from implicit_studio.train.checkpoint import load_checkpoint, save_checkpoint


def _save(tmp_path, name="convonet-grid", file="model.safetensors", **card):
    spec = get_spec(name)
    cfg = spec.config("cpu")
    model = cfg.build()
    path = tmp_path / file
    save_checkpoint(path, name, model, cfg, steps=3, **card)
    return path, model


def test_round_trip_keeps_weights_and_card(tmp_path):
    path, model = _save(tmp_path, metrics={"test_iou": 0.5})
    loaded, card = load_checkpoint(path, expected_model="convonet-grid")
    assert card["steps"] == 3 and card["metrics"]["test_iou"] == 0.5
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert not loaded.training


def test_truncated_file(tmp_path):
    path, _ = _save(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_garbage_file(tmp_path):
    path, _ = _save(tmp_path)
    path.write_bytes(b"\x00" * 7)
    with pytest.raises(CheckpointError, match=str(path.name)):
        load_checkpoint(path)


def test_checkpoint_of_another_model(tmp_path):
    path, _ = _save(tmp_path)
    with pytest.raises(CheckpointError, match="not of 'convonet-3plane'"):
        load_checkpoint(path, expected_model="convonet-3plane")


def test_wrong_tensor_shapes(tmp_path):
    path, _ = _save(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    card["config"]["c_dim"] = 16  # the weights were made with 32
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path)


def test_newer_format_card(tmp_path):
    path, _ = _save(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    card["format"] = 99
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(path)


def test_missing_or_broken_card(tmp_path):
    path, _ = _save(tmp_path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(path)


class Payload:
    def __reduce__(self):
        import os
        return (os.system, ("touch PWNED_BY_PICKLE",))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt"])
def test_pickle_checkpoints_are_refused_unopened(tmp_path, monkeypatch, suffix):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"evil{suffix}"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_pickle_disguised_as_safetensors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, _ = _save(tmp_path)
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()

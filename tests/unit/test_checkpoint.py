import json
import pickle
import struct
from pathlib import Path

import pytest
import torch

from implicit_studio.errors import CheckpointError
from implicit_studio.engine.registry import get_spec
from implicit_studio.engine.checkpoints import default_threshold, encoder_points, load_checkpoint, save_checkpoint


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
    with pytest.raises(CheckpointError, match="shape") as info:
        load_checkpoint(path)
    assert str(info.value).startswith(f"{path}: tensor ")


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


@pytest.mark.parametrize("key", ["threshold", "val_threshold"])
@pytest.mark.parametrize("threshold", [1.5, 0, -0.2, "0.4", None, True, float("nan")])
def test_card_threshold_must_be_a_probability(tmp_path, threshold, key):
    path, _ = _save(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    card[key] = threshold
    path.with_suffix(".json").write_text(json.dumps(card))
    if threshold is None:          # absent-like: null means "no tuned threshold"
        load_checkpoint(path)
        return
    with pytest.raises(CheckpointError, match=f"'{key}' must be an occupancy probability"):
        load_checkpoint(path)


def test_default_threshold_comes_from_the_shipped_card(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPLICIT_STUDIO_CHECKPOINTS", str(tmp_path))
    assert default_threshold("convonet-grid") == get_spec("convonet-grid").threshold   # nothing shipped
    path, _ = _save(tmp_path, file="convonet-grid.safetensors", threshold=0.45)
    assert default_threshold("convonet-grid") == 0.45
    path.with_suffix(".json").write_text("{broken")      # an unreadable card falls back, never raises
    assert default_threshold("convonet-grid") == get_spec("convonet-grid").threshold
    assert default_threshold("siren") == 0.0


class Payload:
    def __reduce__(self):
        import os
        return (os.system, ("touch PWNED_BY_PICKLE",))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt"])
def test_pickle_checkpoints_are_refused_unopened(tmp_path, monkeypatch, suffix):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"evil{suffix}"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match=rf": pickle-based checkpoints \({suffix}\) are refused because"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".pkl", ".PT"])
def test_pickle_checkpoint_with_a_valid_card_is_refused_for_its_kind(tmp_path, monkeypatch, suffix):
    """A card beside the file would let every later check pass: the refusal must be the file kind's."""
    monkeypatch.chdir(tmp_path)
    path, _ = _save(tmp_path)
    target = path.with_suffix(suffix)
    target.write_bytes(pickle.dumps(Payload()))
    path.with_suffix(".json").replace(target.with_suffix(".json"))   # a valid card named after the pickle
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(target, expected_model="convonet-grid")
    message = str(info.value)
    assert message.startswith(f"{target}: ")
    reason = message[len(f"{target}: "):]       # matched on the reason, never on the folder's name
    assert reason == (f"pickle-based checkpoints ({suffix}) are refused because loading them can run code; "
                      "use a .safetensors checkpoint")
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_pickle_disguised_as_safetensors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, _ = _save(tmp_path)
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupt or truncated safetensors file"):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


@pytest.mark.parametrize("file", ["evil.pt", "evil.pth", "model.safetensors"])
def test_pickle_payload_never_runs_whatever_its_name(tmp_path, monkeypatch, file):
    """A pickle that would create a file when unpickled: refused with one line, the file never appears."""
    monkeypatch.chdir(tmp_path)
    path, _ = _save(tmp_path, file="model.safetensors")
    target = tmp_path / file
    target.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(target)
    assert "\n" not in str(info.value) and file in str(info.value)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_nan_weights_are_refused(tmp_path):
    spec = get_spec("siren")
    cfg = spec.config("cpu")
    model = cfg.build()
    with torch.no_grad():
        model.hidden[1].weight[0, :3] = float("nan")
        model.out.bias[0] = float("inf")
    path = tmp_path / "nan.safetensors"
    save_checkpoint(path, "siren", model, cfg)
    with pytest.raises(CheckpointError, match=r"tensor hidden\.1\.weight holds 3 NaN or Inf values") as info:
        load_checkpoint(path)
    assert str(info.value) == (f"{path}: tensor hidden.1.weight holds 3 NaN or Inf values; "
                               "the checkpoint is damaged (was training diverging?)")


def _edit_card(path, **config):
    card = json.loads(path.with_suffix(".json").read_text())
    card["config"].update(config)
    path.with_suffix(".json").write_text(json.dumps(card))


@pytest.mark.parametrize("name, config, message", [
    ("convonet-grid", {"hidden": 10**9}, "hidden=1000000000 in its card is not an integer from 0 to 320"),
    ("siren", {"width": 10**12, "hidden_layers": 10**9}, "width=1000000000000"),
    ("onet-pointcloud", {"c_dim": -5}, "c_dim=-5"),
    ("onet-pointcloud", {"hidden": "256"}, "hidden='256'"),
    ("siren", {"omega0": float("nan")}, "omega0=nan in its card is not a finite number"),
    # every field within 10x of the paper's, but 100x the parameters: counted without allocating
    ("convonet-3plane", {"unet_filters": 320}, "more than 10x the paper model"),
], ids=["hidden 10^9", "width 10^12", "negative c_dim", "hidden as text", "omega0 NaN", "100x parameters"])
def test_oversized_or_malformed_config_refused_before_building(tmp_path, name, config, message):
    path, _ = _save(tmp_path, name=name)
    _edit_card(path, **config)
    with pytest.raises(CheckpointError, match="refused before|not a finite|not an integer") as info:
        load_checkpoint(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(f"{path}: ")


def _huge_tensor_header() -> bytes:
    header = json.dumps({"decoder.fc_p.weight": {"dtype": "F32", "shape": [1_000_000, 1_000_000],
                                                 "data_offsets": [0, 4_000_000_000_000]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * 16


@pytest.mark.parametrize("content, message", [
    (_huge_tensor_header(), "file not fully covered"),        # a 4 TB tensor over a 16-byte body
    (struct.pack("<Q", 10**15) + b"{}", "header too large"),  # a header length of 1 PB
], ids=["4 TB tensor", "1 PB header"])
def test_safetensors_header_claiming_huge_sizes(tmp_path, content, message):
    """safetensors checks the header's sizes against the file's before reading: refused, nothing allocated."""
    path, _ = _save(tmp_path)
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"corrupt or truncated safetensors file .*{message}") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


# --- the card, written and read ---------------------------------------------------------------


def test_card_records_format_model_version_and_config(tmp_path):
    import dataclasses

    from implicit_studio import __version__
    from safetensors import safe_open

    path, _ = _save(tmp_path, name="siren")
    card = json.loads(path.with_suffix(".json").read_text())
    cfg = get_spec("siren").config("cpu")
    assert card["format"] == 1 and card["model"] == "siren" and card["version"] == __version__
    assert card["config"] == json.loads(json.dumps(dataclasses.asdict(cfg))) and card["steps"] == 3
    with safe_open(str(path), "pt") as f:
        assert f.metadata() == {"model": "siren"}
    model, loaded = load_checkpoint(path)
    assert model.cfg == cfg            # lists in the card become the config's tuples again (loss_weights)


def test_failed_write_leaves_no_partial_files(tmp_path, monkeypatch):
    """Weights and card are written atomically: a failure keeps the old checkpoint and leaves no temporary file."""
    from implicit_studio.engine import checkpoints

    path, model = _save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints, "save_file", broken)
    cfg = get_spec("convonet-grid").config("cpu")
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, "convonet-grid", model, cfg, steps=4)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("card, message", [
    ([1, 2], "model card lacks 'model' or 'config'"),
    ({"model": "convonet-grid"}, "model card lacks 'model' or 'config'"),
    ({"config": {}}, "model card lacks 'model' or 'config'"),
    ({"model": "convonet-grid", "config": {}, "format": "1"}, r"newer Implicit Studio \(checkpoint format 1\)"),
    ({"model": "convonet-grid", "config": {}, "format": 2}, "this version .* reads format 1"),
    ({"model": "nope", "config": {}}, "unknown model 'nope' in its card"),
    ({"model": "convonet-grid", "config": [32]}, r"config in its card does not fit convonet-grid \(unknown fields: \[32\]\)"),
    ({"model": "convonet-grid", "config": "abc"}, r"does not fit convonet-grid \(unknown fields: 'abc'\)$"),
    ({"model": "convonet-grid", "config": 5}, r"does not fit convonet-grid \(unknown fields: 5\)$"),
    ({"model": "convonet-grid", "config": {"c_dim": 32, "depth": 3}},
     r"does not fit convonet-grid \(unknown fields: \['depth'\]\)"),
])
def test_malformed_cards_are_refused_with_their_reason(tmp_path, card, message):
    path, _ = _save(tmp_path)
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(str(path.with_suffix("")))     # the weights' or the card's path


def test_card_without_format_is_read_as_format_0(tmp_path):
    path, _ = _save(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    del card["format"]
    path.with_suffix(".json").write_text(json.dumps(card))
    assert load_checkpoint(path)[1]["model"] == "convonet-grid"


def test_card_threshold_then_the_runs_validation_then_the_registry_default(tmp_path):
    """A shipped card's threshold first; a training run's checkpoint (no ``threshold``, the one its
    validation scored best at as ``val_threshold``) meshes at that one, not at the model's default."""
    from implicit_studio.engine.checkpoints import read_card, tuned_threshold

    path, _ = _save(tmp_path, threshold=0.3, val_threshold=0.5)
    assert tuned_threshold(read_card(path)) == 0.3
    run, _ = _save(tmp_path, file="best.safetensors", val_threshold=0.5)
    assert tuned_threshold(read_card(run)) == 0.5 != get_spec("convonet-grid").threshold
    plain, _ = _save(tmp_path, file="plain.safetensors")
    assert tuned_threshold(read_card(plain)) == get_spec("convonet-grid").threshold


def test_size_fields_up_to_ten_times_the_paper(tmp_path):
    """n_input_points (300 in the paper ONet) adds no parameters: 3,000 is accepted, 3,001 refused, and so are
    booleans and text where the paper has a number."""
    path, _ = _save(tmp_path, name="onet-pointcloud")
    _edit_card(path, n_input_points=3000)
    assert load_checkpoint(path)[0].cfg.n_input_points == 3000
    for value, shown in ((3001, "3001"), (True, "True")):
        _edit_card(path, n_input_points=value)
        with pytest.raises(CheckpointError, match=f"n_input_points={shown} in its card is not an integer from 0 to 3,000"):
            load_checkpoint(path)
    _edit_card(path, n_input_points=300, input_noise=True)
    with pytest.raises(CheckpointError, match="input_noise=True in its card is not a finite number"):
        load_checkpoint(path)
    _edit_card(path, input_noise="0.005")
    with pytest.raises(CheckpointError, match="input_noise='0.005' in its card is not a finite number"):
        load_checkpoint(path)


def test_config_the_model_cannot_be_built_from(tmp_path):
    path, _ = _save(tmp_path, name="siren")
    _edit_card(path, activation="tanh")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: cannot build the model its card describes "
                                             r"\(unknown activation 'tanh'\)$"):
        load_checkpoint(path)


# --- the file ---------------------------------------------------------------------------------------


def test_other_kinds_and_missing_files(tmp_path):
    path, _ = _save(tmp_path)
    onnx = path.with_suffix(".onnx")
    onnx.write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match=r"model\.onnx: not a \.safetensors checkpoint$"):
        load_checkpoint(onnx)
    with pytest.raises(CheckpointError, match=r"gone\.safetensors: checkpoint file not found$"):
        load_checkpoint(tmp_path / "gone.safetensors")
    upper = tmp_path / "UPPER.SAFETENSORS"
    upper.write_bytes(path.read_bytes())
    path.with_suffix(".json").replace(upper.with_suffix(".json"))
    assert load_checkpoint(upper)[1]["model"] == "convonet-grid"     # the kind is read case-insensitively


@pytest.mark.parametrize("change, message", [
    ("drop 1", r"tensors do not match the model \(missing \['decoder\.fc_c\.0\.bias'\]\)$"),
    ("drop 3", r"\(missing \['decoder\.fc_c\.0\.bias', 'decoder\.fc_c\.1\.bias', 'decoder\.fc_c\.2\.bias'\]\)$"),
    ("drop 4", r"\(missing \['decoder\.fc_c\.0\.bias', 'decoder\.fc_c\.1\.bias', 'decoder\.fc_c\.2\.bias'\]\.\.\.\)$"),
    ("extra 4", r"tensors do not match the model \(unexpected \['extra\.a', 'extra\.b', 'extra\.c'\]\.\.\.\)$"),
])
def test_tensor_names_must_match_the_model(tmp_path, change, message):
    """Up to three names are shown, then "..." when there are more."""
    from safetensors.torch import load_file, save_file

    path, _ = _save(tmp_path)
    state = load_file(str(path))
    kind, count = change.split()
    if kind == "drop":
        for i in range(int(count)):
            del state[f"decoder.fc_c.{i}.bias"]
    else:
        state.update({f"extra.{k}": torch.zeros(1) for k in "abcd"})
    save_file(state, str(path))
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(f"{path}: tensors do not match the model (")


def test_integer_tensors_are_not_checked_for_nan(tmp_path):
    """BatchNorm's counters are integers: the finiteness check looks at floating-point tensors only."""
    path, model = _save(tmp_path, name="onet-image")
    loaded, _ = load_checkpoint(path, device=torch.device("cpu"))
    counters = [k for k, v in loaded.state_dict().items() if not v.is_floating_point()]
    assert counters and not loaded.training


def test_saving_into_new_folders_leaves_only_the_checkpoint(tmp_path, monkeypatch):
    """Missing folders are made; each file is first written to a hidden ".NAME.*.tmp" beside it (never a
    *.safetensors or *.json that a half-written file could be taken for), then renamed over it."""
    import os

    from implicit_studio.engine import checkpoints

    moves = []
    real = os.replace

    def recorded(src, dst):
        moves.append((Path(src), Path(dst)))
        real(src, dst)

    monkeypatch.setattr(checkpoints.os, "replace", recorded)
    path, _ = _save(tmp_path, file="runs/a/b/model.safetensors")
    assert [dst for _, dst in moves] == [path, path.with_suffix(".json")]
    for src, dst in moves:
        assert src.parent == dst.parent
        assert src.name.startswith(f".{dst.name}.") and src.name.endswith(".tmp")
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.json", "model.safetensors"]


def test_card_is_indented_json_and_takes_any_value(tmp_path):
    """The card is for people too: two-space indented; values JSON lacks (paths) are written as text."""
    path, _ = _save(tmp_path, data=Path("data/dataset"), metrics={"test_iou": 0.5})
    text = path.with_suffix(".json").read_text()
    assert text.startswith('{\n  "format": 1,\n  "model": "convonet-grid",')
    assert json.loads(text)["data"] == "data/dataset"


def test_size_fields_may_be_zero(tmp_path):
    """0 is within "an integer from 0 to ...": n_blocks 0 passes the card checks and fails only on the tensors."""
    path, _ = _save(tmp_path, name="onet-pointcloud")
    _edit_card(path, n_blocks=0)
    with pytest.raises(CheckpointError, match=r"tensors do not match the model \(unexpected "):
        load_checkpoint(path)


def test_parameters_exactly_at_the_limit_are_accepted(tmp_path, monkeypatch):
    from implicit_studio.engine import checkpoints

    path, model = _save(tmp_path)
    count = sum(p.numel() for p in model.parameters())
    monkeypatch.setattr(checkpoints, "MAX_SIZE_FACTOR", 1)
    monkeypatch.setattr(checkpoints, "_paper_parameter_count", lambda name: count)
    assert load_checkpoint(path)[0] is not None                   # count == 1 x "the paper's"
    monkeypatch.setattr(checkpoints, "_paper_parameter_count", lambda name: count - 1)
    with pytest.raises(CheckpointError, match=f"with {count:,} parameters, more than 1x the paper model"):
        load_checkpoint(path)


def test_model_that_cannot_be_allocated(tmp_path, monkeypatch):
    """Counted on the meta device it fits, but building it for real fails (out of memory): one line."""
    from implicit_studio.engine.models.convonet import ConvONetConfig

    path, _ = _save(tmp_path)
    real = ConvONetConfig.build

    def build(self, *args, **kwargs):
        if torch.empty(0).device.type != "meta":
            raise RuntimeError("not enough memory")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ConvONetConfig, "build", build)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value) == f"{path}: cannot build the model its card describes (not enough memory)"


def test_loaded_onto_the_device_asked_for(tmp_path):
    path, _ = _save(tmp_path)
    model, _ = load_checkpoint(path, device="meta")
    assert {p.device.type for p in model.parameters()} == {"meta"}


def test_fitted_models_have_no_tuned_threshold(tmp_path, monkeypatch):
    """SIREN fits each shape: weights named siren.safetensors in a checkpoint folder do not set its level."""
    monkeypatch.setenv("IMPLICIT_STUDIO_CHECKPOINTS", str(tmp_path))
    _save(tmp_path, name="siren", file="siren.safetensors", threshold=0.3)
    assert default_threshold("siren") == get_spec("siren").threshold == 0.0


def test_every_shipped_card_names_the_threshold_chosen_on_validation():
    """A shipped card without its own threshold would mesh at the registry's fallback, silently."""
    from implicit_studio.engine.checkpoints import read_card, tuned_threshold

    folder = Path(__file__).resolve().parents[2] / "checkpoints"
    weights = sorted(folder.glob("*.safetensors"))
    assert weights
    for path in weights:
        card = read_card(path)
        assert "threshold" in card and card["threshold_selection"]["rule"], path.name
        assert tuned_threshold(card) == card["threshold"], path.name


@pytest.mark.parametrize("count", [0, -5, 2.5, "3000", True, 10**7, 500, None])
def test_card_encoder_points_must_be_a_whole_count(tmp_path, count):
    path, _ = _save(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    card["encoder_points"] = count
    path.with_suffix(".json").write_text(json.dumps(card))
    if count in (500, None):
        model, read = load_checkpoint(path)
        assert encoder_points(read, model.cfg) == (500 if count else model.cfg.n_input_points)
        return
    with pytest.raises(CheckpointError, match="'encoder_points' must be a whole number of points"):
        load_checkpoint(path)

"""The model panel's card text names what a ConvONet's features are held on, from its card."""

import json

from implicit_studio.engine.registry import default_checkpoint
from implicit_studio.gui.model_panel import feature_side_text, model_card_text


def test_feature_side_comes_from_the_card_config():
    assert feature_side_text({"kind": "grid", "reso": 40}) == "40^3 grid"
    assert feature_side_text({"kind": "3plane", "reso": 64}) == "3 planes of 64^2"
    # ONet cards and damaged configs add nothing
    assert feature_side_text({"c_dim": 256}) == ""
    assert feature_side_text({"kind": "grid", "reso": "40"}) == ""


def test_shipped_grid_card_text_names_its_grid():
    path = default_checkpoint("convonet-grid")
    config = json.loads(path.with_suffix(".json").read_text())["config"]
    text = model_card_text("convonet-grid")
    assert f"{config['reso']}^3 grid" in text and "checkpoint convonet-grid.safetensors" in text

"""Qt-free training: checkpoints, supervised training of the learned models, per-shape SIREN fitting."""

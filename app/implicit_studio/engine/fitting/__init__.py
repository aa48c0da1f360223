"""Per-shape fitting: SIREN / ReLU signed-distance fits to one input."""

"""Per-shape optimisation: SIREN / ReLU signed-distance fits from scratch (siren_fit) and test-time refinement of a learned prior to one input (refine)."""

"""Which model a reconstruction uses unless told otherwise (kept free of torch: the CLI's
argument parser reads it before anything heavy is imported)."""

# best first: the 3D-grid ConvONet scores highest on the test and held-out splits and loses least
# when the input is rotated (README, Quality); the 3-plane one is the fastest
DEFAULT_MODELS = ("convonet-grid", "convonet-3plane")

"""Qt-free torch models: ONet, ConvONet, SIREN and the ReLU-MLP baseline."""

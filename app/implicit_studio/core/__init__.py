"""Qt-free core: errors, device selection, the model registry and the reconstruction session."""

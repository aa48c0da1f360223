"""The user's files in and out: point clouds, meshes and images read with one-line errors, normalised into the unit box; meshes written. Imports nothing from the engine, training or evaluation."""

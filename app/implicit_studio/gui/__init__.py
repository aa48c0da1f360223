"""The desktop window (Qt, vispy, pyqtgraph): the only part that imports Qt. It drives the engine's reconstruction session from worker threads; the UI thread never runs torch or marching cubes."""

"""Evaluation: metrics as the papers define them (IoU, Chamfer-L1, normal consistency, F-score), the quality benchmark on data-set splits and the speed benchmark."""

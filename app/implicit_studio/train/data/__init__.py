"""The training-set factory: shape sources, labels, renders, sampled data sets."""

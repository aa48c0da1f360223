"""Qt-free data handling: file IO, normalisation, sampling, labels and data sets."""

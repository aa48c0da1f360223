"""Implicit Studio: neural implicit 3D reconstruction (ONet, ConvONet, SIREN) on a laptop CPU."""

__version__ = "0.1.0"

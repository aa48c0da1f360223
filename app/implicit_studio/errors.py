"""Error types the CLI and GUI turn into one-line messages.

``InputError`` and its subclasses mean the user gave us something we cannot use
(exit code 2 on the command line, a dialog in the window); anything else is a bug
(exit code 1).
"""


class StudioError(Exception):
    """Base class for every error Implicit Studio raises on purpose."""


class InputError(StudioError):
    """A file, argument or setting from the user cannot be used."""


class CheckpointError(InputError):
    """A checkpoint file is missing, corrupt, unsafe or belongs to another model."""


class ModelUnavailable(InputError):
    """The model exists but has no trained weights to reconstruct with."""


class Cancelled(StudioError):
    """A long computation was cancelled by its caller."""

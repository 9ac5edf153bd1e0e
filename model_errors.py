"""ModelLoadError: the one error every step of loading a model raises, from settings to weights."""


class ModelLoadError(RuntimeError):
    """A model location that cannot serve: missing, unreadable, or for another task."""

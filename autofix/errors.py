"""Exception types. Messages are one line and name the file or value at fault."""

from __future__ import annotations


class AutofixError(Exception):
    """Base class for errors autofix reports to the user as one line."""


class ConfigError(AutofixError, ValueError):
    """A configuration, preset or CLI override is invalid."""


class InputImageError(AutofixError):
    """An input file cannot be used as an image (not an image, truncated, too big, ...)."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class BackendUnavailable(AutofixError):
    """A backend's optional dependency is not installed; the message says what to install."""


class ModelNotFound(AutofixError):
    """A model file is missing; the message says exactly where to put it."""


class UnsafeModelFile(AutofixError):
    """A pickle-based model file was refused (not in the manifest, no ``--allow-pickle``)."""


class LockHeld(AutofixError):
    """Another autofix run is writing to the same output folder."""

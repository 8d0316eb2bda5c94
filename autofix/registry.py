"""A small name → factory registry, shared by detectors and inpainters.

Entries declare the optional modules they need (``requires``) so that an unusable
backend fails when it is *built*, with an install hint, not deep inside a run.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from .errors import BackendUnavailable, ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered factory and what it needs."""

    name: str
    factory: Callable[..., T]
    requires: tuple[str, ...]
    extra: str
    summary: str

    def missing(self) -> list[str]:
        """Top-level modules in ``requires`` that cannot be imported."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


class Registry(Generic[T]):
    """Maps names to factories. Duplicate names raise; unknown names list the valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self, name: str, *, requires: tuple[str, ...] = (), extra: str = "", summary: str = ""
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = Entry(name, factory, requires, extra, summary)
            return factory

        return deco

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def entry(self, name: str) -> Entry[T]:
        """The entry for ``name``; raises :class:`ConfigError` listing valid names."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"
            ) from None

    def build(self, name: str, *args: object, **kwargs: object) -> T:
        """Build ``name``; raises :class:`BackendUnavailable` if its dependencies are missing."""
        entry = self.entry(name)
        missing = entry.missing()
        if missing:
            hint = install_hint(entry.extra) if entry.extra else install_hint(None, missing)
            raise BackendUnavailable(
                f"{self.kind} {name!r} needs {', '.join(missing)}, which is not installed: {hint}"
            )
        return entry.factory(*args, **kwargs)


def install_hint(extra: str | None, packages: list[str] | tuple[str, ...] = ()) -> str:
    """A command that works: installs an optional extra's requirements (or ``packages``)
    into the running environment with its own pip (``pipx inject`` under pipx), plus the
    repository's installer in a source checkout. See :mod:`autofix.extras`."""
    from .extras import install_command

    return install_command(extra, packages)

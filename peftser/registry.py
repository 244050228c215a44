"""One small registry class; UPSTREAMS, METHODS, TASKS and GRIDS are its instances.

Registration is a decorator on a plain function or class (timm's ``@register_model``); an entry
may also be a lazy ``"module:object"`` string so that listing never imports heavy code
(lm-evaluation-harness' registry).
"""

from __future__ import annotations

import difflib
import importlib
import os
from typing import Any, Callable, Iterator


class UnknownNameError(KeyError):
    """A name that no registry entry (or task training) has; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


class Registry:
    """A named collection of factories of one kind (upstream, method, task, grid)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None, *, overwrite: bool = False):
        """Register ``obj`` under ``name``; used bare as ``@REGISTRY.register("name")``."""
        if obj is None:
            return lambda o: self.register(name, o, overwrite=overwrite)
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in (".", "..") or any(c in name for c in "/\\\0"):
            # names become folders and files of a results directory (records/<task>/, plots per
            # upstream) and "/" separates an upstream from a variant in --compare
            raise ValueError(f"{self.kind} name {name!r} must be one folder name (no '/', '\\' or '..')")
        if name in self._entries and not overwrite and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        _name_entry(self.kind, name, obj)
        self._entries[name] = obj
        return obj

    def get(self, name: str) -> Any:
        """The registered object; an unknown name lists the known ones and the closest match."""
        try:
            entry = self._entries[name]
        except KeyError:
            known = ", ".join(self.names()) or "(none)"
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {known}") from None
        if isinstance(entry, str):  # lazy "module:object" placeholder
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module), attr)
            self._entries[name] = entry
        return entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def _name_entry(kind: str, name: str, obj: Any) -> None:
    """The registered name is the entry's only name: a class gets it as its ``name`` attribute
    (what artifacts and records save, and reload by), and a ``name`` the entry already states
    must be the same."""
    if isinstance(obj, type):
        declared = obj.__dict__.get("name")
        if declared and declared != name:
            raise ValueError(f"{kind} {name!r}: class {obj.__name__} declares name = {declared!r}; "
                             "drop the attribute (registration sets it) or use one name")
        if hasattr(obj, "name"):
            obj.name = name
    elif not isinstance(obj, (str, os.PathLike)) and isinstance(getattr(obj, "name", None), str) and obj.name != name:
        raise ValueError(f"{kind} {name!r}: the registered object is named {obj.name!r}; use one name")


UPSTREAMS = Registry("upstream")
METHODS = Registry("method")
TASKS = Registry("task")
GRIDS = Registry("grid")

# The modules whose decorators fill each registry.
BUILTINS = {
    "upstream": "peftser.upstream",
    "method": "peftser.peft",
    "task": "peftser.downstream.tasks",
    "grid": "peftser.benchmark.grids",
}
_LOADED: set[str] = set()


PLUGINS_ENV = "PEFTSER_PLUGINS"  # comma-separated modules that register the user's own entries


def load_builtins(*kinds: str) -> None:
    """Import the modules whose decorators fill the registries of ``kinds`` (default: all), then
    the user's plugins (idempotent). Loading only methods imports no torch: a cell's key needs
    the methods' argument defaults and nothing else.

    Plugins are named in an environment variable so that the orchestrator's worker processes,
    which inherit the environment, register the same entries as the process that started them.
    """
    for kind in kinds or tuple(BUILTINS):
        if kind not in _LOADED:
            _LOADED.add(kind)
            importlib.import_module(BUILTINS[kind])
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        _import_plugin(module)


def _import_plugin(module: str) -> None:
    """Import one plugin; whatever goes wrong in it is a ValueError naming the module and what happened."""
    where = f"plugin module {module!r} (from --plugin or ${PLUGINS_ENV})"
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"{where} cannot be imported: {err}") from err
    except SyntaxError as err:
        raise ValueError(f"{where} has a syntax error: {err.msg} ({err.filename}, line {err.lineno})") from err
    except SystemExit as err:  # sys.exit() in a plugin would end the harness without a word
        raise ValueError(f"{where} called sys.exit({err.code!r}) while being imported") from None
    except Exception as err:  # noqa: BLE001 - a plugin is the user's code: any error in it is named as its own
        raise ValueError(f"{where} failed while being imported: {type(err).__name__}: {err}") from err


def factory(registry: Registry, name: str) -> Callable[..., Any]:
    """``registry.get(name)`` after the built-ins are loaded."""
    load_builtins()
    return registry.get(name)

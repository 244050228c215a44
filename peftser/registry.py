"""One small registry class; UPSTREAMS, METHODS, TASKS and GRIDS are its instances.

Registration is a decorator on a plain function or class (timm's ``@register_model``); an entry
may also be a lazy ``"module:object"`` string so that listing never imports heavy code
(lm-evaluation-harness' registry). Each built-in registry checks the type of what it is given (an
upstream spec or builder, a ``Method`` subclass, a ``Task`` subclass, a grid), a lazy entry when
it is first imported. A name the package registers itself is refused to any other module unless
it passes ``overwrite=True``. Tests add and remove entries with ``temporary`` and ``unregister``.
A module that derives entries from others (a corpus' synthetic twin) ``watch``es the registry.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator


class UnknownNameError(KeyError):
    """A name that no registry entry (or task training) has; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


def _resolve(reference: str) -> Any:
    """The object a ``"module:object"`` reference names (imported now)."""
    module, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Accepts:
    """What a registry's entries must be: a subclass of ``subclass_of``, an instance of
    ``instance_of`` (or, with ``callable_ok``, any other callable) or a path. The classes are
    ``"module:Class"`` references, imported only when a non-lazy entry is checked, so that the
    registry itself imports nothing heavy."""

    what: str  # said in the error, e.g. "a Method subclass"
    subclass_of: str = ""
    instance_of: str = ""
    callable_ok: bool = False
    path_ok: bool = False

    def problem(self, obj: Any) -> str | None:
        """Why ``obj`` cannot be an entry, or None."""
        if self.path_ok and isinstance(obj, os.PathLike):
            return None
        if self.subclass_of:
            if isinstance(obj, type) and issubclass(obj, _resolve(self.subclass_of)):
                return None
        elif self.instance_of and isinstance(obj, _resolve(self.instance_of)):
            return None
        if self.callable_ok and callable(obj) and not isinstance(obj, type):
            return None
        shown = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        return f"expected {self.what}, got {'class ' if isinstance(obj, type) else ''}{shown}"


def _registering_module() -> str:
    """The module whose code called ``register`` (the first frame outside this module). Whether an
    entry is built in is where it was registered from, not what it is: a plugin's UpstreamSpec is
    an instance of the package's class, and a decorator runs in the decorated class' module."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    return frame.f_globals.get("__name__", "") if frame is not None else ""


class Registry:
    """A named collection of factories of one kind (upstream, method, task, grid)."""

    def __init__(self, kind: str, accepts: Accepts | None = None):
        self.kind = kind
        self.accepts = accepts
        self._entries: dict[str, Any] = {}
        self._builtin: set[str] = set()  # names the package registers itself
        self._watchers: list[Callable[[str, Any], None]] = []
        self._derived: dict[str, str] = {}  # an entry registered by a watcher -> the entry it derives from

    def register(self, name: str, obj: Any = None, *, overwrite: bool = False, derived_from: str | None = None):
        """Register ``obj`` under ``name``; used bare as ``@REGISTRY.register("name")``.

        ``obj`` is checked against the registry's type (a lazy ``"module:object"`` string when it
        is first got). Registering another object under a name already taken is an error unless
        ``overwrite=True``, which replaces it deliberately (a built-in too). An entry a watcher
        makes from another (``derived_from``: a corpus' synthetic twin) is built in when that one
        is, and leaves with it.
        """
        if obj is None:
            return lambda o: self.register(name, o, overwrite=overwrite, derived_from=derived_from)
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in (".", "..") or any(c in name for c in "/\\\0"):
            # names become folders and files of a results directory (records/<task>/, plots per
            # upstream) and "/" separates an upstream from a variant in --compare
            raise ValueError(f"{self.kind} name {name!r} must be one folder name (no '/', '\\' or '..')")
        if name in self._entries and not overwrite and self._entries[name] is not obj:
            raise ValueError(self._taken(name))
        if not isinstance(obj, str):
            self._check(name, obj)
        _name_entry(self.kind, name, obj)
        self._entries[name] = obj
        if derived_from is not None:
            self._derived[name] = derived_from
            builtin = derived_from in self._builtin
        else:
            module = _registering_module()
            builtin = module == "peftser" or module.startswith("peftser.")
        if builtin:
            self._builtin.add(name)
        else:
            self._builtin.discard(name)
        if not isinstance(obj, str):
            self._tell(name, obj)
        return obj

    def watch(self, callback: Callable[[str, Any], None]) -> None:
        """Call ``callback(name, entry)`` for each entry registered so far and each one registered
        later (a lazy entry when it is first got): entries derived from others are then there
        whatever order their modules are imported in."""
        self._watchers.append(callback)
        for name, entry in list(self._entries.items()):
            if not isinstance(entry, str):
                callback(name, entry)

    def _tell(self, name: str, entry: Any) -> None:
        for callback in self._watchers:
            callback(name, entry)

    def _taken(self, name: str) -> str:
        if name in self._builtin:
            return (f"{self.kind} {name!r} is already registered: it is built into peftser; choose another name, or "
                    f"pass overwrite=True ({self.kind.upper()}S.register({name!r}, obj, overwrite=True)) to replace "
                    "the built-in deliberately")
        return f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it"

    def _check(self, name: str, obj: Any) -> None:
        problem = self.accepts.problem(obj) if self.accepts else None
        if problem:
            raise TypeError(f"{self.kind} {name!r}: {problem}")

    def unregister(self, name: str) -> Any:
        """Remove ``name`` and return its entry (a KeyError naming the known ones if it has none)."""
        if name not in self._entries:
            self.get(name)  # the unknown-name error
        self._forget_derived(name)
        self._builtin.discard(name)
        return self._entries.pop(name)

    def _forget_derived(self, name: str) -> None:
        """Remove the entries derived from ``name``."""
        for derived in [d for d, source in self._derived.items() if source == name]:
            del self._derived[derived]
            self._entries.pop(derived, None)
            self._builtin.discard(derived)

    @contextlib.contextmanager
    def temporary(self, name: str, obj: Any, *, overwrite: bool = False) -> Iterator[Any]:
        """``obj`` registered under ``name`` for the ``with`` block; what was there before (and what
        derived from it) comes back."""
        with self.preserved():
            self.register(name, obj, overwrite=overwrite)
            yield obj

    @contextlib.contextmanager
    def preserved(self) -> Iterator[Registry]:
        """Whatever the ``with`` block registers or removes is undone at its end."""
        entries, builtin, derived = dict(self._entries), set(self._builtin), dict(self._derived)
        try:
            yield self
        finally:
            self._entries.clear()
            self._entries.update(entries)
            self._builtin, self._derived = builtin, derived

    def is_builtin(self, name: str) -> bool:
        """Whether ``name`` was registered by the package itself (not a plugin or a test)."""
        return name in self._builtin

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
            entry = _resolve(entry)
            self._check(name, entry)
            _name_entry(self.kind, name, entry)
            self._entries[name] = entry
            self._tell(name, entry)
        return entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def imported(self) -> list[str]:
        """The names whose objects are imported: a lazy entry not yet looked up is left out, as
        looking at it may do work (import heavy code; the EmoBox twin writes its metadata)."""
        return sorted(name for name, entry in self._entries.items() if not isinstance(entry, str))

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


UPSTREAMS = Registry("upstream", Accepts(
    "an UpstreamSpec or a function (pretrained, checkpoint_dir, **overrides) -> Upstream",
    instance_of="peftser.upstream.spec:UpstreamSpec", callable_ok=True,
))
METHODS = Registry("method", Accepts("a subclass of peftser.peft.Method", subclass_of="peftser.peft.base:Method"))
TASKS = Registry("task", Accepts("a subclass of peftser.downstream.task.Task", subclass_of="peftser.downstream.task:Task"))
GRIDS = Registry("grid", Accepts("a Grid or the path of a grid YAML file", instance_of="peftser.benchmark.grids:Grid",
                                 path_ok=True))

# The modules whose decorators fill each registry.
BUILTINS = {
    "upstream": "peftser.upstream",
    "method": "peftser.peft",
    "task": "peftser.downstream.tasks",
    "grid": "peftser.benchmark.grids",
}
_LOADED: set[str] = set()
_AFTER_LOAD: list[Callable[[], None]] = []


PLUGINS_ENV = "PEFTSER_PLUGINS"  # comma-separated modules that register the user's own entries
TASK_FILES_ENV = "PEFTSER_TASK_FILES"  # task YAMLs (or folders of them) that register the user's own corpora


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
    for hook in _AFTER_LOAD:
        hook()


def after_load(hook: Callable[[], None]) -> Callable[[], None]:
    """Call ``hook`` at the end of every ``load_builtins``: how a built-in module registers entries
    that the environment names (the tasks package: the task files of $PEFTSER_TASK_FILES)."""
    if hook not in _AFTER_LOAD:
        _AFTER_LOAD.append(hook)
    return hook


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

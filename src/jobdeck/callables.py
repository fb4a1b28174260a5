"""Functions named by reference: ``"package.module:function"`` → the callable, with errors that say what failed."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from jobdeck.errors import ConfigError

__all__ = ["check_ref", "resolve_callable"]


def check_ref(ref: str) -> tuple[str, list[str]]:
    """The module name and the attribute path of ``ref``.

    :raises ConfigError: (field ``func``) ``ref`` is not ``module:function``
    """
    module, colon, attribute = ref.strip().partition(":")
    parts = attribute.split(".")
    if not colon or not all(part.isidentifier() for part in [*module.split("."), *parts]):
        raise ConfigError(f"expected 'module:function', got {ref!r}", field="func")
    return module, parts


def resolve_callable(ref: str, *, search_paths: Sequence[Path] = ()) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (the part after the colon may be dotted: ``module:Class.method``).

    ``search_paths`` go to the front of ``sys.path`` and stay there, since a job may import more at run time.

    :raises ConfigError: (field ``func``) a malformed reference, a module that cannot be imported (with the
        underlying error), a missing attribute, or something that is not callable
    """
    module_name, parts = check_ref(ref)
    for folder in reversed(search_paths):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    if module_name not in sys.modules:
        importlib.invalidate_caches()  # the file may be newer than the import system's directory caches
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
            where = ", ".join(str(folder) for folder in search_paths)
            raise ConfigError(
                f"cannot import {module_name!r}: no module named {exc.name!r}"
                + (f" (searched {where} and sys.path)" if where else ""),
                field="func",
            ) from None
        raise ConfigError(f"importing {module_name!r} failed: ModuleNotFoundError: {exc}", field="func") from exc
    except (Exception, SystemExit) as exc:  # the module's own code failed: say how
        raise ConfigError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}", field="func") from exc
    for index, part in enumerate(parts):
        try:
            target = getattr(target, part)
        except AttributeError:
            missing = ".".join(parts[: index + 1])
            raise ConfigError(f"module {module_name!r} has no attribute {missing!r}", field="func") from None
    if not callable(target):
        raise ConfigError(f"{ref!r} is not callable (it is {type(target).__name__} {target!r:.60})", field="func")
    return cast(Callable[..., Any], target)

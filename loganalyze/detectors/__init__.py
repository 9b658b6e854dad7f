"""Detectors: one module per rule family, one pure function per rule.

A detector is `fn(run: AlignedRun, params: Mapping[str, Any]) -> list[Finding]` and is
registered under its rule id with `@detector("ID")`. Its card (rules/ID.toml) holds the
documentation, the default severity and the parameters. Modules in this package are
imported automatically, so adding a rule touches no other module.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable, Mapping

from ..model import AlignedRun, Finding

Detector = Callable[[AlignedRun, Mapping[str, Any]], list[Finding]]

_REGISTRY: dict[str, Detector] = {}


def detector(rule_id: str) -> Callable[[Detector], Detector]:
    def register(fn: Detector) -> Detector:
        if rule_id in _REGISTRY and _REGISTRY[rule_id] is not fn:
            raise RuntimeError(f"two detectors registered for rule {rule_id}")
        _REGISTRY[rule_id] = fn
        return fn

    return register


def all_detectors() -> dict[str, Detector]:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    return dict(_REGISTRY)

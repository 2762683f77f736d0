"""Catalog specs: one module per catalog, each defining `SPEC`. Adding a catalog is adding a file here."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from types import ModuleType

from ..engine.spec import CatalogSpec, SpecError
from ..systems.identity import check_identities
from ..systems.registry import check_spec


def spec_of(module: ModuleType) -> CatalogSpec:
    where = getattr(module, "__file__", module.__name__)
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, CatalogSpec):
        raise SpecError(f"{where}: field 'SPEC' must be a CatalogSpec, got {type(spec).__name__}")
    return dataclasses.replace(spec, source=where)


def load_specs(package: str = __name__) -> list[CatalogSpec]:
    """Import every catalog module of `package`; a broken spec fails here, naming its file and field."""
    specs = []
    for info in sorted(pkgutil.iter_modules(importlib.import_module(package).__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        name = f"{package}.{info.name}"
        try:
            module = importlib.import_module(name)
        except SpecError as error:
            raise SpecError(f"{name.replace('.', '/')}.py: {error}") from None
        spec = spec_of(module)
        check_spec(spec)  # what a system cannot do to an object type fails here, not in a run
        specs.append(spec)
    names = [spec.name for spec in specs]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise SpecError(f"{package}: catalog name declared twice: {sorted(duplicated)}")
    check_identities(specs)  # two catalogs on one object type and external-id field would share its records
    return specs

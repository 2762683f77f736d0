"""Stripe's contract for an object, from two published sources, and the problems of an object that breaks it.

- The stripe SDK's generated models (`stripe.<Resource>` and their nested classes): every field Stripe declares,
  with its type (`Optional[...]` when it may be null). A field that is not declared there is undocumented.
- Stripe's official example objects (fixtures3.json, from the public stripe/openapi repository): the fields
  every object of a resource carries; fields declared in the SDK but absent from the example are optional (only
  returned when expanded, or on some objects). A field newer than the fixtures' commit is listed in NEWER; one
  the example still has but the SDK's models no longer declare (an invoice's `subscription`, moved to
  `parent.subscription_details`) is gone in the API version the SDK and the sandbox speak, and undocumented.

Nested objects are checked against their nested classes, every field present there typed; a nested object's
non-null fields must be present (the SDK declares them without Optional). An object embedded anywhere (an
event's data.object, an expanded customer, a list's items) is checked as its own resource.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from typing import Any, Iterator, Optional

import stripe
from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject, UntypedStripeObject

from zensync_pipelines_tests.conftest import SHARED_REFERENCE

FIXTURES = SHARED_REFERENCE / "stripe" / "fixtures3.json"
NONE = type(None)
# Fields the SDK's models (API 2026-10-28) declare as always returned that Stripe's fixtures predate: required.
NEWER: dict[str, set[str]] = {"invoice": {"amount_paid_off_stripe"}}
# Fields Stripe's examples show but the API returns only when `expand[]` names them: optional unless expanded.
INCLUDABLE: dict[str, set[str]] = {
    "charge": {"refunds"},  # API 2022-11-15: "Charge no longer auto-expands refunds by default"
}
# Deliberate differences, each with its reason. Nothing else may differ.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("webhook_endpoint", "secret"): "Stripe returns the signing secret in the create reply only (not declared in "
                                    "the model, which describes the retrieved object)",
}


@functools.lru_cache(maxsize=1)
def fixtures() -> dict[str, dict[str, Any]]:
    return json.loads(FIXTURES.read_text())["resources"]


def resource_class(object_name: str) -> Optional[type]:
    found = OBJECT_CLASSES.get(object_name)
    if found is None:
        return None
    module, name = found
    return getattr(__import__(module, fromlist=[name]), name)


@functools.lru_cache(maxsize=None)
def fields_of(cls: type) -> dict[str, Any]:
    """The declared fields of a model class (its own and inherited annotations), without class constants."""
    declared: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if typing.get_origin(annotation) is typing.ClassVar or name.startswith("_"):
                continue
            declared[name] = annotation
    return declared


def _resolve(annotation: Any) -> Any:
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        return getattr(stripe, annotation)
    return annotation


def nullable(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and NONE in typing.get_args(annotation)


def required_fields(object_name: str, cls: type, deleted: bool) -> set[str]:
    example = fixtures().get(f"deleted_{object_name}" if deleted else object_name)
    if example is not None:
        required = (set(example) & set(fields_of(cls))) - INCLUDABLE.get(object_name, set())
        return required | (set() if deleted else NEWER.get(object_name, set()))
    return {name for name, annotation in fields_of(cls).items() if not nullable(annotation)}


def problems(value: Any, where: str = "") -> list[str]:
    """Every way `value` (a Stripe object as JSON, or a list or search page of them) breaks Stripe's contract;
    [] when it keeps it, or when it is no Stripe object (an error, a sandbox control answer)."""
    found: list[str] = []
    if not isinstance(value, dict) or not isinstance(value.get("object"), str):
        return found
    if isinstance(value, dict) and value.get("object") in ("list", "search_result"):
        _check_list(value, Any, where or "list", found)
        for inner, obj in objects_in(value, where):
            _check_resource(obj, inner, found)
    else:
        _check_resource(value, where or str(value.get("object")), found)
    return found


def _check_resource(value: dict[str, Any], where: str, found: list[str]) -> None:
    object_name = value.get("object")
    cls = resource_class(str(object_name))
    if cls is None:
        found.append(f"{where}: object {object_name!r} is no resource of the stripe SDK")
        return
    deleted = value.get("deleted") is True
    _check_fields(value, cls, required_fields(str(object_name), cls, deleted), where, found, str(object_name))


def _check_fields(value: dict[str, Any], cls: type, required: set[str], where: str, found: list[str],
                  object_name: str = "") -> None:
    declared = fields_of(cls)
    for name in sorted(required - set(value)):
        found.append(f"{where}.{name}: missing (Stripe always returns it)")
    for name in sorted(set(value) - set(declared)):
        if (object_name, name) not in EXCEPTIONS:
            found.append(f"{where}.{name}: undocumented field (not in stripe.{cls.__qualname__})")
    for name, item in value.items():
        if name in declared:
            _check(item, declared[name], f"{where}.{name}", found)


def _check(value: Any, annotation: Any, where: str, found: list[str]) -> None:
    annotation = _resolve(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if NONE not in args:
                found.append(f"{where}: null, but Stripe declares it never null ({_name(annotation)})")
            return
        options = [_resolve(a) for a in args if a is not NONE]
        attempts = []
        for option in options:
            attempt: list[str] = []
            _check(value, option, where, attempt)
            if not attempt:
                return
            attempts.append(attempt)
        found.extend(min(attempts, key=len))  # the closest option's problems
        return
    if value is None:
        found.append(f"{where}: null, but Stripe declares it never null ({_name(annotation)})")
    elif origin is typing.Literal:
        if value not in args:
            found.append(f"{where}: {value!r} is not one of {list(args)}")
    elif origin is list:
        if not isinstance(value, list):
            found.append(f"{where}: expected a list, got {type(value).__name__}")
        else:
            for index, item in enumerate(value):
                _check(item, args[0], f"{where}[{index}]", found)
    elif origin is dict:
        if not isinstance(value, dict):
            found.append(f"{where}: expected a hash, got {type(value).__name__}")
        else:
            for key, item in value.items():
                _check(item, args[1], f"{where}.{key}", found)
    elif origin is UntypedStripeObject:  # an event's data.object: whichever resource it names
        if isinstance(value, dict) and resource_class(str(value.get("object"))) is not None:
            _check_resource(value, where, found)
    elif origin is ListObject or annotation is ListObject:
        _check_list(value, args[0] if args else Any, where, found)
    elif inspect.isclass(annotation) and issubclass(annotation, StripeObject):
        if not isinstance(value, dict):
            found.append(f"{where}: expected a {annotation.__qualname__} hash, got {type(value).__name__}")
        elif "object" in value and getattr(annotation, "OBJECT_NAME", None):
            _check_resource(value, where, found)
        else:
            required = {n for n, a in fields_of(annotation).items() if not nullable(a)}
            _check_fields(value, annotation, required, where, found)
    elif annotation is bool:
        if not isinstance(value, bool):
            found.append(f"{where}: expected a boolean, got {value!r}")
    elif annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            found.append(f"{where}: expected an integer, got {value!r}")
    elif annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            found.append(f"{where}: expected a number, got {value!r}")
    elif annotation is str:
        if not isinstance(value, str):
            found.append(f"{where}: expected a string, got {value!r}")


def _check_list(value: Any, item: Any, where: str, found: list[str]) -> None:
    """A list object's envelope (a search page's: `search_result` with `next_page`), then its items."""
    kind = value.get("object") if isinstance(value, dict) else None
    if kind not in ("list", "search_result"):
        found.append(f"{where}: expected a list object, got {str(value)[:80]}")
        return
    for name, kind in (("data", list), ("has_more", bool), ("url", str)):
        if not isinstance(value.get(name), kind):
            found.append(f"{where}.{name}: a list object's {name} must be a {kind.__name__}")
    if kind == "search_result" and not (value.get("next_page") is None or isinstance(value.get("next_page"), str)):
        found.append(f"{where}.next_page: a search page's next_page is a string or null")
    for name in sorted(set(value) - {"object", "data", "has_more", "url", "total_count", "next_page"}):
        found.append(f"{where}.{name}: undocumented field of a {kind} object")
    for index, element in enumerate(value.get("data") or []):
        _check(element, item, f"{where}.data[{index}]", found)


def _name(annotation: Any) -> str:
    return getattr(annotation, "__qualname__", None) or str(annotation).replace("typing.", "")


def objects_in(body: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every top-level Stripe object of a reply (a list's or a search's items one by one): (where, object)."""
    if isinstance(body, dict) and body.get("object") in ("list", "search_result"):
        for index, item in enumerate(body.get("data") or []):
            yield from objects_in(item, f"{where}.data[{index}]")
    elif isinstance(body, dict) and isinstance(body.get("object"), str):
        yield where or body["object"], body

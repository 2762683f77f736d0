"""Reading many objects: cursor pagination, `created` filters, the Search API's query language and `expand[]`."""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Callable, Iterable, Optional

from .errors import invalid, missing, validation
from .forms import Params
from .store import Obj, Store

RANGE_OPS = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
LIST_PARAMS = ("limit", "starting_after", "ending_before", "created")


def range_filter(params: Params, name: str = "created") -> Callable[[Obj], bool]:
    """`created=123` or `created[gte]=...&created[lt]=...` as a predicate on the object's field."""
    if name not in params:
        return lambda obj: True
    spec = params.raw[name]
    bounds = spec if isinstance(spec, dict) else {"eq": spec}
    checks = []
    for op, text in bounds.items():
        if op not in RANGE_OPS and op != "eq":
            raise validation(f"Received unknown parameter: {name}[{op}]", "parameter_unknown", f"{name}[{op}]")
        if not isinstance(text, str) or not re.fullmatch(r"\d+", text):
            raise validation(f"Invalid integer: {text}", "parameter_invalid_integer", f"{name}[{op}]")
        checks.append((RANGE_OPS.get(op, int.__eq__), int(text)))
    return lambda obj: all(compare(obj[name], bound) for compare, bound in checks)


def paginate(params: Params, objects: Iterable[Obj], url: str, render: Callable[[Obj], Obj]) -> dict[str, Any]:
    """One page of a newest-first list, the way Stripe cuts it around `starting_after` / `ending_before`."""
    limit = params.int("limit", default=10, low=1, high=100)
    after, before = params.str("starting_after"), params.str("ending_before")
    if after and before:
        raise invalid("You may only specify one of these parameters: starting_after, ending_before.")
    items = list(objects)
    ids = [obj["id"] for obj in items]
    if after or before:
        cursor = after or before
        if cursor not in ids:
            raise missing(cursor, "starting_after" if after else "ending_before")
        at = ids.index(cursor)
        if after:
            page, has_more = items[at + 1: at + 1 + limit], len(items) > at + 1 + limit
        else:
            page, has_more = items[max(0, at - limit): at], at - limit > 0
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": [render(obj) for obj in page], "has_more": has_more, "url": url}


_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?(?:metadata\[(?P<q>['"])(?P<key>.+?)(?P=q)\]|(?P<field>[a-z_]+))\s*"""
    r"""(?P<op>:|~|>=|<=|>|<)\s*(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|null)\s*""")
_JOINER = re.compile(r"(AND|OR)\s+")


def parse_query(text: str, fields: set[str]) -> Callable[[Obj], bool]:
    """Compile a Search API query (`email:'a@b.c' AND metadata['k']:'v'`) into a predicate.

    Like Stripe: `:` is a case-insensitive exact match, `~` a substring match (3+ characters), comparisons are
    numeric, `-` negates, `null` tests absence, and AND and OR cannot be mixed in one query.
    """
    clauses, joiners, position = [], set(), 0
    while True:
        found = _CLAUSE.match(text, position)
        if not found:
            raise invalid(f"Invalid query: could not parse `{text[position:]}`. See "
                          "https://docs.stripe.com/search#search-query-language", param="query", saved=False)
        clauses.append(_clause(found, fields))
        position = found.end()
        if position == len(text):
            break
        joiner = _JOINER.match(text, position)
        if not joiner:
            raise invalid(f"Invalid query: expected AND or OR at `{text[position:]}`.", param="query", saved=False)
        joiners.add(joiner.group(1))
        position = joiner.end()
    if len(joiners) > 1:
        raise invalid("Invalid query: AND and OR cannot be combined in one query.", param="query", saved=False)
    combine = any if joiners == {"OR"} else all
    return lambda obj: combine(clause(obj) for clause in clauses)


def _clause(found: re.Match[str], fields: set[str]) -> Callable[[Obj], bool]:
    field, key, op, raw = found["field"], found["key"], found["op"], found["value"]
    if field and field not in fields:
        raise invalid(f"Invalid query: `{field}` is not a supported search field. Supported fields: "
                      f"{', '.join(sorted(fields | {'metadata'}))}.", param="query", saved=False)
    target: Any = None if raw == "null" else raw[1:-1].replace("\\'", "'").replace('\\"', '"') \
        if raw[0] in "'\"" else float(raw)
    if op == "~" and (not isinstance(target, str) or len(target) < 3):
        raise invalid("Invalid query: substring matches (`~`) need at least 3 characters.", param="query",
                      saved=False)

    def read(obj: Obj) -> Any:
        return (obj.get("metadata") or {}).get(key) if key else obj.get(field)

    def test(obj: Obj) -> bool:
        value = read(obj)
        if target is None:
            return value is None
        if value is None:
            return False
        if op == ":":
            if isinstance(target, float):
                return _number(value) == target
            return str(value).lower() == target.lower()
        if op == "~":
            return target.lower() in str(value).lower()
        number = _number(value)
        return number is not None and _NUMERIC[op](number, _number(target))

    return (lambda obj: not test(obj)) if found["neg"] else test


_NUMERIC = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}


def _number(value: Any) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def search(params: Params, snapshots: list[Obj], fields: set[str], url: str) -> dict[str, Any]:
    matches = parse_query(params.str("query", required=True) or "", fields)
    limit = params.int("limit", default=10, low=1, high=100)
    offset = _decode_page(params.str("page")) if "page" in params else 0
    found = [obj for obj in snapshots if matches(obj)]
    page = found[offset: offset + limit]
    has_more = len(found) > offset + limit
    result = {"object": "search_result", "data": page, "has_more": has_more, "url": url,
              "next_page": _encode_page(offset + limit) if has_more else None}
    if "total_count" in params.expand:
        result["total_count"] = len(found)
    return result


def _encode_page(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_page(token: Optional[str]) -> int:
    try:
        return int(json.loads(base64.urlsafe_b64decode((token or "").encode()))["offset"])
    except (ValueError, KeyError, TypeError) as error:
        raise validation("Invalid page: the token does not come from a previous search.",
                         "parameter_invalid_string", "page") from error


def expand(store: Store, obj: Obj, paths: list[str]) -> Obj:
    """Replace id references named by `expand[]` (e.g. `customer`, `data.customer`) with the objects."""
    for path in paths:
        if path == "total_count":
            continue
        _expand_path(store, obj, path.split("."), path)
    return obj


def _expand_path(store: Store, node: Any, parts: list[str], path: str) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict) and node.get("object") in ("list", "search_result") and head == "data":
        for item in node["data"]:
            if rest:
                _expand_path(store, item, rest, path)
        return
    include = store.includable.get((str(node.get("object")), head)) if isinstance(node, dict) else None
    if include is not None and head not in node:
        node[head] = include(node)  # a field only returned when expanded: adding it is its expansion
        if not rest:
            return
    value = node.get(head) if isinstance(node, dict) else None
    if rest:
        if isinstance(value, dict):
            _expand_path(store, value, rest, path)
        return
    if isinstance(value, str) and store.find(value) is not None:
        node[head] = store.render(store.find(value))
    elif not isinstance(value, dict) and value is not None:
        raise invalid(f"This property cannot be expanded ({path}).", param="expand", saved=False)

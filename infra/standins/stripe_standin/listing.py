"""List objects (`limit`, `starting_after`, `ending_before`), the Search API, `expand[]`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from . import errors, forms
from .store import LABELS, Store, kind_of, snapshot

Obj = dict[str, Any]


def created_filter(items: list[Obj], params: Mapping[str, Any], name: str = "created") -> list[Obj]:
    value = params.get(name)
    if value is None or value == "":
        return items
    if isinstance(value, str):
        exact = forms.opt_int(params, name)
        return [obj for obj in items if obj.get(name) == exact]
    if not isinstance(value, dict):
        raise errors.invalid("Invalid object", param=name)
    bounds = {op: forms.opt_int(value, op) for op in ("gt", "gte", "lt", "lte")}
    ops: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return [
        obj
        for obj in items
        if all(bound is None or ops[op](obj.get(name) or 0, bound) for op, bound in bounds.items())
    ]


def list_object(items: list[Obj], params: Mapping[str, Any], url: str) -> Obj:
    """A Stripe list object over `items` (already filtered, newest first)."""
    limit = forms.opt_int(params, "limit", 10, minimum=1, maximum=100)
    assert limit is not None
    starting_after = forms.opt_str(params, "starting_after")
    ending_before = forms.opt_str(params, "ending_before")
    ids = [obj["id"] for obj in items]
    if starting_after is not None:
        if starting_after not in ids:
            raise _cursor_missing(starting_after, "starting_after")
        start = ids.index(starting_after) + 1
        page = items[start : start + limit]
        has_more = start + limit < len(items)
    elif ending_before is not None:
        if ending_before not in ids:
            raise _cursor_missing(ending_before, "ending_before")
        end = ids.index(ending_before)
        page = items[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        page = items[:limit]
        has_more = len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def _cursor_missing(obj_id: str, param: str) -> errors.StripeError:
    kind = kind_of(obj_id) or "object"
    return errors.no_such(LABELS.get(kind, kind), obj_id, param=param, status=400)


# ---- Search: `email:'a@b.c' AND metadata['run']:'2024-05'` --------------------------------

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?
    (?P<field>metadata\[(?:'[^']*'|"[^"]*")\]|[A-Za-z_][A-Za-z0-9_.]*)
    \s*(?P<op>:|~|>=|<=|>|<)\s*
    (?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"]+)\s*""",
    re.VERBOSE,
)
_JOINER = re.compile(r"\s+(AND|OR)\s+")


def _field_value(obj: Obj, field: str) -> Any:
    if field.startswith("metadata["):
        return (obj.get("metadata") or {}).get(field[10:-2])
    value: Any = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _clause_predicate(match: re.Match[str]) -> Callable[[Obj], bool]:
    field, op, raw = match["field"], match["op"], match["value"]
    quoted = raw[:1] in ("'", '"')
    text = raw[1:-1].replace("\\'", "'").replace('\\"', '"') if quoted else raw

    def test(obj: Obj) -> bool:
        actual = _field_value(obj, field)
        if op == ":":
            if not quoted and text == "null":
                return actual is None
            if isinstance(actual, bool):
                return str(actual).lower() == text.lower()
            return actual is not None and str(actual) == text
        if op == "~":
            return isinstance(actual, str) and text.lower() in actual.lower()
        try:
            left, right = float(actual), float(text)
        except (TypeError, ValueError):
            return False
        return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op]

    if match["neg"]:
        return lambda obj: not test(obj)
    return test


def parse_query(query: str) -> Callable[[Obj], bool]:
    parts = _JOINER.split(query.strip())
    clauses, joiners = parts[0::2], set(parts[1::2])
    if len(joiners) > 1:
        raise errors.invalid(
            "Search queries cannot mix AND and OR; use one or the other.", param="query"
        )
    predicates = []
    for clause in clauses:
        match = _CLAUSE.fullmatch(clause)
        if not match:
            raise errors.invalid(
                f"We were unable to parse your search query. Near: '{clause.strip()}'",
                param="query",
            )
        predicates.append(_clause_predicate(match))
    if joiners == {"OR"}:
        return lambda obj: any(p(obj) for p in predicates)
    return lambda obj: all(p(obj) for p in predicates)


def search_result(items: list[Obj], params: Mapping[str, Any], url: str) -> Obj:
    query = forms.req_str(params, "query")
    predicate = parse_query(query)
    limit = forms.opt_int(params, "limit", 10, minimum=1, maximum=100)
    assert limit is not None
    page_token = forms.opt_str(params, "page")
    offset = 0
    if page_token is not None:
        if not page_token.startswith("page_") or not page_token[5:].isdigit():
            raise errors.invalid("Invalid page token.", param="page")
        offset = int(page_token[5:])
    matched = [obj for obj in items if predicate(obj)]
    page = matched[offset : offset + limit]
    has_more = offset + limit < len(matched)
    result: Obj = {
        "object": "search_result",
        "data": page,
        "has_more": has_more,
        "next_page": f"page_{offset + limit}" if has_more else None,
        "url": url,
    }
    if "total_count" in forms.expand_paths(params):
        result["total_count"] = len(matched)
    return result


# ---- expand[] -------------------------------------------------------------------------------


def expand(body: Obj, paths: list[str], store: Store) -> Obj:
    """Replace id strings at `paths` (`customer`, `data.customer`, `a.b`) with the objects."""
    paths = [p for p in paths if p != "total_count"]
    if not paths:
        return body
    out = snapshot(body)
    for path in paths:
        if len(path.split(".")) > 4:
            raise errors.invalid(
                f"You cannot expand more than 4 levels of a property. Property: {path}",
                param="expand",
            )
        _expand_at(out, path.split("."), store, path)
    return out


def _expand_at(node: Any, parts: list[str], store: Store, path: str) -> None:
    if isinstance(node, list):
        for item in node:
            _expand_at(item, parts, store, path)
        return
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head not in node:
        raise errors.invalid(f"This property cannot be expanded ({path}).", param="expand")
    value = node[head]
    if isinstance(value, str) and not rest:
        found = store.lookup_any(value)
        if found is None and kind_of(value) is None:
            raise errors.invalid(f"This property cannot be expanded ({path}).", param="expand")
        if found is not None:
            node[head] = snapshot(found)
        return
    if isinstance(value, str) and rest:
        found = store.lookup_any(value)
        if found is not None:
            node[head] = snapshot(found)
            _expand_at(node[head], rest, store, path)
        return
    if rest:
        _expand_at(value, rest, store, path)

"""What "compatible" means between two OpenAPI schemas: the seed's (or a hand-written one) and ours.

Ours may say more than the other (properties, enum values, descriptions, ``anyOf`` with null for the
seed's ``nullable``), never something else: a property's JSON type is the same, a value the other allows
is allowed, a nullable value stays nullable. Each function returns the differences it finds, as text a
failing assertion shows.
"""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/"


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref`` followed (a chain of them, bounded)."""
    for _ in range(20):
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith(REF):
            return schema
        schema = document["components"]["schemas"][ref.removeprefix(REF)]
    raise AssertionError(f"a $ref chain too long at {schema}")


def alternatives(schema: dict[str, Any], document: dict[str, Any]) -> list[dict[str, Any]]:
    """The schemas a value may match: the members of an ``anyOf``/``oneOf``, or the schema itself."""
    schema = resolve(schema, document)
    members = schema.get("anyOf") or schema.get("oneOf")
    if members:
        return [resolve(m, document) for m in members]
    return [schema]


def json_types(schema: dict[str, Any], document: dict[str, Any]) -> set[str]:
    """The JSON types a schema allows ("null" included where it is nullable); empty when it says none."""
    found: set[str] = set()
    for member in alternatives(schema, document):
        kind = member.get("type")
        if isinstance(kind, list):
            found.update(kind)
        elif isinstance(kind, str):
            found.add(kind)
        elif "properties" in member or "$ref" in member:
            found.add("object")
        if member.get("nullable") is True:
            found.add("null")
    return found


def enum_values(schema: dict[str, Any], document: dict[str, Any]) -> list[Any] | None:
    values: list[Any] = []
    for member in alternatives(schema, document):
        if "enum" in member:
            values += member["enum"]
    return values or None


def schema_differences(
    theirs: dict[str, Any],
    ours: dict[str, Any],
    document: dict[str, Any],
    where: str,
    *,
    wider: bool = False,
    depth: int = 0,
) -> list[str]:
    """Where ``ours`` is not compatible with ``theirs`` (properties walked to a few levels). ``wider``:
    ours may allow more JSON types (a request body the server takes in more forms than documented)."""
    problems: list[str] = []
    their_types = json_types(theirs, document)
    our_types = json_types(ours, document)
    # A type the other leaves open may be anything in ours; one it names must be ours, plus null where
    # it allows null. "integer" is a "number" too.
    if their_types and not our_types:
        problems.append(f"{where}: type {sorted(their_types)} documented, ours says no type")
    for kind in their_types - our_types:
        if not (kind == "integer" and "number" in our_types):
            problems.append(f"{where}: allows {kind}, ours {sorted(our_types)}")
    for kind in our_types - their_types - {"null"}:
        if their_types and not wider and not (kind == "integer" and "number" in their_types):
            problems.append(f"{where}: ours allows {kind} too, documented {sorted(their_types)}")
    their_enum = enum_values(theirs, document)
    our_enum = enum_values(ours, document)
    if their_enum is not None:
        if our_enum is None:
            problems.append(f"{where}: enum {their_enum} documented, ours has none")
        else:
            missing = [v for v in their_enum if v not in our_enum]
            if missing:
                problems.append(f"{where}: enum values {missing} missing from ours {our_enum}")
    if depth > 4:
        return problems
    their_props = _properties(theirs, document)
    our_props = _properties(ours, document)
    for name, their_prop in their_props.items():
        if name not in our_props:
            problems.append(f"{where}.{name}: missing")
            continue
        problems += schema_differences(
            their_prop, our_props[name], document, f"{where}.{name}", wider=wider, depth=depth + 1
        )
    their_items = _items(theirs, document)
    our_items = _items(ours, document)
    if their_items is not None and our_items is not None:
        problems += schema_differences(
            their_items, our_items, document, f"{where}[]", wider=wider, depth=depth + 1
        )
    return problems


def _properties(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for member in alternatives(schema, document):
        properties.update(member.get("properties", {}))
    return properties


def _items(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any] | None:
    return next((m["items"] for m in alternatives(schema, document) if "items" in m), None)

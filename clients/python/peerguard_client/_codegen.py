"""Generate `models.py` from the API's OpenAPI document (standard library only).

    python -m peerguard_client._codegen http://127.0.0.1:8000/v1/openapi.json > peerguard_client/models.py

The output is deterministic: the same document gives the same text, so a test can compare the
committed models with what the live document generates today.
"""

from __future__ import annotations

import json
import keyword
import sys
import urllib.request
from typing import Any

REF_PREFIX = "#/components/schemas/"
SKIP = {"ErrorEnvelope"}  # the error envelope is modelled by peerguard_client.errors
RESERVED = {"model_config", "model_fields", "schema", "json", "dict", "copy", "validate", "construct", "parse_obj"}

HEADER = '''"""Models of the peerguard API, generated from its OpenAPI document. Do not edit by hand.

Regenerate: python -m peerguard_client._codegen URL_OF_OPENAPI_JSON > peerguard_client/models.py
"""
# API version {version}

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict{field_import}


class ApiModel(BaseModel):
    """Unknown fields are kept (the API adds fields within a major version)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)'''


def type_of(schema: dict[str, Any]) -> str:
    """The Python annotation of one JSON schema."""
    if "$ref" in schema:
        return str(schema["$ref"]).removeprefix(REF_PREFIX)
    if "const" in schema:
        return f"Literal[{schema['const']!r}]"
    if "enum" in schema:
        return "Literal[" + ", ".join(repr(v) for v in schema["enum"]) + "]"
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            parts = [type_of(part) for part in schema[combinator]]
            return " | ".join(dict.fromkeys(parts))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(type_of({**schema, "type": k}) for k in kind)
    if kind == "string":
        return {"date-time": "_dt.datetime", "date": "_dt.date", "uuid": "UUID"}.get(schema.get("format", ""), "str")
    if kind == "integer":
        return "int"
    if kind == "number":
        return "float"
    if kind == "boolean":
        return "bool"
    if kind == "null":
        return "None"
    if kind == "array":
        return f"list[{type_of(schema.get('items', {}))}]"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return f"dict[str, {type_of(extra)}]"
        return "dict[str, Any]"
    return "Any"


def field_line(name: str, schema: dict[str, Any], required: bool) -> str:
    annotation = type_of(schema)
    attr = name
    args: list[str] = []
    if keyword.iskeyword(name) or name in RESERVED or name.startswith("model_"):
        attr = f"{name}_"
        args.append(f"alias={name!r}")
    if not required:
        default = schema.get("default")
        # A list or dict default is written as a plain default too: pydantic copies it for every
        # instance, and the field's annotation types it (a lambda would be typed list[str]).
        args.insert(0, f"default={default!r}")
        if default is None and "None" not in annotation.split(" | "):
            annotation += " | None"
    if schema.get("deprecated"):
        args.append('deprecated="deprecated by the API (see its Sunset header)"')
    if not args:
        return f"    {attr}: {annotation}"
    if args == [f"default={schema.get('default')!r}"]:
        return f"    {attr}: {annotation} = {schema.get('default')!r}"
    return f"    {attr}: {annotation} = Field({', '.join(args)})"


def model_source(name: str, schema: dict[str, Any]) -> str:
    lines = [f"class {name}(ApiModel):"]
    description = (schema.get("description") or "").strip().splitlines()
    if description:
        lines.append(f'    """{description[0].replace(chr(34) * 3, "")}"""')
        lines.append("")
    required = set(schema.get("required", []))
    properties: dict[str, Any] = schema.get("properties", {})
    for prop, sub in properties.items():
        lines.append(field_line(prop, sub, prop in required))
    if not properties:
        lines.append("    pass")
    return "\n".join(lines)


def generate(document: dict[str, Any]) -> str:
    """The text of models.py for one OpenAPI document."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    names = sorted(n for n in schemas if n not in SKIP)
    models = [model_source(name, schemas[name]) for name in names]
    header = HEADER.replace("{version}", str(document.get("info", {}).get("version", "?")))
    header = header.replace("{field_import}", ", Field" if any("= Field(" in m for m in models) else "")
    parts = [header, *models]
    parts.append("\n".join(f"{name}.model_rebuild()" for name in names))
    parts.append("__all__ = [\n" + "".join(f"    {name!r},\n" for name in names) + "]")
    return "\n\n\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source = argv[1]
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 - the API's own URL
            document = json.load(response)
    else:
        with open(source, encoding="utf-8") as handle:
            document = json.load(handle)
    sys.stdout.write(generate(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

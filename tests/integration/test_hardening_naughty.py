"""Hostile input: every text field of every request body, every string path/query parameter and every
number field meets a list of naughty strings and numbers (control characters, bidi overrides, emoji,
combining marks, SQL and template injection, huge and non-finite numbers, ...). Each request must end
in a 2xx or a 4xx with the error envelope, never a 5xx; text that is accepted comes back unchanged."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import Api, admin_key, api_client

NAUGHTY_STRINGS: list[str] = [
    "",
    " ",
    "\t\n\r",
    "null", "None", "undefined", "true", "NaN", "-1", "0x41", "1e309",
    "\x00", "a\x00b", "\x07\x1b[31mred\x1b[0m", "\x7f", "\u0085", "\ufeffBOM", "\ufffe\uffff",
    "\u202eevil.exe\u202dgpj", "\u200b\u200c\u200d\u2060", "مرحبا بالعالم", "שלום עולם", "\u200f\u200e",
    "😀", "👨\u200d👩\u200d👧\u200d👦", "🇺🇳🏳\ufe0f\u200d🌈",
    "Z\u0335\u0327\u031b\u0319\u0348a\u0338\u0321\u031bl\u0334\u0359g\u0337o\u0336", "𝕿𝖍𝖊 𝖖𝖚𝖎𝖈𝖐", "ﬁ ＡＢＣ ①",
    "Ω≈ç√∫˜µ≤≥÷", "田中さんにあげて下さい", "사회과학원 어학연구소", "\u202a\u202atest\u202a",
    "'; DROP TABLE agents; --", "1' OR '1'='1", "\" OR \"\"=\"", "admin'--", "%' AND 1=0 UNION SELECT NULL--",
    "$1", "%s%s%s%n", "{0}{1}", "{{7*7}}", "${7*7}", "#{7*7}", "<%= 7*7 %>", "{% debug %}",
    "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "javascript:alert(1)",
    "../../../../etc/passwd", "..\\..\\windows\\win.ini", "file:///etc/passwd", "\\\\server\\share",
    "\r\nSet-Cookie: a=b", "a" * 10_000, "é" * 5_000, "9" * 400, "-" + "9" * 400,
    "\ud800", "\udfff\ud800",
]
NAUGHTY_NUMBERS: list[str] = ["1e309", "-1e309", "1" + "0" * 40, "-" + "1" * 40, "NaN", "Infinity", "-0", "0.1e-400",
                              "\"5\"", "true", "[]", "{}"]

VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/agents"): {"name": "naughty-agent", "kind": "agent", "description": "maps clinics"},
    ("POST", "/v1/submissions"): {
        "kind": "solution", "title": "Rain tanks for the school garden", "domain": "food_security",
        "body": "Install two rain tanks so students can water the food garden; the school nutrition plan "
                "and the farm club grow crops for meals. Budget and a pilot plan are attached.",
    },
}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _options(schema: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema, components)
    return [_resolve(s, components) for s in schema["anyOf"]] if "anyOf" in schema else [schema]


def minimal(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A value the schema accepts: required properties only, the first choice of every union."""
    schema = _options(schema, components)[0]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: minimal(v, components) for k, v in schema.get("properties", {}).items()
                if k in schema.get("required", [])}
    if kind == "array":
        return [minimal(schema["items"], components) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return "3fa85f64-5717-4562-b3fc-2c963f66afa6"
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        return "x" * max(schema.get("minLength", 1), 1)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return low + 1 if "exclusiveMinimum" in schema else low
    if kind == "boolean":
        return False
    return None


def text_fields(schema: dict[str, Any], components: dict[str, Any]) -> list[str]:
    """Top-level properties that take free text (no enum, no format)."""
    found = []
    for name, prop in _resolve(schema, components).get("properties", {}).items():
        if any(o.get("type") == "string" and "enum" not in o and "format" not in o and "const" not in o
               for o in _options(prop, components)):
            found.append(name)
    return found


def number_fields(schema: dict[str, Any], components: dict[str, Any]) -> list[str]:
    return [name for name, prop in _resolve(schema, components).get("properties", {}).items()
            if any(o.get("type") in ("integer", "number") for o in _options(prop, components))]


@pytest.fixture
def world(db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Api, dict[str, str], dict[str, Any]]]:
    from chalicelib.config import reset_settings

    for name in ("RATE_LIMIT_AGENT_PER_MIN", "RATE_LIMIT_HUMAN_PER_MIN", "RATE_LIMIT_ADMIN_PER_MIN",
                 "RATE_LIMIT_REGISTER_PER_MIN", "EVIDENCE_UPLOADS_PER_HOUR", "ATTESTATIONS_PER_HOUR"):
        monkeypatch.setenv(name, "1000000")
    reset_settings()
    with api_client() as api:
        agent, _ = api.register("fuzz-agent")
        human, _ = api.register("fuzz-human", kind="human")
        keys = {"admin": admin_key(), "agent": agent, "human": human}
        yield api, keys, api.get("/v1/openapi.json").body


def _key(auth: str, keys: dict[str, str]) -> str | None:
    return {"admin": keys["admin"], "human": keys["human"], "public": None}.get(auth, keys["agent"])


def _verdict(answer: Any) -> str | None:
    """None when the answer is acceptable: 2xx, or 4xx with our error envelope."""
    if 200 <= answer.status < 300:
        return None
    if 400 <= answer.status < 500 and answer.body.get("ok") is False and answer.body["error"].get("code"):
        return None
    return f"{answer.status} {str(answer.body)[:200]}"


def _path(path: str, value: str = "3fa85f64-5717-4562-b3fc-2c963f66afa6") -> str:
    out = path
    while "{" in out:
        start, end = out.index("{"), out.index("}")
        out = out[:start] + urllib.parse.quote(value, safe="") + out[end + 1:]
    return out


def test_every_text_and_number_field_survives_the_naughty_list(world: Any) -> None:
    from chalicelib.entrypoints.api.framework import ROUTES

    api, keys, doc = world
    components = doc["components"]["schemas"]
    failures: list[str] = []
    requests = 0
    for spec in ROUTES:
        if spec.body is None or spec.media_type != "application/json":
            continue
        schema = components[spec.body.__name__]
        base = VALID_BODIES.get((spec.method, spec.path)) or minimal(schema, components)
        key = _key(spec.auth, keys)
        for field in text_fields(schema, components):
            for value in NAUGHTY_STRINGS:
                # json.dumps keeps lone surrogates as \ud800 escapes: what a hostile client sends
                raw = json.dumps({**base, field: value})
                answer = api.call(spec.method, _path(spec.path), key=key, raw=raw)
                requests += 1
                if (problem := _verdict(answer)) is not None:
                    failures.append(f"{spec.method} {spec.path} {field}={value[:30]!r}: {problem}")
        for field in number_fields(schema, components):
            for number in NAUGHTY_NUMBERS:
                others = json.dumps({k: v for k, v in base.items() if k != field})
                raw = others[:-1] + ("," if len(others) > 2 else "") + f'"{field}": {number}}}'
                answer = api.call(spec.method, _path(spec.path), key=key, raw=raw)
                requests += 1
                if (problem := _verdict(answer)) is not None:
                    failures.append(f"{spec.method} {spec.path} {field}={number}: {problem}")
    assert failures == []
    assert requests > 1000


def test_string_path_and_query_parameters_survive_the_naughty_list(world: Any) -> None:
    from chalicelib.entrypoints.api.framework import ROUTES

    api, keys, _ = world
    failures: list[str] = []
    for spec in ROUTES:
        if spec.method != "GET":
            continue
        key = _key(spec.auth, keys)
        names = list(spec.query.model_fields) if spec.query is not None else []
        for value in NAUGHTY_STRINGS[::3]:
            if "\x00" in value or "\ud800" in value or "\udfff" in value:
                continue  # not representable in a URL the test client builds
            targets = []
            if "{" in spec.path and value.strip():  # an empty segment is another (unknown) route
                targets.append(_path(spec.path, value))
            targets += [f"{_path(spec.path)}?{urllib.parse.urlencode({n: value})}" for n in names]
            for target in targets:
                answer = api.get(target, key=key)
                if answer.status >= 500 or (answer.status >= 400 and answer.body.get("ok") is not False):
                    failures.append(f"GET {target[:80]}: {answer.status}")
    assert failures == []


def test_accepted_hostile_text_comes_back_exactly_as_sent(world: Any, db: str) -> None:
    import psycopg

    api, _, _ = world
    accepted = 0
    for value in NAUGHTY_STRINGS:
        with psycopg.connect(db, autocommit=True) as conn:  # registration is limited to 30 a minute per address
            conn.execute("DELETE FROM rate_limit_windows")
        answer = api.post("/v1/agents", body={"name": "n", "kind": "agent", "description": value})
        if answer.status == 201:
            accepted += 1
            agent_key = answer.data["api_key"]
            assert api.get("/v1/agents/me", key=agent_key).data["description"] == value
        else:
            assert answer.status == 400 and answer.error["code"] == "VALIDATION_ERROR"
            assert any(c in value for c in ("\x00", "\x07", "\x7f", "\u0085", "\ud800", "\udfff")) or len(value) > 2000
    assert accepted >= 40  # emoji, RTL, injection strings and the like are plain text, stored verbatim

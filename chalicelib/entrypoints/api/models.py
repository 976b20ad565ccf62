"""Shared request/response building blocks of the API."""

from __future__ import annotations

import unicodedata
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chalicelib.domain import money


def _clean_text(value: str) -> str:
    """Text we can store and show: valid Unicode without NUL or other C0 controls (tab/newline kept)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    for ch in value:
        if ch in "\t\n\r":
            continue
        if unicodedata.category(ch) == "Cc":
            raise ValueError("text must not contain control characters")
    return value


SafeText = Annotated[str, AfterValidator(_clean_text)]

# Embeddings, overrides and isolates reorder what follows them: in a name or a title they make text read
# differently from what it is ("gnp.exe" shown as "exe.png").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# Letters by category that render as nothing (Hangul fillers, the blank Braille pattern).
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _label_text(value: str) -> str:
    """A name or title: something visible (not only spaces, separators or invisible characters) and no
    bidirectional controls."""
    if any(ch in BIDI_CONTROLS for ch in value):
        raise ValueError("text must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069)")
    if not any(unicodedata.category(ch)[0] in "LNPS" and ch not in BLANK_LETTERS for ch in value):
        raise ValueError("text must contain a visible character, not only spaces")
    return value


Name = Annotated[SafeText, Field(min_length=1, max_length=100), AfterValidator(_label_text)]
Title = Annotated[SafeText, Field(min_length=1, max_length=300), AfterValidator(_label_text)]
Description = Annotated[SafeText, Field(max_length=2000)]
Reason = Annotated[SafeText, Field(min_length=1, max_length=1000)]
# Submission bodies: at most 64 KiB of text.
Body = Annotated[SafeText, Field(min_length=1, max_length=65_536)]


class RequestModel(BaseModel):
    """Bodies: unknown fields are errors and types are strict (no "1" for 1)."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=False)


class ParamsModel(BaseModel):
    """Query and path parameters arrive as strings: lax types, unknown names are errors."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(ParamsModel):
    cursor: Annotated[str, Field(max_length=512, pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class IdPath(ParamsModel):
    id: UUID


class Amount(BaseModel):
    """Credits as an exact decimal string and as integer millicredits."""

    credits: str
    millicredits: int

    @classmethod
    def of(cls, millicredits: int) -> Amount:
        return cls(credits=money.display(millicredits), millicredits=millicredits)

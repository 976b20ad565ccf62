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


Name = Annotated[SafeText, Field(min_length=1, max_length=100)]
Title = Annotated[SafeText, Field(min_length=1, max_length=300)]
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

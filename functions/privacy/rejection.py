"""Why a photo was refused: a machine code for the record and a message safe to show the uploader."""

from __future__ import annotations

from typing import Literal, get_args

RejectionCode = Literal[
    "unsupported_type",  # not a JPEG or PNG by its bytes, whatever it claims to be
    "too_large",  # more bytes than allowed
    "empty",  # no bytes at all
    "corrupt",  # undecodable or inconsistent image data
    "truncated",  # the image data stops before the picture is complete
    "decompression_bomb",  # the header declares more pixels than allowed
    "detector_error",  # face or plate detection failed: the photo cannot be shown unredacted
    "metadata_residue",  # the re-encoded file still carried a metadata block (a bug; never shipped)
    "encode_error",  # the cleaned picture could not be written
    "internal_error",  # anything else went wrong: a bug, never a reason to publish
]

REJECTION_CODES: tuple[RejectionCode, ...] = get_args(RejectionCode)

_MESSAGES: dict[RejectionCode, str] = {
    "unsupported_type": "Only JPEG and PNG photos are accepted.",
    "too_large": "The photo is larger than the upload limit.",
    "empty": "The upload is empty.",
    "corrupt": "The photo could not be read; it may be damaged.",
    "truncated": "The photo is incomplete; the upload may have been cut short.",
    "decompression_bomb": "The photo's dimensions exceed the allowed size.",
    "detector_error": "The photo could not be checked for faces and licence plates.",
    "metadata_residue": "The photo could not be cleaned of its metadata.",
    "encode_error": "The cleaned photo could not be written.",
    "internal_error": "The photo could not be processed.",
}


class PhotoRejected(Exception):
    """The privacy stage refuses a photo; the caller quarantines it and records `code`.

    `message` is safe to show to the uploader: it never contains file content or internals.
    `detail` is for operators' logs and holds no image data or metadata values either.
    """

    def __init__(self, code: RejectionCode, detail: str = "") -> None:
        if code not in _MESSAGES:
            raise ValueError(f"unknown rejection code {code!r}")
        self.code: RejectionCode = code
        self.message = _MESSAGES[code]
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)

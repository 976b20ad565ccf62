"""Envelope encryption of personal columns, and keyed blind indexes for lookups on them.

One interface (`FieldCipher`) over two key sources: AWS KMS in AWS (data keys from
GenerateDataKey, unwrapped with Decrypt) and a local key file under `.local/` for `make run` and
tests. Values are sealed with AES-256-GCM (`cryptography`); each ciphertext is a self-describing
text token that carries the id of the key that wrapped its data key, the wrapped data key itself
and the nonce, so any value can be decrypted (and re-encrypted by the rotation job) on its own:

    enc1:<key id>:<wrapped data key, base64url>:<nonce + ciphertext + tag, base64url>

The column name is bound as associated data: a ciphertext copied into another column does not
decrypt. `cryptography` and boto3 are imported on first use only (Lambda cold start); in Lambda, `cryptography`
comes from the crypto layer (layers/crypto/requirements.txt), not from deployment.zip.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.personal_data import TOKEN_PREFIX

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12
_KMS_CONTEXT = {"purpose": "peerguard-pii"}


class DecryptionError(ValueError):
    """A token that is malformed, names an unknown key, or fails authentication."""


class KeySource(Protocol):
    """Wraps and unwraps data keys under a key-encryption key (KMS or the local key file)."""

    @property
    def current_key_id(self) -> str: ...

    def new_data_key(self) -> tuple[bytes, bytes]:
        """A fresh 256-bit data key: (plaintext, wrapped under the current key)."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        """The plaintext data key of `wrapped`, wrapped under `key_id`."""
        ...

    def index_key(self) -> bytes:
        """The secret of the blind indexes (stable across rotations of the encryption key)."""
        ...


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CryptographyMissing(ImportError):
    """`cryptography` cannot be imported: in Lambda it ships in the crypto layer, not in deployment.zip."""


def _cryptography() -> tuple[type[AESGCM], type[Exception]]:
    """AES-GCM and its authentication failure, imported on first use (not at cold start)."""
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:
        raise CryptographyMissing(
            "personal columns need the `cryptography` package, which Lambda functions get from the crypto "
            "layer (CryptoLayer, layers/crypto/requirements.txt): attach it to this function") from exc
    return AESGCM, InvalidTag


def _aesgcm(key: bytes) -> AESGCM:
    aesgcm, _ = _cryptography()
    return aesgcm(key)


def normalise_for_index(value: str) -> str:
    """What a blind index compares: NFKC, case-folded, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


@dataclass(frozen=True)
class _ParsedToken:
    key_id: str
    wrapped: bytes
    sealed: bytes


def parse_token(token: str) -> _ParsedToken:
    if not token.startswith(TOKEN_PREFIX):
        raise DecryptionError("not an encrypted value")
    parts = token[len(TOKEN_PREFIX):].split(":")
    if len(parts) != 3 or not parts[0]:
        raise DecryptionError("malformed encrypted value")
    try:
        return _ParsedToken(parts[0], _b64d(parts[1]), _b64d(parts[2]))
    except ValueError as exc:
        raise DecryptionError("malformed encrypted value") from exc


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


class FieldCipher:
    """Encrypts and decrypts column values; computes blind indexes. Thread-safe.

    A process generates one data key per key-encryption key and reuses it (one KMS call per cold
    start); unwrapped data keys are cached by their wrapped form, so reading many rows costs one
    KMS Decrypt per distinct data key.
    """

    def __init__(self, keys: KeySource) -> None:
        self._keys = keys
        self._lock = threading.Lock()
        self._current: tuple[str, bytes, bytes] | None = None  # key id, plaintext, wrapped
        self._unwrapped: dict[tuple[str, bytes], bytes] = {}
        self._index_key: bytes | None = None

    @property
    def current_key_id(self) -> str:
        return self._keys.current_key_id

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Seal `plaintext` for the column named by `context` under the current key."""
        key_id, data_key, wrapped = self._data_key()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _aesgcm(data_key).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return f"{TOKEN_PREFIX}{key_id}:{_b64e(wrapped)}:{_b64e(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str) -> str:
        """The plaintext of a token made by `encrypt` for the same context; DecryptionError otherwise."""
        _, invalid_tag = _cryptography()

        parsed = parse_token(token)
        data_key = self._unwrap(parsed.key_id, parsed.wrapped)
        if len(parsed.sealed) <= _NONCE_BYTES:
            raise DecryptionError("malformed encrypted value")
        nonce, sealed = parsed.sealed[:_NONCE_BYTES], parsed.sealed[_NONCE_BYTES:]
        try:
            raw = _aesgcm(data_key).decrypt(nonce, sealed, context.encode("utf-8"))
        except invalid_tag as exc:
            raise DecryptionError("encrypted value failed authentication") from exc
        return raw.decode("utf-8")

    def encrypt_json(self, value: Any, *, context: str) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":")), context=context)

    def decrypt_json(self, token: str, *, context: str) -> Any:
        return json.loads(self.decrypt(token, context=context))

    @staticmethod
    def key_id_of(token: str) -> str:
        """The id of the key a token was encrypted under."""
        return parse_token(token).key_id

    def needs_rotation(self, token: str) -> bool:
        return self.key_id_of(token) != self.current_key_id

    def reencrypt(self, token: str, *, context: str) -> str:
        """The same plaintext sealed under the current key (unchanged if it already is)."""
        if not self.needs_rotation(token):
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)

    def blind_index(self, value: str, *, purpose: str) -> str:
        """A keyed HMAC-SHA256 of the normalised value, per purpose: equal values give equal
        indexes, and without the key an index reveals nothing (no dictionary attack)."""
        if self._index_key is None:
            self._index_key = self._keys.index_key()
        message = purpose.encode("utf-8") + b"\x00" + normalise_for_index(value).encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()[:40]

    def _data_key(self) -> tuple[str, bytes, bytes]:
        key_id = self._keys.current_key_id
        with self._lock:
            current = self._current
            if current is None or current[0] != key_id:
                data_key, wrapped = self._keys.new_data_key()
                current = self._current = (key_id, data_key, wrapped)
                self._unwrapped[(key_id, wrapped)] = data_key
            return current

    def _unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        cached = self._unwrapped.get((key_id, wrapped))
        if cached is not None:
            return cached
        data_key = self._keys.unwrap(key_id, wrapped)
        with self._lock:
            if len(self._unwrapped) > 1024:  # bounded: a flood of distinct data keys cannot grow memory
                self._unwrapped.clear()
            self._unwrapped[(key_id, wrapped)] = data_key
        return data_key


# --- the local key file --------------------------------------------------------------------


class LocalKeyFile:
    """Key-encryption keys in a JSON file (created on first use, mode 0600) for local mode and tests.

    {"current": "local-2", "keys": {"local-1": "<base64>", "local-2": "<base64>"}, "index_key": "<base64>"}
    Old keys stay in the file so that values not yet rotated still decrypt.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            with self._lock:
                if self._data is None:
                    if not self.path.exists():
                        self._write({"current": "local-1", "keys": {"local-1": _b64e(secrets.token_bytes(32))},
                                     "index_key": _b64e(secrets.token_bytes(32))}, exclusive=True)
                    self._data = json.loads(self.path.read_text())
        assert self._data is not None
        return self._data

    def _write(self, data: dict[str, Any], *, exclusive: bool = False) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        if exclusive:
            # two processes creating the file at once: the first one wins, both read it
            with contextlib.suppress(FileExistsError):
                os.link(temporary, self.path)
            os.unlink(temporary)
        else:
            os.replace(temporary, self.path)

    @property
    def current_key_id(self) -> str:
        return str(self._load()["current"])

    def key_ids(self) -> list[str]:
        return list(self._load()["keys"])

    def rotate(self) -> str:
        """Add a new key-encryption key and make it current; returns its id."""
        data = dict(self._load())
        keys = dict(data["keys"])
        number = max(int(k.rsplit("-", 1)[1]) for k in keys) + 1
        key_id = f"local-{number}"
        keys[key_id] = _b64e(secrets.token_bytes(32))
        data.update(keys=keys, current=key_id)
        with self._lock:
            self._write(data)
            self._data = data
        return key_id

    def _kek(self, key_id: str) -> bytes:
        encoded = self._load()["keys"].get(key_id)
        if encoded is None:
            raise DecryptionError(f"unknown key id {key_id!r}")
        return _b64d(encoded)

    def new_data_key(self) -> tuple[bytes, bytes]:
        data_key = secrets.token_bytes(32)
        key_id = self.current_key_id
        nonce = os.urandom(_NONCE_BYTES)
        return data_key, nonce + _aesgcm(self._kek(key_id)).encrypt(nonce, data_key, key_id.encode())

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        _, invalid_tag = _cryptography()

        try:
            return _aesgcm(self._kek(key_id)).decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], key_id.encode())
        except (invalid_tag, ValueError) as exc:
            raise DecryptionError("data key failed authentication") from exc

    def index_key(self) -> bytes:
        return _b64d(self._load()["index_key"])


# --- AWS KMS -------------------------------------------------------------------------------


class KmsKeySource:
    """Data keys from AWS KMS (GenerateDataKey / Decrypt with an encryption context).

    The key id stored with each value is `kms-<KMS key id>`; pointing PII_KMS_KEY_ARN at a new KMS
    key and running the rotation job moves every value to it (KMS's own yearly rotation of the key
    material needs no re-encryption). The blind-index secret comes from Secrets Manager.
    """

    def __init__(self, key_arn: str, *, region: str, index_key: bytes | None = None,
                 index_secret: Any = None, client: Any = None) -> None:
        self.key_arn = key_arn
        self._region = region
        self._client = client
        self._index_key = index_key
        self._index_secret = index_secret  # a callable returning the secret text, read on first use
        self._current: str | None = None

    def _kms(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("kms", region_name=self._region)
        return self._client

    @property
    def current_key_id(self) -> str:
        if self._current is None:
            described = self._kms().describe_key(KeyId=self.key_arn)
            self._current = "kms-" + described["KeyMetadata"]["KeyId"]
        return self._current

    def new_data_key(self) -> tuple[bytes, bytes]:
        answer = self._kms().generate_data_key(KeyId=self.key_arn, KeySpec="AES_256",
                                               EncryptionContext=_KMS_CONTEXT)
        return bytes(answer["Plaintext"]), bytes(answer["CiphertextBlob"])

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        if not key_id.startswith("kms-"):
            raise DecryptionError(f"unknown key id {key_id!r}")
        try:
            answer = self._kms().decrypt(CiphertextBlob=wrapped, KeyId=key_id[len("kms-"):],
                                         EncryptionContext=_KMS_CONTEXT)
        except Exception as exc:  # botocore's ClientError family: invalid blob, wrong key, no access
            raise DecryptionError("KMS could not unwrap the data key") from exc
        return bytes(answer["Plaintext"])

    def index_key(self) -> bytes:
        if self._index_key is None:
            if self._index_secret is None:
                raise RuntimeError("no blind-index secret configured (PII_INDEX_SECRET_ARN)")
            text = str(self._index_secret())
            self._index_key = hashlib.sha256(text.encode("utf-8")).digest()
        return self._index_key

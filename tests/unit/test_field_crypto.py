"""Envelope encryption of personal columns: AES-GCM tokens that carry their key id, bound to their
column, rotated to a new key without loss; keyed blind indexes. Local key file and moto's KMS."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.field_crypto import (
    CryptographyMissing,
    DecryptionError,
    FieldCipher,
    KmsKeySource,
    LocalKeyFile,
)
from chalicelib.domain.personal_data import TOKEN_PREFIX


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[FieldCipher, LocalKeyFile]]:
    keys = LocalKeyFile(tmp_path / "keys" / "data-key")
    yield FieldCipher(keys), keys


@pytest.fixture
def kms() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


def test_a_value_round_trips_and_its_token_names_the_key(local: tuple[FieldCipher, LocalKeyFile]) -> None:
    cipher, keys = local
    token = cipher.encrypt("Ana María Pérez", context="agents.name_enc")
    assert token.startswith(f"{TOKEN_PREFIX}local-1:")
    assert "Ana" not in token
    assert cipher.key_id_of(token) == keys.current_key_id == "local-1"
    assert cipher.decrypt(token, context="agents.name_enc") == "Ana María Pérez"


def test_the_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data-key"
    token = FieldCipher(LocalKeyFile(path)).encrypt("x", context="c")
    assert path.stat().st_mode & 0o777 == 0o600
    assert FieldCipher(LocalKeyFile(path)).decrypt(token, context="c") == "x"


def test_a_token_moved_to_another_column_or_tampered_with_does_not_decrypt(
        local: tuple[FieldCipher, LocalKeyFile]) -> None:
    cipher, _ = local
    token = cipher.encrypt("secret", context="submission_originals.title")
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, context="submission_originals.body")
    head, tail = token.rsplit(":", 1)
    flipped = tail[:-2] + ("A" if tail[-2] != "A" else "B") + tail[-1]
    with pytest.raises(DecryptionError):
        cipher.decrypt(f"{head}:{flipped}", context="submission_originals.title")
    for bad in ("plain text", "enc1:", "enc1:local-1:AAAA", "enc1:nokey:AAAA:AAAA", "enc1:local-1:!!:??"):
        with pytest.raises(DecryptionError):
            cipher.decrypt(bad, context="submission_originals.title")


def test_the_same_value_encrypts_differently_each_time(local: tuple[FieldCipher, LocalKeyFile]) -> None:
    cipher, _ = local
    assert cipher.encrypt("same", context="c") != cipher.encrypt("same", context="c")


def test_rotation_moves_values_to_the_new_key_and_old_values_still_decrypt(
        local: tuple[FieldCipher, LocalKeyFile]) -> None:
    cipher, keys = local
    old = cipher.encrypt("before rotation", context="c")
    new_id = keys.rotate()
    assert new_id == "local-2" and cipher.current_key_id == "local-2"
    assert cipher.needs_rotation(old)
    assert cipher.decrypt(old, context="c") == "before rotation"
    fresh = cipher.reencrypt(old, context="c")
    assert cipher.key_id_of(fresh) == "local-2" and not cipher.needs_rotation(fresh)
    assert cipher.reencrypt(fresh, context="c") == fresh
    # a second process reading the rotated file sees both keys
    other = FieldCipher(LocalKeyFile(keys.path))
    assert other.decrypt(old, context="c") == other.decrypt(fresh, context="c") == "before rotation"


def test_blind_index_is_keyed_normalised_and_per_purpose(tmp_path: Path) -> None:
    one = FieldCipher(LocalKeyFile(tmp_path / "a"))
    two = FieldCipher(LocalKeyFile(tmp_path / "b"))
    index = one.blind_index("Ana  María", purpose="human_name")
    assert index == one.blind_index("ana maría", purpose="human_name")
    assert index != one.blind_index("ana maria", purpose="human_name")
    assert index != one.blind_index("Ana María", purpose="rate_limit")
    assert index != two.blind_index("Ana María", purpose="human_name")  # another key, another index


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300), context=st.text(min_size=1, max_size=40))
def test_any_text_round_trips_under_any_context(tmp_path_factory: pytest.TempPathFactory, text: str,
                                                context: str) -> None:
    cipher = _shared_cipher(tmp_path_factory)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates are not text a column can hold
    token = cipher.encrypt(text, context=context)
    assert cipher.decrypt(token, context=context) == text


_CIPHERS: dict[str, FieldCipher] = {}


def _shared_cipher(factory: pytest.TempPathFactory) -> FieldCipher:
    if "c" not in _CIPHERS:
        _CIPHERS["c"] = FieldCipher(LocalKeyFile(factory.mktemp("prop") / "k"))
    return _CIPHERS["c"]


def test_kms_envelope_round_trip_and_rotation_to_a_new_kms_key(kms: Any) -> None:
    first = kms.create_key(Description="pii")["KeyMetadata"]
    second = kms.create_key(Description="pii next")["KeyMetadata"]
    calls: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(kms, name)

    cipher = FieldCipher(KmsKeySource(first["Arn"], region="us-east-1", index_key=b"k" * 32, client=Counting()))
    tokens = [cipher.encrypt(f"value {i}", context="evidence.location_enc") for i in range(20)]
    assert cipher.key_id_of(tokens[0]) == f"kms-{first['KeyId']}"
    assert calls.count("generate_data_key") == 1  # one data key per process, not one per value
    reader = FieldCipher(KmsKeySource(first["Arn"], region="us-east-1", index_key=b"k" * 32, client=kms))
    assert [reader.decrypt(t, context="evidence.location_enc") for t in tokens] == [f"value {i}" for i in range(20)]

    rotated = FieldCipher(KmsKeySource(second["Arn"], region="us-east-1", index_key=b"k" * 32, client=kms))
    assert rotated.needs_rotation(tokens[0])
    fresh = rotated.reencrypt(tokens[0], context="evidence.location_enc")
    assert rotated.key_id_of(fresh) == f"kms-{second['KeyId']}"
    assert rotated.decrypt(fresh, context="evidence.location_enc") == "value 0"


def test_kms_refuses_a_wrapped_key_that_is_not_its_own(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    cipher = FieldCipher(KmsKeySource(key["Arn"], region="us-east-1", index_key=b"k" * 32, client=kms))
    token = cipher.encrypt("x", context="c")
    _, key_id, _wrapped, sealed = token.split(":")
    with pytest.raises(DecryptionError):
        cipher.decrypt(f"enc1:{key_id}:QUFBQUFBQUFBQUFB:{sealed}", context="c")


def test_without_cryptography_sealing_fails_naming_the_layer_that_brings_it(
    local: tuple[FieldCipher, LocalKeyFile], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a function deployed without the crypto layer (None in sys.modules makes the import fail)
    cipher, _ = local
    token = cipher.encrypt("Ana María Pérez", context="agents.name_enc")
    for module in ("cryptography.exceptions", "cryptography.hazmat.primitives.ciphers.aead"):
        monkeypatch.setitem(sys.modules, module, None)
    # Then sealing and opening say what is missing and where it comes from
    for attempt in (lambda: cipher.encrypt("x", context="agents.name_enc"),
                    lambda: cipher.decrypt(token, context="agents.name_enc")):
        with pytest.raises(CryptographyMissing, match="crypto layer"):
            attempt()

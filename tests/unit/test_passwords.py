from __future__ import annotations

import argon2
import pytest

from core.passwords import PasswordHasher


def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8 * 1024)


def test_hash_is_argon2id_and_verifies() -> None:
    hasher = _hasher()
    hashed = hasher.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert hasher.verify(hashed, "correct horse")
    assert not hasher.verify(hashed, "wrong horse")


def test_unknown_account_never_verifies_even_with_the_dummy_password() -> None:
    hasher = _hasher()
    assert not hasher.verify(None, "roomcast-dummy-password")
    assert not hasher.verify(None, "anything")


def test_malformed_hash_is_a_mismatch_not_an_error() -> None:
    assert not _hasher().verify("not-a-hash", "pw")


def test_needs_rehash_when_parameters_grow() -> None:
    weak = _hasher().hash("pw")
    assert PasswordHasher(time_cost=3, memory_cost=8 * 1024).needs_rehash(weak)
    assert not _hasher().needs_rehash(weak)


async def test_async_variants_agree() -> None:
    hasher = _hasher()
    hashed = await hasher.hash_async("pw-async")
    assert await hasher.verify_async(hashed, "pw-async")
    assert not await hasher.verify_async(hashed, "nope")
    assert not await hasher.verify_async(None, "pw-async")


def test_the_unknown_account_hash_costs_what_a_real_one_does() -> None:
    # Nothing is hashed to make it, and verifying against it is a whole Argon2 verification.
    hasher = PasswordHasher()
    real = argon2.extract_parameters(hasher.hash("pw"))
    assert argon2.extract_parameters(hasher._dummy) == real
    assert not hasher.needs_rehash(hasher._dummy)
    with pytest.raises(argon2.exceptions.VerifyMismatchError):  # checked, not refused as malformed
        argon2.PasswordHasher().verify(hasher._dummy, "roomcast-dummy-password")

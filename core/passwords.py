"""Password hashing with Argon2id, and a constant-work answer for unknown accounts."""

from __future__ import annotations

import asyncio
import base64
import os

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import ARGON2_VERSION

from core.errors import Unauthorized

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


class InvalidCredentials(Unauthorized):
    """One answer for an unknown email, a wrong password and a deactivated account."""

    code = "invalid_credentials"
    default_message = "invalid email or password"


class PasswordHasher:
    def __init__(self, *, time_cost: int = 2, memory_cost: int = 19 * 1024) -> None:
        # OWASP's minimum Argon2id profile: 19 MiB, 2 passes.
        self._argon = _Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
        # Verifying against this hash costs what a real one does, so an unknown email
        # takes as long as a wrong password.
        self._dummy = _unmatchable(self._argon)

    def hash(self, password: str) -> str:
        return self._argon.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._argon.verify(password_hash or self._dummy, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon.check_needs_rehash(password_hash)

    async def hash_async(self, password: str) -> str:
        # Argon2 is CPU-bound by design: keep it off the event loop.
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self.verify, password_hash, password)


def _unmatchable(argon: _Argon2) -> str:
    """A well-formed Argon2id hash at the hasher's own cost that no password matches (random
    salt, random hash): verifying against it hashes the password as a real verification does,
    and making it hashes nothing (a hash here was CPU every start-up spent before serving)."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    return (f"$argon2id$v={ARGON2_VERSION}$m={argon.memory_cost},t={argon.time_cost},"
            f"p={argon.parallelism}${b64(os.urandom(argon.salt_len))}"
            f"${b64(os.urandom(argon.hash_len))}")

"""Issuing and verifying access and refresh JWTs, with pinned algorithms and key rotation."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyTypeError, JoseError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import Key, KeySet, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from core.errors import ConfigError, TokenExpired, Unauthorized
from core.ids import new_id
from core.settings import Settings

TokenType = Literal["access", "refresh"]


class Ed25519Algorithm(JWSAlgModel):
    """The fully-specified `Ed25519` JWS algorithm of RFC 9864.

    RFC 9864 deprecates the polymorphic `EdDSA` name (joserfc warns on every use of it), so
    `JWT_ALGORITHM=EdDSA` signs with `alg: Ed25519` and verification accepts only that.
    """

    name = "Ed25519"
    description = "EdDSA using the Ed25519 curve"
    key_type = "OKP"

    def sign(self, msg: bytes, key: Any) -> bytes:
        op_key = key.get_op_key("sign")
        if not isinstance(op_key, Ed25519PrivateKey):
            raise InvalidKeyTypeError("Algorithm 'Ed25519' requires an Ed25519 private key")
        return op_key.sign(msg)

    def verify(self, msg: bytes, sig: bytes, key: Any) -> bool:
        op_key = key.get_op_key("verify")
        if not isinstance(op_key, Ed25519PublicKey):
            raise InvalidKeyTypeError("Algorithm 'Ed25519' requires an Ed25519 public key")
        try:
            op_key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True


class _TokenRegistry(JWSRegistry):
    # A copy, so adding Ed25519 here leaves joserfc's shared default registry untouched.
    algorithms = {**JWSRegistry.algorithms, "Ed25519": Ed25519Algorithm()}


def jws_algorithm(setting: str) -> str:
    """The `alg` header value used for a JWT_ALGORITHM setting."""
    return "Ed25519" if setting == "EdDSA" else setting


class TokenReused(Unauthorized):
    """A rotated refresh token came back: it was copied, so its whole family is revoked."""

    code = "token_reused"
    default_message = "this refresh token was already used; the session has been revoked"


class TokenRevoked(Unauthorized):
    code = "token_revoked"
    default_message = "the session has been revoked"


@dataclass(frozen=True)
class Claims:
    sub: str
    role: str
    typ: TokenType
    jti: str
    iat: int
    exp: int
    family: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: Claims


def _load_private(settings: Settings) -> Key:
    if settings.jwt_algorithm == "HS256":
        return OctKey.import_key(settings.jwt_secret.get_secret_value(), {"kid": settings.jwt_kid})
    path = settings.jwt_private_key_file or Path()
    return _import_pem(path, "JWT_PRIVATE_KEY_FILE", settings.jwt_algorithm, settings.jwt_kid)


def _load_previous(settings: Settings) -> Key | None:
    # Settings has checked that a previous key comes with its own kid, of the right kind.
    kid = settings.jwt_previous_kid
    if not kid:
        return None
    if settings.jwt_algorithm == "HS256":
        if settings.jwt_previous_secret is None:
            return None
        return OctKey.import_key(settings.jwt_previous_secret.get_secret_value(), {"kid": kid})
    if settings.jwt_previous_public_key_file is None:
        return None
    return _import_pem(settings.jwt_previous_public_key_file, "JWT_PREVIOUS_PUBLIC_KEY_FILE",
                       settings.jwt_algorithm, kid)


_KEY_KIND = {"RS256": "RSA", "EdDSA": "Ed25519"}


def _import_pem(path: Path, setting: str, algorithm: str, kid: str) -> Key:
    """A PEM key for `algorithm`, or a ConfigError naming the setting and what is wrong."""
    key_type = RSAKey if algorithm == "RS256" else OKPKey
    try:
        key = key_type.import_key(path.read_bytes(), {"kid": kid})
    except OSError as exc:
        raise ConfigError(f"{setting}={path} cannot be read: {exc.strerror}") from exc
    except (ValueError, JoseError) as exc:
        raise ConfigError(f"{setting}={path} is not a PEM {_KEY_KIND[algorithm]} key "
                          f"(JWT_ALGORITHM={algorithm})") from exc
    if isinstance(key, OKPKey) and key.curve_name != "Ed25519":
        raise ConfigError(f"{setting}={path} is an {key.curve_name} key: JWT_ALGORITHM=EdDSA "
                          "needs an Ed25519 key")
    return key


LEEWAY_SECONDS = 5  # clock skew allowed on `exp` and `iat`
VERIFIED_CACHE_SIZE = 4096  # verified tokens remembered (a few hundred bytes each)


class TokenService:
    """Signs with the current key; verifies with the current or the previous one (by `kid`)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._algorithm = jws_algorithm(settings.jwt_algorithm)
        # Pinned: a token whose header names any other algorithm (`none`, HS256 on an RS256
        # server) is refused before its signature is looked at.
        self._registry = _TokenRegistry(algorithms=[self._algorithm])
        self._signing_key = _load_private(settings)
        keys = [self._signing_key]
        previous = _load_previous(settings)
        if previous is not None:
            keys.append(previous)
        self._verify_keys = KeySet(keys)
        # Built once per token type: joserfc reads the clock at each validation, not here.
        self._claims = {kind: self._claims_registry(kind) for kind in ("access", "refresh")}
        # Tokens whose signature and claims were verified, with their claims: a token shown
        # again (a reconnect, another tab of the same browser) skips the decoding and the
        # signature; its expiry is checked on every use. Bounded; the oldest use leaves first.
        self._verified: OrderedDict[str, Claims] = OrderedDict()
        self._hmac_keys = _hmac_headers(self._algorithm, keys, self._registry)

    def _claims_registry(self, typ: TokenType) -> jwt.JWTClaimsRegistry:
        return jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": self._settings.jwt_issuer},
            aud={"essential": True, "value": self._settings.jwt_audience},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
            typ={"essential": True, "value": typ},
        )

    def issue(
        self, *, sub: str, role: str, typ: TokenType, family: str | None = None
    ) -> IssuedToken:
        ttl = (
            self._settings.access_token_ttl_seconds
            if typ == "access"
            else self._settings.refresh_token_ttl_seconds
        )
        now = int(time.time())
        claims = Claims(sub=sub, role=role, typ=typ, jti=new_id(), iat=now, exp=now + ttl,
                        family=family)
        payload: dict[str, Any] = {
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "sub": sub,
            "role": role,
            "typ": typ,
            "jti": claims.jti,
            "iat": claims.iat,
            "exp": claims.exp,
        }
        if family is not None:
            payload["fam"] = family
        header = {"alg": self._algorithm, "kid": self._signing_key.kid, "typ": "JWT"}
        token = jwt.encode(header, payload, self._signing_key, registry=self._registry)
        return IssuedToken(token, claims)

    def verify(self, token: str, *, typ: TokenType) -> Claims:
        """Return the claims of a valid token of type `typ`, or raise Unauthorized/TokenExpired."""
        known = self._verified.get(token)
        if known is not None and known.typ == typ:
            # The same test joserfc makes: expired once `exp` is at or before now - leeway.
            if known.exp <= int(time.time()) - LEEWAY_SECONDS:
                del self._verified[token]
                raise TokenExpired()
            self._verified.move_to_end(token)
            return known
        claims = self._decode(token, typ)
        self._verified[token] = claims
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    def _decode(self, token: str, typ: TokenType) -> Claims:
        try:
            c = self._signed_here(token)
            if c is None:
                c = jwt.decode(token, self._verify_keys, registry=self._registry).claims
            self._claims[typ].validate(c)
        except ExpiredTokenError as exc:
            raise TokenExpired() from exc
        except (JoseError, ValueError, TypeError) as exc:
            raise Unauthorized("invalid token") from exc
        return Claims(
            sub=str(c["sub"]), role=str(c.get("role", "member")), typ=typ, jti=str(c["jti"]),
            iat=int(c["iat"]), exp=int(c["exp"]), family=c.get("fam"),
        )

    def _signed_here(self, token: str) -> dict[str, Any] | None:
        """The payload of an HS256 token whose header is, byte for byte, one this service
        writes (`_hmac_headers`), whose segments are canonical base64url and whose HMAC-SHA256
        matches; None for any other token, which joserfc's `jwt.decode` then decides.

        For the tokens it answers, this is what `jwt.decode` computes: that header names the
        pinned algorithm and the key by its `kid`, the signature is over the same two segments,
        and joserfc's decoder would read the same bytes from canonical segments. It skips
        joserfc's header parsing, registry checks and key lookup, three quarters of a
        verification's CPU; the claims are still validated by joserfc's registry.
        `tests/unit/test_token_fast_path.py` compares the two on random and altered
        tokens."""
        head, _, rest = token.partition(".")
        key = self._hmac_keys.get(head)
        if key is None:
            return None
        payload, dot, signature = rest.partition(".")
        if not dot:
            return None
        body, mac = _canonical_b64url(payload), _canonical_b64url(signature)
        if body is None or mac is None:
            return None
        signed = f"{head}.{payload}".encode("ascii")  # canonical segments are ASCII
        if not hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), mac):
            return None
        try:
            claims = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return claims if type(claims) is dict else None


def _hmac_headers(algorithm: str, keys: list[Key], registry: JWSRegistry) -> dict[str, bytes]:
    """For HS256: the header segment `issue` writes for each verification key, with the key's
    bytes. Made by joserfc's own encoder, so a token of ours carries exactly one of them."""
    if algorithm != "HS256":
        return {}
    found: dict[str, bytes] = {}
    for key in keys:
        if isinstance(key, OctKey):
            header = {"alg": algorithm, "kid": key.kid, "typ": "JWT"}
            sample = jwt.encode(header, {}, key, registry=registry)
            found[sample.partition(".")[0]] = key.get_op_key("verify")
    return found


def _canonical_b64url(segment: str) -> bytes | None:
    """The bytes of an unpadded base64url segment, or None unless it is exactly how those bytes
    encode (no padding, nothing outside the alphabet, no stray bits in the last character)."""
    if not segment.isascii() or "=" in segment:
        return None
    try:
        data = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_",
                                validate=True)
    except binascii.Error:
        return None
    if base64.urlsafe_b64encode(data).rstrip(b"=") != segment.encode("ascii"):
        return None
    return data

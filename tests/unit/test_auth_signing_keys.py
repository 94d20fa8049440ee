"""RS256 and EdDSA signing with key files, rotation by kid, and algorithm confusion."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from joserfc import jwt
from joserfc.jwk import OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from core.errors import TokenExpired, Unauthorized
from core.tokens import TokenService

# A registry that takes every algorithm joserfc knows: what verification would be unpinned.
UNPINNED = JWSRegistry(algorithms=list(JWSRegistry.algorithms))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _write_keys(directory: Path, name: str, private: Any) -> tuple[Path, Path]:
    private_path = directory / f"{name}.pem"
    public_path = directory / f"{name}.pub.pem"
    private_path.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    public_path.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo,
    ))
    return private_path, public_path


def _rsa(directory: Path, name: str) -> tuple[Path, Path]:
    return _write_keys(directory, name, rsa.generate_private_key(65537, 2048))


def _ed25519(directory: Path, name: str) -> tuple[Path, Path]:
    return _write_keys(directory, name, ed25519.Ed25519PrivateKey.generate())


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    padded = segment + "=" * (-len(segment) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


def test_rs256_round_trip(tmp_path: Path, make_settings: Any) -> None:
    private, _ = _rsa(tmp_path, "k1")
    tokens = TokenService(make_settings(jwt_algorithm="RS256", jwt_private_key_file=private))
    issued = tokens.issue(sub="u1", role="member", typ="access")
    assert _header(issued.token) == {"alg": "RS256", "kid": "k1", "typ": "JWT"}
    assert tokens.verify(issued.token, typ="access").sub == "u1"


def test_eddsa_signs_as_fully_specified_ed25519_without_warnings(
    tmp_path: Path, make_settings: Any
) -> None:
    # filterwarnings=error: joserfc's "EdDSA is deprecated" SecurityWarning would fail this.
    private, _ = _ed25519(tmp_path, "k1")
    tokens = TokenService(make_settings(jwt_algorithm="EdDSA", jwt_private_key_file=private))
    issued = tokens.issue(sub="u1", role="head", typ="refresh", family="f")
    assert _header(issued.token)["alg"] == "Ed25519"
    claims = tokens.verify(issued.token, typ="refresh")
    assert (claims.sub, claims.role, claims.family) == ("u1", "head", "f")


def test_rs256_rotation_accepts_previous_public_key(tmp_path: Path, make_settings: Any) -> None:
    old_private, old_public = _rsa(tmp_path, "old")
    new_private, _ = _rsa(tmp_path, "new")
    old = TokenService(make_settings(jwt_algorithm="RS256", jwt_private_key_file=old_private,
                                     jwt_kid="old"))
    token = old.issue(sub="u1", role="member", typ="access").token
    rotated = TokenService(make_settings(
        jwt_algorithm="RS256", jwt_private_key_file=new_private, jwt_kid="new",
        jwt_previous_public_key_file=old_public, jwt_previous_kid="old",
    ))
    assert rotated.verify(token, typ="access").sub == "u1"
    without_previous = TokenService(make_settings(
        jwt_algorithm="RS256", jwt_private_key_file=new_private, jwt_kid="new"))
    with pytest.raises(Unauthorized):
        without_previous.verify(token, typ="access")


def test_eddsa_rotation_accepts_previous_public_key(tmp_path: Path, make_settings: Any) -> None:
    old_private, old_public = _ed25519(tmp_path, "old")
    new_private, _ = _ed25519(tmp_path, "new")
    old = TokenService(make_settings(jwt_algorithm="EdDSA", jwt_private_key_file=old_private,
                                     jwt_kid="old"))
    token = old.issue(sub="u1", role="member", typ="access").token
    rotated = TokenService(make_settings(
        jwt_algorithm="EdDSA", jwt_private_key_file=new_private, jwt_kid="new",
        jwt_previous_public_key_file=old_public, jwt_previous_kid="old",
    ))
    assert rotated.verify(token, typ="access").sub == "u1"


def test_hs256_signed_with_the_public_key_fails_on_rs256_server(
    tmp_path: Path, make_settings: Any
) -> None:
    private, public = _rsa(tmp_path, "k1")
    server = TokenService(make_settings(jwt_algorithm="RS256", jwt_private_key_file=private))
    payload = server.issue(sub="u1", role="admin", typ="access").token.split(".")[1]
    header = _b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(public.read_bytes(), signing_input, hashlib.sha256).digest())
    with pytest.raises(Unauthorized):
        server.verify(f"{header}.{payload}.{signature}", typ="access")


@pytest.mark.parametrize(("algorithm", "forged_alg"), [
    ("RS256", "RS512"), ("RS256", "PS256"),
    # RFC 9864's deprecated polymorphic name for the very same Ed25519 signature.
    ("EdDSA", "EdDSA"),
])
def test_the_same_key_under_another_algorithm_fails(
    tmp_path: Path, make_settings: Any, algorithm: str, forged_alg: str
) -> None:
    private, _ = (_rsa if algorithm == "RS256" else _ed25519)(tmp_path, "k1")
    tokens = TokenService(make_settings(jwt_algorithm=algorithm, jwt_private_key_file=private))
    genuine = tokens.issue(sub="u1", role="admin", typ="access").token
    payload = genuine.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    key = (RSAKey if algorithm == "RS256" else OKPKey).import_key(private.read_bytes(),
                                                                   {"kid": "k1"})
    with warnings.catch_warnings():  # joserfc warns that the name `EdDSA` is deprecated
        warnings.simplefilter("ignore")
        forged = jwt.encode({"alg": forged_alg, "kid": "k1", "typ": "JWT"}, claims, key,
                            registry=UNPINNED)
        # Correctly signed by the server's own key: an unpinned verifier accepts it ...
        assert jwt.decode(forged, key, registry=UNPINNED).claims["sub"] == "u1"
    # ... and only the pinned algorithm refuses it.
    with pytest.raises(Unauthorized):
        tokens.verify(forged, typ="access")


def test_token_of_another_key_type_fails(tmp_path: Path, make_settings: Any) -> None:
    ed_private, _ = _ed25519(tmp_path, "ed")
    rsa_private, _ = _rsa(tmp_path, "rsa")
    ed_token = TokenService(make_settings(jwt_algorithm="EdDSA", jwt_private_key_file=ed_private))
    rs_server = TokenService(make_settings(jwt_algorithm="RS256", jwt_private_key_file=rsa_private))
    hs_server = TokenService(make_settings())
    token = ed_token.issue(sub="u1", role="member", typ="access").token
    for server in (rs_server, hs_server):
        with pytest.raises(Unauthorized):
            server.verify(token, typ="access")


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_alg_none_fails_with_key_files(
    algorithm: str, tmp_path: Path, make_settings: Any
) -> None:
    private, _ = (_rsa if algorithm == "RS256" else _ed25519)(tmp_path, "k1")
    tokens = TokenService(make_settings(jwt_algorithm=algorithm, jwt_private_key_file=private))
    payload = tokens.issue(sub="u1", role="admin", typ="access").token.split(".")[1]
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    with pytest.raises(Unauthorized):
        tokens.verify(f"{header}.{payload}.", typ="access")


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
def test_tampered_payload_fails_with_key_files(
    algorithm: str, tmp_path: Path, make_settings: Any
) -> None:
    private, _ = (_rsa if algorithm == "RS256" else _ed25519)(tmp_path, "k1")
    tokens = TokenService(make_settings(jwt_algorithm=algorithm, jwt_private_key_file=private))
    token = tokens.issue(sub="u1", role="member", typ="access").token
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = _b64(json.dumps(claims).encode())
    with pytest.raises(Unauthorized):
        tokens.verify(f"{header}.{forged}.{signature}", typ="access")


def test_wrong_issuer_and_audience_fail_with_key_files(tmp_path: Path, make_settings: Any) -> None:
    private, _ = _rsa(tmp_path, "k1")
    base = {"jwt_algorithm": "RS256", "jwt_private_key_file": private}
    server = TokenService(make_settings(**base))
    for other in ({"jwt_audience": "elsewhere"}, {"jwt_issuer": "someone"}):
        token = TokenService(make_settings(**base, **other)).issue(
            sub="u1", role="member", typ="access").token
        with pytest.raises(Unauthorized):
            server.verify(token, typ="access")


def test_expired_rs256_token_says_expired(
    tmp_path: Path, make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, _ = _rsa(tmp_path, "k1")
    tokens = TokenService(make_settings(jwt_algorithm="RS256", jwt_private_key_file=private,
                                        access_token_ttl_seconds=10))
    token = tokens.issue(sub="u1", role="member", typ="access").token
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    with pytest.raises(TokenExpired):
        tokens.verify(token, typ="access")

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from joserfc.jws import JWSRegistry

from core.errors import TokenExpired, Unauthorized
from core.settings import Settings
from core.tokens import TokenService

# A registry that takes every algorithm joserfc knows: what verification would be unpinned.
UNPINNED = JWSRegistry(algorithms=list(JWSRegistry.algorithms))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_access_token_round_trip(settings: Settings) -> None:
    tokens = TokenService(settings)
    issued = tokens.issue(sub="u1", role="member", typ="access")
    claims = tokens.verify(issued.token, typ="access")
    assert (claims.sub, claims.role, claims.jti) == ("u1", "member", issued.claims.jti)


def test_refresh_token_is_not_an_access_token(settings: Settings) -> None:
    tokens = TokenService(settings)
    issued = tokens.issue(sub="u1", role="member", typ="refresh", family="f1")
    with pytest.raises(Unauthorized):
        tokens.verify(issued.token, typ="access")
    assert tokens.verify(issued.token, typ="refresh").family == "f1"


def test_alg_none_is_refused(settings: Settings) -> None:
    tokens = TokenService(settings)
    payload = tokens.issue(sub="u1", role="admin", typ="access").token.split(".")[1]
    with pytest.raises(Unauthorized):
        tokens.verify(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.", typ="access")


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return claims


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_the_same_secret_under_another_hmac_algorithm_is_refused(
    settings: Settings, algorithm: str
) -> None:
    tokens = TokenService(settings)
    genuine = tokens.issue(sub="u1", role="admin", typ="access").token
    key = OctKey.import_key(settings.jwt_secret.get_secret_value(), {"kid": settings.jwt_kid})
    header = {"alg": algorithm, "kid": settings.jwt_kid, "typ": "JWT"}
    forged = jwt.encode(header, _claims(genuine), key, registry=UNPINNED)
    # Well formed and correctly signed: an unpinned verifier accepts it ...
    assert jwt.decode(forged, key, registry=UNPINNED).claims["sub"] == "u1"
    # ... and only the pinned algorithm refuses it.
    with pytest.raises(Unauthorized):
        tokens.verify(forged, typ="access")


def test_wrong_audience_is_refused(make_settings: object) -> None:
    issuer = TokenService(make_settings(jwt_audience="someone-else"))  # type: ignore[operator]
    verifier = TokenService(make_settings())  # type: ignore[operator]
    token = issuer.issue(sub="u1", role="member", typ="access").token
    with pytest.raises(Unauthorized):
        verifier.verify(token, typ="access")


def test_expired_token_says_so(make_settings: object) -> None:
    tokens = TokenService(make_settings(access_token_ttl_seconds=10))  # type: ignore[operator]
    token = tokens.issue(sub="u1", role="member", typ="access").token
    later = TokenService(make_settings(access_token_ttl_seconds=10))  # type: ignore[operator]
    import time

    real = time.time
    time.time = lambda: real() + 60  # type: ignore[assignment]
    try:
        with pytest.raises(TokenExpired):
            later.verify(token, typ="access")
    finally:
        time.time = real  # type: ignore[assignment]


def test_tampered_token_is_refused(settings: Settings) -> None:
    tokens = TokenService(settings)
    header, _, signature = tokens.issue(sub="u1", role="member", typ="access").token.split(".")
    forged = _b64({"sub": "u1", "role": "admin", "typ": "access", "iss": "roomcast",
                   "aud": "roomcast", "exp": 9999999999, "iat": 1, "jti": "x"})
    with pytest.raises(Unauthorized):
        tokens.verify(f"{header}.{forged}.{signature}", typ="access")


def test_previous_key_still_verifies_after_rotation(make_settings: object) -> None:
    old = TokenService(make_settings(jwt_secret="a" * 40, jwt_kid="old"))  # type: ignore[operator]
    token = old.issue(sub="u1", role="member", typ="access").token
    rotated = TokenService(make_settings(  # type: ignore[operator]
        jwt_secret="b" * 40, jwt_kid="new", jwt_previous_secret="a" * 40, jwt_previous_kid="old"
    ))
    assert rotated.verify(token, typ="access").sub == "u1"
    unrelated = TokenService(make_settings(jwt_secret="b" * 40, jwt_kid="new"))  # type: ignore[operator]
    with pytest.raises(Unauthorized):
        unrelated.verify(token, typ="access")


def test_a_token_verified_before_still_expires(
    make_settings: object, monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = TokenService(make_settings(access_token_ttl_seconds=10))  # type: ignore[operator]
    token = tokens.issue(sub="u1", role="member", typ="access").token
    assert tokens.verify(token, typ="access").sub == "u1"  # verified, and remembered
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 60)
    with pytest.raises(TokenExpired):
        tokens.verify(token, typ="access")


def test_a_remembered_access_token_is_still_no_refresh_token(settings: Settings) -> None:
    tokens = TokenService(settings)
    token = tokens.issue(sub="u1", role="member", typ="access").token
    tokens.verify(token, typ="access")
    with pytest.raises(Unauthorized):
        tokens.verify(token, typ="refresh")
    assert tokens.verify(token, typ="access").sub == "u1"


def test_remembered_tokens_are_bounded(settings: Settings,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import core.tokens

    monkeypatch.setattr(core.tokens, "VERIFIED_CACHE_SIZE", 3)
    tokens = TokenService(settings)
    issued = [tokens.issue(sub=f"u{n}", role="member", typ="access").token for n in range(5)]
    for token in issued:
        tokens.verify(token, typ="access")
    assert list(tokens._verified) == issued[2:]  # the oldest uses left first
    # Still verified in full when shown again, then remembered.
    assert tokens.verify(issued[0], typ="access").sub == "u0"
    assert list(tokens._verified) == [*issued[3:], issued[0]]

"""`TokenService._signed_here`, the HS256 verification that skips joserfc's header handling,
against joserfc's `jwt.decode` on the same tokens: for every token, issued, signed otherwise
or altered, the service's answer (the claims, expired, or refused) is the one it gives with
the fast path turned off, and the tokens it issues do take the fast path."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import TokenExpired, Unauthorized
from core.settings import Settings
from core.tokens import Claims, TokenService

OLD_SECRET, NEW_SECRET, STRANGER = "a" * 40, "b" * 40, "c" * 40


def rotated(make_settings: Any) -> Settings:
    return make_settings(jwt_secret=NEW_SECRET, jwt_kid="new",  # type: ignore[no-any-return]
                         jwt_previous_secret=OLD_SECRET, jwt_previous_kid="old")


class Pair:
    """The service as it runs, and the same service with every token left to joserfc."""

    def __init__(self, config: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fast = TokenService(config)
        self.reference = TokenService(config)
        monkeypatch.setattr(self.reference, "_signed_here", lambda token: None)
        self.taken: Counter[bool] = Counter()
        real = self.fast._signed_here

        def counted(token: str) -> dict[str, Any] | None:
            found = real(token)
            self.taken[found is not None] += 1
            return found

        monkeypatch.setattr(self.fast, "_signed_here", counted)

    def compare(self, token: str, typ: str = "access") -> Claims | str:
        fast, reference = answer(self.fast, token, typ), answer(self.reference, token, typ)
        assert fast == reference, token
        return fast


def answer(service: TokenService, token: str, typ: Any) -> Claims | str:
    try:
        return service._decode(token, typ)
    except TokenExpired:
        return "expired"
    except Unauthorized as exc:
        return f"unauthorized: {exc}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(service: TokenService) -> dict[str, Any]:
    """The payload of an access token the service issues."""
    token = service.issue(sub="u1", role="member", typ="access").token
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return claims


def test_issued_tokens_take_the_fast_path_and_read_alike(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = Pair(rotated(make_settings), monkeypatch)
    for n in range(50):
        access = pair.fast.issue(sub=f"u{n}", role="admin" if n % 2 else "member",
                                 typ="access")
        refresh = pair.fast.issue(sub=f"u{n}", role="member", typ="refresh", family=f"f{n}")
        assert pair.compare(access.token) == access.claims
        assert pair.compare(refresh.token, "refresh") == refresh.claims
        assert pair.compare(access.token, "refresh").startswith("unauthorized")
    assert pair.taken == Counter({True: 150})


def test_a_token_of_the_previous_key_takes_the_fast_path(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = TokenService(make_settings(jwt_secret=OLD_SECRET, jwt_kid="old"))
    token = old.issue(sub="u1", role="member", typ="access")
    pair = Pair(rotated(make_settings), monkeypatch)
    assert pair.compare(token.token) == token.claims
    assert pair.taken == Counter({True: 1})
    stranger = TokenService(make_settings(jwt_secret=STRANGER, jwt_kid="new"))
    assert pair.compare(stranger.issue(sub="u1", role="member", typ="access").token) == (
        "unauthorized: invalid token")
    assert pair.taken[True] == 1  # a signature that does not match is joserfc's to refuse


def test_other_algorithms_have_no_fast_path(tmp_path: Any) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = tmp_path / "ed25519.pem"
    pem.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    service = TokenService(Settings(_env_file=None, env="test", jwt_algorithm="EdDSA",
                                    jwt_private_key_file=pem, data_dir=tmp_path))
    token = service.issue(sub="u1", role="member", typ="access").token
    assert service._signed_here(token) is None
    assert service.verify(token, typ="access").sub == "u1"


def signed(claims: dict[str, Any], secret: str, header: dict[str, Any], spaced: bool) -> str:
    """A JWS written by hand, so headers joserfc would not write are signed as well."""
    separators = (", ", ": ") if spaced else (",", ":")
    head = b64(json.dumps(header, separators=separators).encode())
    body = b64(json.dumps(claims, separators=separators).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384}[header["alg"]]
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{b64(mac)}"


HEADERS = [
    {"typ": "JWT", "alg": "HS256", "kid": "new"},  # what `issue` writes
    {"typ": "JWT", "alg": "HS256", "kid": "old"},
    {"alg": "HS256", "kid": "new", "typ": "JWT"},  # the same fields in another order
    {"alg": "HS256", "kid": "new"},
    {"typ": "JWT", "alg": "HS256", "kid": "other"},
    {"typ": "JWT", "alg": "HS256"},
    {"typ": "JWT", "alg": "HS384", "kid": "new"},
    {"typ": "JWT", "alg": "HS256", "kid": "new", "crit": ["exp"]},
    {"typ": "JWT", "alg": "HS256", "kid": "new", "x": 1},
]
class Later(int):
    """Seconds from the moment a token is made (resolved then, so no claim sits near a
    boundary of the clock however long the run has taken to get there)."""


CLAIM_CHANGES: list[dict[str, Any]] = [
    {},
    {"exp": Later(-60)},
    {"exp": Later(60)},
    {"exp": ...},
    {"sub": ...},
    {"jti": ...},
    {"iat": Later(3600)},
    {"iat": "1"},
    {"iat": True},
    {"exp": 1.5e12},
    {"nbf": Later(3600)},
    {"iss": "someone"},
    {"aud": ["roomcast", "other"]},
    {"aud": "other"},
    {"typ": "refresh"},
    {"sub": 7},
    {"role": None},
    {"fam": "f"},
    {"extra": {"a": [1, 2]}},
]


def alter(token: str, how: int, at: int, char: str) -> str:
    """One of several edits of a token's text at position `at`."""
    at %= len(token) + 1
    edits = [
        lambda: token[:at] + char + token[at + 1:],  # one character replaced
        lambda: token[:at] + char + token[at:],  # one inserted
        lambda: token[:at] + token[at + 1:],  # one dropped
        lambda: token + "=",
        lambda: token.replace("-", "+").replace("_", "/"),
        lambda: token + "." + token.split(".")[1],
        lambda: token.rsplit(".", 1)[0],
        lambda: token[:at],
        lambda: " " + token,
        lambda: stray_bits(token, at),
    ]
    return edits[how % len(edits)]()


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def stray_bits(token: str, n: int) -> str:
    """The token with its signature's last character changed in the bits that encode nothing
    (a 32-byte HMAC-SHA256 leaves two): the same signature bytes, written non-canonically."""
    value = ALPHABET.find(token[-1])
    if value < 0:
        return token
    return token[:-1] + ALPHABET[(value & ~3) | (n % 3 + 1 + (value & 3)) % 4]


CHARS = st.sampled_from(list("AQgw-_+/=.é \x00") + [chr(c) for c in range(0x41, 0x5b)])


def test_random_and_altered_tokens_are_answered_alike(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch, long_form: bool,
) -> None:
    pair = Pair(rotated(make_settings), monkeypatch)
    base = claims_of(pair.fast)

    @settings(max_examples=3000 if long_form else 300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    # Half the headers are the two this service writes (one per key), so that the fast
    # path meets every claim change and edit, signed with the key named or a stranger's.
    @given(header=st.one_of(st.sampled_from(HEADERS[:2]), st.sampled_from(HEADERS)),
           change=st.sampled_from(CLAIM_CHANGES),
           stranger=st.booleans(),
           edit=st.one_of(st.none(), st.tuples(st.integers(0, 9), st.integers(0, 400), CHARS)),
           typ=st.sampled_from(["access", "refresh"]),
           spaced=st.sampled_from([False, False, False, True]))
    def check(header: dict[str, Any], change: dict[str, Any], stranger: bool,
              edit: tuple[int, int, str] | None, typ: str, spaced: bool) -> None:
        claims = {**base}
        now = int(time.time())
        for name, value in change.items():
            if value is ...:
                claims.pop(name, None)
            else:
                claims[name] = now + value if isinstance(value, Later) else value
        # The key the header names, or one the service does not know.
        secret = STRANGER if stranger else OLD_SECRET if header.get("kid") == "old" else NEW_SECRET
        token = signed(claims, secret, header, spaced)
        if edit is not None:
            token = alter(token, *edit)
        pair.compare(token, typ)

    check()
    # Both kinds were met: tokens the fast path answered, and tokens left to joserfc.
    assert pair.taken[True] >= 10 and pair.taken[False] > 100, pair.taken


@pytest.mark.parametrize("text", [
    "", ".", "..", "a.b.c", "a.b.c.d", "e30.e30.", "e30.e30.e30", "é.é.é", "\x00",
])
def test_malformed_tokens_are_refused_alike(
    text: str, make_settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = Pair(rotated(make_settings), monkeypatch)
    assert pair.compare(text).startswith("unauthorized")
    head = pair.fast.issue(sub="u1", role="member", typ="access").token.split(".")[0]
    assert pair.compare(f"{head}.{text}").startswith("unauthorized")


def test_a_signature_with_stray_bits_is_refused_alike(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    pair = Pair(rotated(make_settings), monkeypatch)
    token = pair.fast.issue(sub="u1", role="member", typ="access").token
    for n in range(3):
        altered = stray_bits(token, n)
        assert altered != token
        mac = altered.rsplit(".", 1)[1]
        assert base64.urlsafe_b64decode(mac + "=") == base64.urlsafe_b64decode(
            token.rsplit(".", 1)[1] + "=")  # the same bytes ...
        assert pair.compare(altered).startswith("unauthorized")  # ... and refused by both

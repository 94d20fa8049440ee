"""Settings refuse, at start-up and saying why, what would fail later in silence: a key
rotation that cannot verify the tokens signed before it, a production secret left at its
default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

import roomcast.serve
from core.errors import ConfigError
from core.settings import polling_enabled
from core.tokens import TokenService
from roomcast.cli import main

OLD, NEW = "o" * 40, "n" * 40


def _pem(path: Path, private: Any) -> Path:
    path.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def _private_pem(path: Path) -> Path:
    path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return path


@pytest.mark.parametrize(("overrides", "says"), [
    ({"jwt_previous_secret": OLD}, "JWT_PREVIOUS_SECRET needs JWT_PREVIOUS_KID"),
    ({"jwt_previous_secret": OLD, "jwt_previous_kid": ""}, "needs JWT_PREVIOUS_KID"),
    ({"jwt_previous_secret": OLD, "jwt_kid": "k1", "jwt_previous_kid": "k1"},
     "JWT_PREVIOUS_KID and JWT_KID are both 'k1'"),
    ({"jwt_previous_kid": "old"}, "JWT_PREVIOUS_KID is set but JWT_PREVIOUS_SECRET is not"),
    ({"jwt_previous_public_key_file": "old.pub.pem", "jwt_previous_kid": "old"},
     "JWT_PREVIOUS_PUBLIC_KEY_FILE does not apply to JWT_ALGORITHM=HS256"),
])
def test_hs256_rotation_without_a_distinct_previous_kid_is_refused(
    make_settings: Any, overrides: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        make_settings(jwt_secret=NEW, **overrides)


@pytest.mark.parametrize(("overrides", "says"), [
    ({"jwt_previous_public_key_file": "old.pub.pem"},
     "JWT_PREVIOUS_PUBLIC_KEY_FILE needs JWT_PREVIOUS_KID"),
    ({"jwt_previous_public_key_file": "old.pub.pem", "jwt_kid": "k2", "jwt_previous_kid": "k2"},
     "JWT_PREVIOUS_KID and JWT_KID are both 'k2'"),
    ({"jwt_previous_kid": "old"},
     "JWT_PREVIOUS_KID is set but JWT_PREVIOUS_PUBLIC_KEY_FILE is not"),
    ({"jwt_previous_secret": OLD, "jwt_previous_kid": "old"},
     "JWT_PREVIOUS_SECRET does not apply to JWT_ALGORITHM=EdDSA"),
])
def test_key_file_rotation_without_a_distinct_previous_kid_is_refused(
    make_settings: Any, tmp_path: Path, overrides: dict[str, Any], says: str
) -> None:
    private = _private_pem(tmp_path / "new.pem")
    with pytest.raises(ConfigError, match=says):
        make_settings(jwt_algorithm="EdDSA", jwt_private_key_file=private, **overrides)


def test_a_well_formed_rotation_is_accepted(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings(jwt_secret=NEW, jwt_kid="new", jwt_previous_secret=OLD,
                             jwt_previous_kid="old")
    assert settings.jwt_previous_kid == "old"
    private = _private_pem(tmp_path / "new.pem")
    public = _pem(tmp_path / "old.pub.pem", ed25519.Ed25519PrivateKey.generate())
    TokenService(make_settings(jwt_algorithm="EdDSA", jwt_private_key_file=private,
                               jwt_kid="new", jwt_previous_public_key_file=public,
                               jwt_previous_kid="old"))


def test_previous_key_files_that_are_missing_or_of_another_kind_are_refused(
    make_settings: Any, tmp_path: Path
) -> None:
    private = _private_pem(tmp_path / "new.pem")
    base = {"jwt_algorithm": "EdDSA", "jwt_private_key_file": private, "jwt_kid": "new",
            "jwt_previous_kid": "old"}
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    ed448_key = _pem(tmp_path / "ed448.pub.pem", ed448.Ed448PrivateKey.generate())
    cases = [(tmp_path / "missing.pem", "missing.pem cannot be read"),
             (garbage, "garbage.pem is not a PEM Ed25519 key"),
             (ed448_key, "is an Ed448 key: JWT_ALGORITHM=EdDSA needs an Ed25519 key")]
    for path, says in cases:
        settings = make_settings(**base, jwt_previous_public_key_file=path)
        with pytest.raises(ConfigError, match=says):
            TokenService(settings)


@pytest.fixture
def no_serving(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Should the settings be accepted, `roomcast serve` returns at once instead of serving."""
    monkeypatch.setattr(roomcast.serve, "serve", lambda settings, **_: 0)
    monkeypatch.chdir(tmp_path)  # no .env file of the developer's


@pytest.mark.usefixtures("no_serving")
def test_the_cli_refuses_to_start_naming_the_setting_not_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_SECRET", NEW)
    monkeypatch.setenv("JWT_PREVIOUS_SECRET", "the-old-secret-" + "s" * 30)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("roomcast: refusing to start: JWT_PREVIOUS_SECRET needs "
                          "JWT_PREVIOUS_KID"), err
    assert "the-old-secret" not in err and NEW not in err


@pytest.mark.usefixtures("no_serving")
def test_production_refuses_the_default_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENV", "production")
    assert main(["serve"]) == 2
    assert "ENV=production refuses the default JWT_SECRET" in capsys.readouterr().err


def test_a_key_file_that_cannot_be_read_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Found only as the services are built: the CLI still refuses to start, saying which file.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_PRIVATE_KEY_FILE", str(tmp_path / "missing.pem"))
    monkeypatch.setenv("JWT_PUBLIC_KEY_FILE", str(tmp_path / "missing.pub.pem"))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"roomcast: refusing to start: JWT_PRIVATE_KEY_FILE="
                          f"{tmp_path / 'missing.pem'} cannot be read"), err


@pytest.mark.parametrize(("env", "polling"), [
    ({}, True),  # one process on the embedded default: the official client's defaults work
    ({"redis_url": "redis://127.0.0.1:1/0"}, False),  # several processes: no sticky sessions
    ({"redis_url": "redis://127.0.0.1:1/0", "socket_allow_polling": True}, True),
    ({"socket_allow_polling": False}, False),
])
def test_long_polling_by_default_on_a_single_process(make_settings: Any, env: dict[str, Any],
                                                     polling: bool) -> None:
    assert polling_enabled(make_settings(**env)) is polling

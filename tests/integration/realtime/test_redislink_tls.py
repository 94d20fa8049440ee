"""The Redis link over TLS trusts what the operator told redis-py to trust, and nothing else."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from core.errors import ServiceUnavailable
from realtime.redislink import RedisAddress, RedisLink
from tests.support.services import free_port, wait_until


@dataclass
class TlsRedis:
    port: int
    ca: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _certificates(where: Path) -> None:
    """A private CA, and a certificate it signed for 127.0.0.1 and localhost, with the
    extensions Python 3.13's strict verification asks for."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
             "/CN=roomcast test CA", "-keyout", str(where / "ca.key"),
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash",
             "-out", str(where / "ca.pem"))
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", str(where / "redis.key"), "-out", str(where / "redis.csr"))
    (where / "san.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n")
    _openssl("x509", "-req", "-in", str(where / "redis.csr"), "-CA", str(where / "ca.pem"),
             "-CAkey", str(where / "ca.key"), "-CAcreateserial", "-days", "1",
             "-extfile", str(where / "san.ext"), "-out", str(where / "redis.pem"))


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("openssl") is None:
        pytest.fail("redis-server and openssl are needed: apt-get install redis-server openssl")
    _certificates(tmp_path)
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(tmp_path / "redis.pem"), "--tls-key-file",
         str(tmp_path / "redis.key"), "--tls-ca-cert-file", str(tmp_path / "ca.pem"),
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = sync_redis.Redis(port=port, ssl=True, ssl_ca_certs=str(tmp_path / "ca.pem"))
        wait_until(client.ping, what="redis-server over TLS")
        client.close()
        yield TlsRedis(port, tmp_path / "ca.pem")
    finally:
        proc.kill()
        proc.wait(10)


async def test_the_link_trusts_the_ca_given_to_redis_py(tls_redis: TlsRedis) -> None:
    url = f"rediss://127.0.0.1:{tls_redis.port}/0?ssl_ca_certs={tls_redis.ca}"
    link = RedisLink(RedisAddress.of(Redis.from_url(url)))
    try:
        assert await link.call("SET", "over", "tls") == b"OK"
        assert await link.call("GET", "over") == b"tls"
    finally:
        await link.close()


async def test_the_link_refuses_a_certificate_nobody_said_to_trust(tls_redis: TlsRedis) -> None:
    link = RedisLink(RedisAddress.of(Redis.from_url(f"rediss://127.0.0.1:{tls_redis.port}/0")))
    try:
        with pytest.raises(ServiceUnavailable):
            await link.call("PING")
    finally:
        await link.close()

"""Upload names as clients send them: control characters and path parts dropped on the way
in, and every stored name downloadable with a valid Content-Disposition."""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx
import pytest

from tests.integration.workers.conftest import Member

BOUNDARY = "roomcastboundary7d1f"


def _raw_upload_body(filename: bytes, content: bytes) -> bytes:
    # Written by hand: httpx percent-encodes control characters in names, browsers and
    # scripts do not always.
    return (f"--{BOUNDARY}\r\n".encode()
            + b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
            + b"Content-Type: text/csv\r\n\r\n" + content
            + f"\r\n--{BOUNDARY}--\r\n".encode())


@pytest.mark.parametrize(("sent", "stored"), [
    (b"rep\x07ort\x1b[31m.csv", "report[31m.csv"),
    (b"..\\..\\windows\\evil\x00.csv", "evil.csv"),
    (b"/etc/cron.d/x.csv", "x.csv"),
    ("caf\u00e9 \u202ecsv.txt".encode(), "caf\u00e9 csv.txt"),  # a bidi override dropped
    ("d\u00e9j\u00e0\u2028vu.csv".encode(), "d\u00e9j\u00e0vu.csv"),
])
async def test_names_are_stored_clean_and_download_with_a_valid_header(
    client: httpx.AsyncClient, member: Member, sent: bytes, stored: str
) -> None:
    content = b"a,b\n1,2\n"
    response = await client.post(
        f"/api/v1/projects/{member.project_id}/uploads",
        content=_raw_upload_body(sent, content),
        headers={**member.headers,
                 "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status_code == 202, response.text
    upload = response.json()["upload"]
    assert upload["filename"] == stored
    got = await client.get(f"/api/v1/uploads/{upload['id']}/content", headers=member.headers)
    assert got.status_code == 200 and got.content == content
    header = got.headers["content-disposition"]
    # A header value a server can send: printable ASCII only.
    assert re.fullmatch(r"[\x20-\x7e]+", header), header
    exact = re.search(r"filename\*=UTF-8''(\S+)", header)
    assert exact is not None and unquote(exact.group(1)) == stored

"""Bodies over 1 MiB, and Content-Length headers that lie, at both front doors.

Refused with 413 before any parsing or signature work: an oversized body that is also
unsigned (Slack) or carries a token that is no JWT (Teams) gets 413, not 401. The refusal
comes without waiting for the body: a request that declares 2 MiB and sends 100 bytes is
answered at once, and a chunked one is cut off after 1 MiB. A Content-Length smaller than
the body reads only what it declares; the rest is garbage aiohttp refuses. Never a 500.
"""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import urlsplit

import pytest

from adapters.web.server import MAX_BODY
from storage.repositories import SqlStore
from tests.fuzz.http import counts, watching_failures
from tests.slack_fixtures import SIGNING_SECRET, Spoke
from tests.slack_signing import JSON, dm_event, json_body, slack_signed_headers
from tests.teams_fixtures import TeamsSpoke

OVER = MAX_BODY + 1
STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3}) ", re.MULTILINE)
ANSWER_WITHIN = 5.0  # seconds: far more than a refusal takes, far less than a stalled read


def oversized_json() -> bytes:
    body = json_body(dm_event("U0AMA", "x" * OVER, event_id="EvHuge"))
    assert len(body) > MAX_BODY
    return body


async def test_an_oversized_slack_body_is_refused_before_its_signature_is_checked(spoke: Spoke) -> None:
    before = counts(spoke.store)
    with watching_failures() as failures:
        unsigned = await spoke.post(oversized_json(), signed=False)
        signed = await spoke.post(oversized_json())
        garbage = await spoke.post(b"{" * OVER, signed=False)
    assert (unsigned.status, signed.status, garbage.status) == (413, 413, 413)
    assert json.loads(await unsigned.text()) == {"ok": False, "error": "too_large"}
    assert counts(spoke.store) == before and not failures.take()


async def test_an_oversized_teams_body_is_refused_before_its_token_is_checked(teams: TeamsSpoke) -> None:
    before = counts(teams.store)
    url = f"{teams.base}/api/messages"
    with watching_failures() as failures:
        # A token that is no JWT would be a 401 (malformed_token): the size is judged first.
        forged = await teams.http.post(url, data=b"[" * OVER, headers={
            "Authorization": "Bearer not-a-jwt", "Content-Type": "application/json"})
        valid = await teams.post(teams.message("x" * OVER))
        # With no Authorization at all the request is refused on its headers, body unread.
        anonymous = await teams.http.post(url, data=b"[" * OVER, headers={"Content-Type": "application/json"})
    assert (forged.status, valid.status, anonymous.status) == (413, 413, 401)
    assert json.loads(await forged.text()) == {"error": "too_large"}
    assert counts(teams.store) == before and not failures.take()


# --- raw HTTP, where the client could lie --------------------------------------------------------


async def exchange(base: str, *parts: bytes, close_write: bool = False, expect: int = 1) -> list[int]:
    """Sends `parts` on one connection, each in its own write (the server may read them
    apart); the statuses of the first `expect` answers, or of those before the server closed
    the connection or went quiet for ANSWER_WITHIN seconds."""
    where = urlsplit(base)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    received = b""
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            if part is not parts[-1]:
                await asyncio.sleep(0.05)  # not a wait for anything: apart, so read apart
        if close_write:
            writer.write_eof()
        while not answered(received, expect):
            try:
                chunk = await asyncio.wait_for(reader.read(65536), ANSWER_WITHIN)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
    except ConnectionResetError:
        pass
    finally:
        writer.close()
    return [int(status) for status in STATUS.findall(received)][:expect]


def answered(received: bytes, expect: int) -> bool:
    starts = [found.start() for found in STATUS.finditer(received)]
    return len(starts) >= expect and b"\r\n\r\n" in received[starts[expect - 1]:]


def head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


PATHS = [("/slack/events", {}), ("/api/messages", {"Authorization": "Bearer not-a-jwt"})]


@pytest.fixture
async def both(spoke: Spoke, teams: TeamsSpoke) -> dict[str, tuple[str, SqlStore]]:
    return {"/slack/events": (spoke.base, spoke.store), "/api/messages": (teams.base, teams.store)}


@pytest.mark.parametrize(("path", "extra"), PATHS)
async def test_a_declared_length_over_the_limit_is_answered_without_waiting_for_the_body(
        both: dict[str, tuple[str, SqlStore]], path: str, extra: dict[str, str]) -> None:
    base, store = both[path]
    before = counts(store)
    started = asyncio.get_running_loop().time()
    statuses = await exchange(base, head(path, {**extra, "Content-Type": JSON,
                                                "Content-Length": str(2 * MAX_BODY)}), b"{" * 100)
    assert statuses == [413]
    assert asyncio.get_running_loop().time() - started < ANSWER_WITHIN  # not a stalled read
    assert counts(store) == before


@pytest.mark.parametrize(("path", "extra"), PATHS)
async def test_a_chunked_body_is_cut_off_after_the_limit(both: dict[str, tuple[str, SqlStore]], path: str,
                                                         extra: dict[str, str]) -> None:
    base, store = both[path]
    before = counts(store)
    piece = b"{" * 65536
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    # Over 1 MiB sent and the chunked body never finished: the answer must not wait for its end.
    statuses = await exchange(base, head(path, {**extra, "Content-Type": JSON,
                                                "Transfer-Encoding": "chunked"}),
                              *[chunk] * (OVER // len(piece) + 1))
    assert statuses == [413]
    assert counts(store) == before


async def test_a_signed_body_that_arrives_in_pieces_is_read_whole(spoke: Spoke) -> None:
    body = json_body(dm_event("U0AMA", "hello " * 2000, event_id="EvPieces"))
    signed = slack_signed_headers(body, SIGNING_SECRET, spoke.clock.now())
    statuses = await exchange(spoke.base, head("/slack/events", {**signed, "Content-Length": str(len(body))}),
                              body[:1000], body[1000:5000], body[5000:])
    assert statuses == [200]
    await spoke.settle()
    assert counts(spoke.store)["processed_event"] == 1


async def test_a_content_length_smaller_than_the_body_reads_only_what_it_declares(spoke: Spoke) -> None:
    before = counts(spoke.store)
    declared = json_body(dm_event("U0AMA", "hello", event_id="EvShort"))
    signed = slack_signed_headers(declared, SIGNING_SECRET, spoke.clock.now())
    smuggled = b"\r\n\r\nPOST /slack/events HTTP/1.1\r\n" + b"x" * (2 * MAX_BODY)
    request = head("/slack/events", {**signed, "Content-Length": str(len(declared))})
    statuses = await exchange(spoke.base, request + declared + smuggled, expect=2)
    # The declared bytes are the signed event; what follows is no request at all, and aiohttp
    # refuses the connection with a 400 (on one write, before the event's handler runs).
    assert statuses and set(statuses) <= {200, 400}, statuses
    await spoke.settle()
    processed = counts(spoke.store)["processed_event"] - before["processed_event"]
    assert processed == (1 if 200 in statuses else 0)


@pytest.mark.parametrize(("path", "extra"), PATHS)
@pytest.mark.parametrize("length", ["-1", "abc", "1 1", "99999999999999999999999", "0x10"])
async def test_a_content_length_that_is_no_length_is_a_400(both: dict[str, tuple[str, SqlStore]], path: str,
                                                           extra: dict[str, str], length: str) -> None:
    base, store = both[path]
    before = counts(store)
    statuses = await exchange(base, head(path, {**extra, "Content-Type": JSON, "Content-Length": length}),
                              b"{}")
    assert statuses == [400]
    assert counts(store) == before


@pytest.mark.parametrize(("path", "extra"), PATHS)
async def test_a_body_that_stops_before_its_declared_length_is_no_500(
        both: dict[str, tuple[str, SqlStore]], path: str, extra: dict[str, str]) -> None:
    base, store = both[path]
    before = counts(store)
    with watching_failures() as failures:
        statuses = await exchange(base, head(path, {**extra, "Content-Type": JSON, "Content-Length": "5000"}),
                                  b"{" * 100, close_write=True)
    assert 500 not in statuses, statuses
    assert not failures.take()
    assert counts(store) == before

"""The benchmarks' HTTP client reads the replies both servers send (fixed
length from uvicorn, chunked from Node) and computes nearest-rank percentiles."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.loadgen import HttpError, percentile, read_reply


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_reads_a_fixed_length_body_and_leaves_the_next_reply() -> None:
    reader = _reader(
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-A: 1\r\n\r\nnullHTTP/1.1 204"
    )

    reply = await read_reply(reader, head=False)

    assert (reply.status, reply.body, reply.header("x-a")) == (200, b"null", "1")
    assert await reader.read() == b"HTTP/1.1 204"


async def test_reads_a_chunked_body() -> None:
    reader = _reader(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
    )

    reply = await read_reply(reader, head=False)

    assert reply.json() == {"a": 1}


async def test_refuses_a_reply_that_is_not_http() -> None:
    with pytest.raises(HttpError):
        await read_reply(_reader(b"SSH-2.0-OpenSSH\r\n\r\n"), head=False)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]

    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.99) == 0.0

"""A bare WebSocket echo server: the ceiling `stride bench` compares the pipeline with.

`python -m stack.echo_server PORT [CERT KEY]` serves ws://127.0.0.1:PORT/ (wss:// with the
certificate, as the gateway does when the stack runs TLS) with the same library
(`websockets`) and the same process model (one Python process, one event loop) as the
gateway, and answers every frame with a small acknowledgement, as the gateway answers a
samples frame with its ack — but does nothing else: no decoding, no actor, no Kafka. How
many samples a second go through it is what this machine's Python WebSocket stack can carry
at all.
"""

from __future__ import annotations

import asyncio
import ssl
import sys

import msgspec
import websockets

ACK = msgspec.msgpack.encode({"type": "ack", "seq": 0})


async def _echo(connection: websockets.ServerConnection) -> None:
    async for _frame in connection:
        await connection.send(ACK)


async def serve(port: int, cert: str = "", key: str = "") -> None:
    context = None
    if cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    async with websockets.serve(_echo, "127.0.0.1", port, max_size=2**20, ssl=context):
        print("ready", flush=True)
        await asyncio.Future()  # serves until the process is stopped


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), *sys.argv[2:4]))

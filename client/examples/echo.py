#!/usr/bin/env python3
"""A small app on the mixnet client's websocket API, with the `websockets` package.

    pip install websockets
    # print this client's address, then wait for two messages (answering anonymous ones):
    python3 echo.py --url ws://127.0.0.1:1977 --receive 2 --echo
    # from another client: send a message, anonymously, and wait for the answer:
    python3 echo.py --url ws://127.0.0.1:1978 --send ADDRESS "hello" --anonymous --receive 1

Every line it prints is JSON: {"address": ...} first, then {"sent": ...} and
{"received": ..., "senderTag": ..., "isReply": ...} as things happen.
"""

import argparse
import asyncio
import json
import sys

import websockets


def emit(obj):
    print(json.dumps(obj), flush=True)


async def run(args):
    async with websockets.connect(args.url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "selfAddress"}))
        # Messages may already be waiting for us; the answer to selfAddress is among them.
        early = []
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), args.timeout))
            if frame["type"] == "selfAddress":
                emit({"address": frame["address"]})
                break
            early.append(frame)

        if args.send:
            recipient, message = args.send
            if args.anonymous:
                request = {"type": "sendAnonymous", "message": message,
                           "recipient": recipient, "replySurbs": 5}
            else:
                request = {"type": "send", "message": message, "recipient": recipient}
            await ws.send(json.dumps(request))
            emit({"sent": message})

        received = 0
        pending = list(early)
        while received < args.receive:
            frame = pending.pop(0) if pending else json.loads(
                await asyncio.wait_for(ws.recv(), args.timeout))
            if frame["type"] == "error":
                emit({"error": frame["message"]})
                return 1
            if frame["type"] != "received":
                continue
            received += 1
            emit({"received": frame["message"], "senderTag": frame["senderTag"],
                  "isReply": frame["isReply"]})
            if args.echo and frame["senderTag"]:
                await ws.send(json.dumps({"type": "reply", "senderTag": frame["senderTag"],
                                          "message": "echo: " + frame["message"]}))
                emit({"replied": frame["message"]})
        # Give the client a moment to read our last request before the socket closes.
        await ws.close()
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="ws://127.0.0.1:1977", help="the client's websocket")
    p.add_argument("--send", nargs=2, metavar=("ADDRESS", "MESSAGE"), help="send a message")
    p.add_argument("--anonymous", action="store_true",
                   help="send with reply SURBs, so the recipient can answer without our address")
    p.add_argument("--receive", type=int, default=0, help="messages to wait for")
    p.add_argument("--echo", action="store_true", help="answer anonymous messages")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each frame")
    args = p.parse_args()
    try:
        sys.exit(asyncio.run(run(args)))
    except asyncio.TimeoutError:
        emit({"error": "timed out"})
        sys.exit(2)


if __name__ == "__main__":
    main()

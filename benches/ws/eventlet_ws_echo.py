#!/usr/bin/env python3
"""eventlet.websocket echo server for benches/ws/run.sh: the /echo of
eventlet's examples/websocket.py (each message sent back with its type),
on eventlet.wsgi.server with the access log off.

    python3 benches/ws/eventlet_ws_echo.py [HOST:PORT=127.0.0.1:0] [MAX_SIZE=20000]

Prints `listening on HOST:PORT` once bound (port 0 picks a free port), as
the other servers of the benchmark do. backlog=1024 and a raised max_size
(eventlet's default is 1024 connections) so that the idle-memory row can
hold 10,000 WebSockets.
"""
import sys
import warnings

warnings.simplefilter("ignore")  # eventlet's deprecation notice

import eventlet  # noqa: E402
from eventlet import websocket, wsgi  # noqa: E402


@websocket.WebSocketWSGI
def handle(ws):
    if ws.path != "/echo":
        return
    while True:
        m = ws.wait()
        if m is None:
            break
        ws.send(m)


def main():
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:0"
    max_size = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    host, port = addr.rsplit(":", 1)
    sock = eventlet.listen((host, int(port)), backlog=1024)
    print("listening on %s:%d" % sock.getsockname()[:2], flush=True)
    wsgi.server(sock, handle, log_output=False, max_size=max_size)


if __name__ == "__main__":
    main()

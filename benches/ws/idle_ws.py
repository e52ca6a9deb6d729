#!/usr/bin/env python3
"""Memory per idle WebSocket: open N WebSockets to an echo server (handshake
plus one echoed message each), hold them, and report the server's RSS growth
per connection (from /proc/PID/status).

    python3 benches/ws/idle_ws.py SERVER_PID HOST:PORT [N] [PATH] [--hold SECONDS] [--deflate]

--hold keeps the WebSockets open that long after the report (to inspect the
server meanwhile, e.g. /proc/PID/smaps). --deflate offers permessage-deflate
(as browsers do: context takeover both ways), sends the message compressed
and checks the compressed echo. 10,000 WebSockets need
`ulimit -n` above 10,100 for this script.
"""
import os
import socket
import sys
import time
import zlib

DEFLATE = False

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit("no VmRSS")


def frame(payload, first=0x81):
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([first, 0x80 | len(payload)]) + mask + masked


def compressed_frame(payload):
    """A text message compressed as a browser does (RSV1, no 00 00 ff ff tail)."""
    c = zlib.compressobj(wbits=-15)
    data = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)
    return frame(data[:-4], 0xc1)


def open_ws(host, port, path):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    ext = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if DEFLATE else ""
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % (path, host, KEY, ext)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("closed during handshake")
        buf += chunk
    assert buf.startswith(b"HTTP/1.1 101"), buf[:40]
    rest = buf.split(b"\r\n\r\n", 1)[1]
    s.sendall(compressed_frame(b"ping") if DEFLATE else frame(b"ping"))
    while len(rest) < 2 or len(rest) < 2 + (rest[1] & 0x7f):
        rest += s.recv(64)
    payload = rest[2:2 + (rest[1] & 0x7f)]
    if rest[0] & 0x40:  # RSV1: a compressed message
        payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
    assert payload == b"ping", rest
    return s


def main():
    global DEFLATE
    hold = 0.0
    if "--deflate" in sys.argv:
        sys.argv.remove("--deflate")
        DEFLATE = True
    if "--hold" in sys.argv:
        i = sys.argv.index("--hold")
        hold = float(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    pid, addr = int(sys.argv[1]), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    path = sys.argv[4] if len(sys.argv) > 4 else "/echo"
    host, port = addr.rsplit(":", 1)
    port = int(port)
    warm = [open_ws(host, port, path) for _ in range(100)]
    time.sleep(1)
    before = rss_kib(pid)
    held = [open_ws(host, port, path) for _ in range(n)]
    time.sleep(2)
    after = rss_kib(pid)
    print("idle WebSockets: %d, server RSS %d KiB -> %d KiB, %.1f KiB per WebSocket"
          % (n, before, after, (after - before) / n), flush=True)
    time.sleep(hold)
    del held, warm


if __name__ == "__main__":
    main()

"""eventlet.wsgi reference server for benches/run.sh: the docs' hello_world
(body as bytes for Python 3), access log off, POST echoes the request body.

    python3 benches/eventlet_hello.py 127.0.0.1 18084

backlog=1024 as in perf_anchors.md (eventlet's default of 50 drops SYNs at
c1000); max_size raised so that 10,000 idle connections are all served.
"""
import sys

import eventlet
from eventlet import wsgi


def hello_world(env, start_response):
    if env["REQUEST_METHOD"] == "POST":
        body = env["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, World!\r\n"]


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sock = eventlet.listen((host, port), backlog=1024)
    wsgi.server(sock, hello_world, log_output=False, max_size=100000)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Real-browser test of examples/websocket_chat.rs: headless Chromium opens the
chat page twice, one tab sends a line, the other tab must show it.

Driven over the DevTools protocol (no virtual time: WebSocket traffic is real).

    python3 tests/browser/chat_test.py PATH/TO/websocket_chat-binary [chromium]

Needs the `websockets` package (pip) for the DevTools connection. Exit 0 on
success, 1 on failure (with the pages' text), 2 when the setup is missing.
"""
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import websockets
except ImportError:
    print("chat_test.py: pip install websockets", file=sys.stderr)
    sys.exit(2)

TIMEOUT = 30.0


def start_server(binary):
    p = subprocess.Popen([binary, "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(r"http://(127\.0\.0\.1:\d+)/", line)
    if not m:
        p.kill()
        raise SystemExit("chat_test.py: server did not print its address: %r" % line)
    return p, m.group(1)


def start_chromium(exe, profile):
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--user-data-dir=" + profile,
            "--remote-debugging-port=0", "about:blank"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        if os.path.exists(port_file):
            lines = open(port_file).read().split()
            if lines:
                return p, int(lines[0])
        time.sleep(0.1)
    p.kill()
    raise SystemExit("chat_test.py: chromium did not start")


def new_tab(devtools_port, url):
    req = urllib.request.Request(
        "http://127.0.0.1:%d/json/new?%s" % (devtools_port, url), method="PUT")
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        return json.load(r)["webSocketDebuggerUrl"]


class Tab:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    async def eval(self, expr):
        self.next_id += 1
        mid = self.next_id
        await self.ws.send(json.dumps({"id": mid, "method": "Runtime.evaluate",
                                       "params": {"expression": expr, "returnByValue": True}}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == mid:
                return msg["result"]["result"].get("value")


async def wait_for(tab, expr, what):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        if await tab.eval(expr):
            return
        await asyncio.sleep(0.1)
    text = await tab.eval("document.getElementById('chat') && document.getElementById('chat').innerText")
    raise AssertionError("timed out waiting for %s; chat shows %r" % (what, text))


async def run(devtools_port, page):
    a_url, b_url = new_tab(devtools_port, page), new_tab(devtools_port, page)
    async with websockets.connect(a_url, max_size=None) as wa, \
            websockets.connect(b_url, max_size=None) as wb:
        a, b = Tab(wa), Tab(wb)
        for t, name in ((a, "tab A"), (b, "tab B")):
            await wait_for(t, "window.chatReady === true", name + " connected")
        line = "hello from tab A %d" % os.getpid()
        # Type into tab A's form and submit it, as a user would.
        await a.eval("document.getElementById('line').value = %s;"
                     "document.getElementById('chatform').requestSubmit(); true" % json.dumps(line))
        check = ("Array.from(document.querySelectorAll('#chat div'))"
                 ".some(d => d.textContent === %s)" % json.dumps(line))
        await wait_for(b, check, "tab B to show tab A's line")
        await wait_for(a, check, "tab A to show its own line")
        print("browser chat test: OK (tab B showed %r)" % line)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    binary = sys.argv[1]
    exe = sys.argv[2] if len(sys.argv) > 2 else (shutil.which("chromium") or shutil.which("chromium-browser"))
    if not exe:
        print("chat_test.py: no chromium found", file=sys.stderr)
        sys.exit(2)
    profile = tempfile.mkdtemp(prefix="chat-test-")
    server, addr = start_server(binary)
    browser = None
    try:
        browser, port = start_chromium(exe, profile)
        asyncio.run(run(port, "http://%s/" % addr))
    except AssertionError as e:
        print("browser chat test: FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)
    finally:
        if browser:
            browser.kill()
            browser.wait()
        server.kill()
        server.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()

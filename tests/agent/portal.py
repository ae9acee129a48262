"""A three-page portal on a loopback port, for the playbook mechanics tests: a login, a home
page with a link to the bill, the bill. ``layout = "redesign"`` renames the link, moves the
bill to another path and relabels its figures, as a site's redesign would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

USERNAME = "ann@example.com"
PASSWORD = "portal-pass-8812"


class Portal:
    def __init__(self) -> None:
        self.layout = "classic"
        self.url = ""
        self.logins = 0


def _page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<h1>{title}</h1>{body}</body></html>"
    ).encode()


def _handler(portal: Portal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def _signed_in(self) -> bool:
            return "portal=ok" in (self.headers.get("Cookie") or "")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if form.get("user") == [USERNAME] and form.get("password") == [PASSWORD]:
                portal.logins += 1
                self._send(303, Location="/home", Set_Cookie="portal=ok; Path=/")
            else:
                self._send(200, _page("Sign in", "<p role=alert>Invalid password.</p>"))

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            redesign = portal.layout == "redesign"
            if path in ("/", "/login"):
                if self._signed_in():
                    self._send(303, Location="/home")
                    return
                self._send(
                    200,
                    _page(
                        "Sign in",
                        '<form method="post" action="/login">'
                        '<label for="user">Email</label><input id="user" name="user">'
                        '<label for="pw">Password</label>'
                        '<input id="pw" name="password" type="password">'
                        "<button>Sign in</button></form>",
                    ),
                )
                return
            if not self._signed_in():
                self._send(303, Location="/login")
                return
            if path == "/home":
                link = (
                    '<nav><a class="tile" href="/statements/current">Statements</a></nav>'
                    if redesign
                    else '<ul><li><a id="nav-bill" href="/bill">Billing</a></li></ul>'
                )
                self._send(200, _page("Welcome back", link))
                return
            if path == ("/statements/current" if redesign else "/bill"):
                label, due = (
                    ("Balance due", "Payment due") if redesign else ("Amount due", "Due date")
                )
                self._send(
                    200,
                    _page(
                        "Your latest bill",
                        f"<dl><dt>{label}</dt><dd>$84.12</dd>"
                        f"<dt>{due}</dt><dd>February 1, 2025</dd></dl>",
                    ),
                )
                return
            self._send(404, _page("Not found", ""))

    return Handler


@contextmanager
def portal_serving() -> Iterator[Portal]:
    portal = Portal()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(portal))
    portal.url = f"http://127.0.0.1:{server.server_address[1]}/login"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield portal
    finally:
        server.shutdown()
        server.server_close()

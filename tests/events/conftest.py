"""A real webhook receiver on loopback, a real RabbitMQ, and helpers that play the worker."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pika
import pika.exceptions
import pytest

from deck.events.delivery import events_pump

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
RABBITMQ_START_SECONDS = 90


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0
    trickle: float = 0.0  # seconds between the body's bytes


class Receiver:
    """An HTTP server on 127.0.0.1 recording every request. ``answer`` decides the reply
    (a callable gets the request); ``stop()`` / ``start()`` keep the port, so a destination
    can see its endpoint go down and come back."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answer: Answer | Callable[[Received], Answer] = Answer()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                with receiver._lock:
                    receiver.requests.append(received)
                answer = receiver.answer
                if callable(answer):
                    answer = answer(received)
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    if answer.trickle:
                        for byte in answer.body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(answer.trickle)
                    else:
                        self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (the timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bodies(self) -> list[Any]:
        with self._lock:
            return [request.json() for request in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


def pump() -> dict[str, int]:
    """What the beat job does, in process: fan out, then send whatever is due."""
    return events_pump(budget_seconds=30)


def _rabbitmq_up() -> bool:
    try:
        connection = pika.BlockingConnection(
            pika.URLParameters(RABBITMQ_URL + "?socket_timeout=2&connection_attempts=1")
        )
    except (pika.exceptions.AMQPError, OSError):
        return False
    connection.close()
    return True


@pytest.fixture(scope="session")
def rabbitmq() -> str:
    """The local RabbitMQ, started if it is not running (CI does not start it)."""
    if _rabbitmq_up():
        return RABBITMQ_URL
    server = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
    subprocess.run([server, "-detached"], check=False, capture_output=True, timeout=30)
    deadline = time.monotonic() + RABBITMQ_START_SECONDS
    while time.monotonic() < deadline:
        if _rabbitmq_up():
            return RABBITMQ_URL
        time.sleep(1)
    pytest.fail(f"RabbitMQ did not come up on 127.0.0.1:5672 within {RABBITMQ_START_SECONDS} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

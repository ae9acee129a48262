"""A scripted OpenAI-compatible chat-completions server on loopback, for tests.

The edge of the world: a hosted model is replaced by this server, which answers each
``POST /v1/chat/completions`` with the next scripted reply and keeps every request it got,
so tests check what Deck sent (and that no secret ever reached the model).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Script = Reply | Callable[[dict[str, Any]], Reply]


def completion(message: dict[str, Any], finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "tiny-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def text(content: str) -> Reply:
    return Reply(completion({"role": "assistant", "content": content}))


def tool_calls(*calls: tuple[str, dict[str, Any]]) -> Reply:
    return Reply(
        completion(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{index}_{name}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(arguments)},
                    }
                    for index, (name, arguments) in enumerate(calls)
                ],
            },
            finish_reason="tool_calls",
        )
    )


class ScriptedLlm:
    def __init__(self) -> None:
        self.script: list[Script] = []
        self.requests: list[dict[str, Any]] = []  # {"path", "headers", "body"}
        # Failures of the scripted checks, raised again in the test by ``check()``.
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def add(self, *replies: Script) -> None:
        with self._lock:
            self.script.extend(replies)

    def raw(self) -> str:
        """Everything the server received, as one text (for "no secret reached it")."""
        return "\n".join(
            json.dumps(request["headers"]) + json.dumps(request["body"])
            for request in self.requests
        )

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if not self.script:
                return Reply({"error": {"message": "the script ran out"}}, status=500)
            step = self.script.pop(0)
        if not callable(step):
            return step
        try:
            return step(body)
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return Reply({"error": {"message": f"scripted check failed: {exc}"}}, status=500)

    def reset(self) -> None:
        with self._lock:
            self.script.clear()
            self.requests.clear()
            self.errors.clear()

    def check(self) -> None:
        """Fail the test with what a scripted check found wrong in a request."""
        assert not self.errors, "\n".join(self.errors)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        llm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode("latin-1")}
                with llm._lock:
                    llm.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                reply = llm._next(body) if self.path == "/v1/chat/completions" else None
                if reply is None:
                    reply = Reply({"error": {"message": f"no route {self.path}"}}, status=404)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = (
                    reply.body.encode()
                    if isinstance(reply.body, str)
                    else json.dumps(reply.body).encode()
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> ScriptedLlm:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def scripted_llm() -> Iterator[ScriptedLlm]:
    server = ScriptedLlm().start()
    try:
        yield server
    finally:
        server.stop()

"""Model-backed extraction against a small OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip(
    "tasks.agent.llm_client", reason="the llm branch's client is not merged into this tree yet"
)

from storage.extraction import extract
from tests.extraction import documents

SCHEMA = {
    "type": "object",
    "properties": {
        "vendor_name": {"type": "string"},
        "invoice_number": {"type": "string"},
        "total_amount": {"type": "number"},
        "due_date": {"type": "string", "format": "date"},
    },
}


class ModelServer:
    def __init__(self) -> None:
        self.answers: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                content = server.answers.pop(0) if server.answers else "{}"
                payload = json.dumps(
                    {
                        "id": "cmpl-1",
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content},
                            }
                        ],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def settings(self) -> dict[str, Any]:
        return {"base_url": self.url, "model": "extractor-1", "api_key": "sk-test-extract-9f2c"}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    server = ModelServer()
    yield server
    server.close()


def test_model_answer_is_used_when_it_validates(model_server):
    model_server.answers.append(
        "```json\n"
        + json.dumps(
            {
                "vendor_name": "Northwind Supplies Inc.",
                "invoice_number": "INV-20931",
                "total_amount": 326.14,
                "due_date": "2026-02-04",
                "chatty_extra": "dropped",
            }
        )
        + "\n```"
    )
    result = extract(
        data=documents.invoice_with_table(),
        file_name="inv.pdf",
        content_type="application/pdf",
        schema=SCHEMA,
        prompt="Invoices from office suppliers.",
        model=model_server.settings(),
    )

    assert result.method == "model"
    assert result.data == {
        "vendor_name": "Northwind Supplies Inc.",
        "invoice_number": "INV-20931",
        "total_amount": 326.14,
        "due_date": "2026-02-04",
    }
    # The rules agree on these, so their provenance is kept.
    assert result.provenance["total_amount"]["text"] == "Total:  $326.14"
    assert result.provenance["invoice_number"]["page"] == 1
    request = model_server.requests[-1]
    assert request["model"] == "extractor-1"
    prompt = request["messages"][-1]["content"]
    assert '"invoice_number"' in prompt  # the schema
    assert "Invoices from office suppliers." in prompt
    assert "Safety gloves (box)" in prompt  # the document text
    assert model_server.headers[-1]["Authorization"] == "Bearer sk-test-extract-9f2c"


@pytest.mark.parametrize(
    ("answer", "warning"),
    [
        ("I could not find anything useful, sorry.", "did not answer with JSON"),
        ('{"total_amount": "three hundred"}', "does not match the schema at total_amount"),
        ("[1, 2, 3]", "not answer with a JSON object"),
    ],
)
def test_unusable_model_answers_fall_back_to_the_rules(model_server, answer, warning):
    model_server.answers.append(answer)
    result = extract(
        data=documents.invoice_with_table(),
        file_name="inv.pdf",
        content_type="application/pdf",
        schema=SCHEMA,
        model=model_server.settings(),
    )
    assert result.method == "rules"
    assert result.data["total_amount"] == 326.14
    assert result.data["invoice_number"] == "INV-20931"
    assert any(warning in text for text in result.warnings), result.warnings


def test_unreachable_model_falls_back_to_the_rules():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = extract(
        data=documents.invoice_with_table(),
        file_name="inv.pdf",
        content_type="application/pdf",
        schema=SCHEMA,
        model={
            "base_url": f"http://127.0.0.1:{port}/v1",
            "model": "m",
            "api_key": "sk-unreachable-7d1e",
            "max_retries": 0,
        },
    )
    assert result.method == "rules"
    assert result.data["total_amount"] == 326.14
    assert "cannot be reached" in result.warnings[0]
    assert "sk-unreachable-7d1e" not in " ".join(result.warnings)

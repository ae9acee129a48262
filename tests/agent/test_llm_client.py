"""The OpenAI-compatible client against a scripted chat-completions server on loopback."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from tasks.agent.llm_client import ChatReply, LlmError, LlmSettings, chat
from tests.agent.llm_server import Reply, ScriptedLlm, completion, scripted_llm, text, tool_calls

KEY = "sk-client-test-key-5555"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "click",
            "description": "Click an element.",
            "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLlm]:
    with scripted_llm() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(llm: ScriptedLlm) -> None:
    llm.reset()


def config(llm: ScriptedLlm, **overrides: object) -> LlmSettings:
    values: dict[str, object] = {
        "base_url": llm.base_url,
        "model": "tiny-model",
        "api_key": KEY,
        "timeout_seconds": 5.0,
        "max_retries": 2,
    }
    values.update(overrides)
    return LlmSettings(**values)  # type: ignore[arg-type]


def test_sends_the_openai_request_shape(llm):
    llm.add(tool_calls(("click", {"text": "Bills"})))
    messages = [{"role": "user", "content": "Open the bills."}]
    reply = chat(config(llm), messages, TOOLS)
    [request] = llm.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["body"] == {
        "model": "tiny-model",
        "messages": messages,
        "tools": TOOLS,
        "tool_choice": "auto",
    }
    assert isinstance(reply, ChatReply)
    assert reply.content is None
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("call_0_click", "click", {"text": "Bills"})
    ]
    assert reply.finish_reason == "tool_calls"
    assert reply.message["role"] == "assistant"
    assert reply.message["tool_calls"][0]["id"] == "call_0_click"


def test_plain_text_with_extra_fields_and_the_mapping_form(llm, settings):
    llm.add(text("Hello"))
    reply = chat(
        {"base_url": llm.base_url + "/", "model": "m", "api_key": ""},
        [{"role": "user", "content": "Hi"}],
        extra={"temperature": 0},
    )
    assert reply.content == "Hello"
    assert reply.tool_calls == []
    [request] = llm.requests
    assert "Authorization" not in request["headers"]
    assert request["body"] == {
        "model": "m",
        "messages": [{"role": "user", "content": "Hi"}],
        "temperature": 0,
    }


def test_retries_transient_failures(llm, caplog):
    caplog.set_level(logging.DEBUG)
    llm.add(
        Reply({"error": {"message": "overloaded"}}, status=503),
        Reply({"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "0"}),
        text("third time lucky"),
    )
    assert chat(config(llm), [{"role": "user", "content": "x"}]).content == "third time lucky"
    assert len(llm.requests) == 3
    assert "retry 1 of 2" in caplog.text
    assert KEY not in caplog.text


def test_gives_up_after_bounded_retries(llm):
    llm.add(*[Reply({"error": {"message": "down"}}, status=502)] * 3)
    with pytest.raises(LlmError) as caught:
        chat(config(llm, max_retries=1), [{"role": "user", "content": "x"}])
    assert caught.value.as_error()["type"] == "api"
    assert caught.value.code == "llm_unavailable"
    assert "HTTP 502" in caught.value.message
    assert len(llm.requests) == 2


def test_refusals_are_not_retried_and_never_echo_the_key(llm):
    llm.add(Reply({"error": {"message": f"Incorrect API key provided: {KEY}"}}, status=401))
    with pytest.raises(LlmError) as caught:
        chat(config(llm), [{"role": "user", "content": "x"}])
    assert caught.value.code == "llm_rejected"
    assert "HTTP 401" in caught.value.message
    assert "Incorrect API key provided" in caught.value.message
    assert KEY not in caught.value.message
    assert len(llm.requests) == 1


def test_unreachable_endpoint(caplog):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = LlmSettings(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", api_key=KEY, max_retries=1
    )
    with pytest.raises(LlmError) as caught:
        chat(settings, [{"role": "user", "content": "x"}])
    assert caught.value.code == "llm_unavailable"
    assert "cannot connect" in caught.value.message
    assert KEY not in caplog.text


def test_timeout(llm):
    llm.add(Reply(completion({"role": "assistant", "content": "late"}), delay=1.0))
    with pytest.raises(LlmError) as caught:
        chat(config(llm, timeout_seconds=0.2, max_retries=0), [{"role": "user", "content": "x"}])
    assert caught.value.code == "llm_unavailable"
    assert "no answer within 0.2 s" in caught.value.message


@pytest.mark.parametrize("body", ["<html>gateway</html>", {"choices": []}, {"nope": 1}])
def test_not_a_chat_completion(llm, body):
    llm.add(Reply(body))
    with pytest.raises(LlmError) as caught:
        chat(config(llm), [{"role": "user", "content": "x"}])
    assert caught.value.code == "llm_invalid_response"


def test_tool_arguments_that_are_not_an_object(llm):
    message = {
        "role": "assistant",
        "content": [{"type": "text", "text": "Thinking"}],
        "tool_calls": [
            {"function": {"name": "click", "arguments": "{not json"}},
            {"id": "b", "function": {"name": "finish", "arguments": '["x"]'}},
            {"id": "c", "function": {"name": "finish", "arguments": {"output": {}}}},
        ],
    }
    llm.add(Reply(completion(message)))
    reply = chat(config(llm), [{"role": "user", "content": "x"}], TOOLS)
    assert reply.content == "Thinking"
    first, second, third = reply.tool_calls
    assert (first.id, first.arguments, first.arguments_error) == (
        "call_0",
        {},
        "the arguments are not valid JSON",
    )
    assert second.arguments_error == "the arguments must be a JSON object"
    assert (third.arguments, third.arguments_error) == ({"output": {}}, "")


def test_nothing_configured():
    with pytest.raises(LlmError) as caught:
        chat({"base_url": "", "model": ""}, [{"role": "user", "content": "x"}])
    assert caught.value.code == "llm_unavailable"
    assert "llm_base_url" in caught.value.message


def test_a_shared_client_serves_a_conversation(llm):
    import httpx

    llm.add(text("one"), text("two"))
    with httpx.Client() as client:
        first = chat(config(llm), [{"role": "user", "content": "1"}], client=client)
        second = chat(config(llm), [{"role": "user", "content": "2"}], client=client)
    assert (first.content, second.content) == ("one", "two")
    assert [r["body"]["messages"][0]["content"] for r in llm.requests] == ["1", "2"]

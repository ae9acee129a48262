"""The harness and the browser pool on real Chromium (pages given inline)."""

from __future__ import annotations

import pyotp
import pytest

from tasks.agent.browser import BrowserPool, BrowserUnavailable
from tasks.agent.harness import SECRET, Harness, TargetNotFound
from tasks.agent.runtime import AgentFailure, InteractionNeeded
from tests.agent.conftest import Trace, bare_context, page_url

SEED = pyotp.random_base32()
PASSWORD = "correct-horse-battery"
CARD = "4242424242424242"

FORM = """<!doctype html><html><head><title>Sign in</title></head><body>
<h1>Sign in</h1>
<form onsubmit="event.preventDefault(); document.getElementById('out').textContent = 'Welcome';">
  <label for="u">Email</label><input id="u" name="u">
  <label>Password <input type="password" name="p"></label>
  <label>Verification code <input name="code" autocomplete="one-time-code"></label>
  <label>Card number <input name="card"></label>
  <select aria-label="Account"><option value="a1">Main</option>
    <option value="a2">Cabin</option></select>
  <button>Sign in</button>
</form>
<p id="out"></p>
<table><caption>Billing history</caption>
  <thead><tr><th>Date</th><th>Amount</th><th></th></tr></thead>
  <tbody><tr><td>Jan 5, 2025</td><td>$84.12</td><td><a href="/bills/1.pdf">PDF</a></td></tr></tbody>
</table>
<dl><dt>Account number</dt><dd>100-200</dd></dl>
<p><strong>Due date:</strong> Feb 1, 2025</p>
</body></html>"""


def credential_secret(name: str) -> str | None:
    return {"username": "ann@example.com", "password": PASSWORD, "totp_secret": SEED}.get(name)


@pytest.fixture
def trace() -> Trace:
    return Trace()


@pytest.fixture
def harness(pool, trace, db):
    context = bare_context(
        step=trace,
        credential_secret=credential_secret,
        input_schema={"type": "object", "properties": {}, "tokenized": ["card"]},
        input={"card": CARD, "nickname": "Cabin"},
    )
    with Harness(context, pool=pool) as opened:
        yield opened


def test_tools_resolve_targets_fill_placeholders_and_record_actions(harness, trace):
    harness.goto(page_url(FORM), reasoning="Open the form.")
    harness.type({"label": "Email"}, "{{credential.username}}")
    harness.type({"label": "Password"}, "{{credential.password}}")
    harness.type({"label": "Verification code"}, "{{credential.totp}}")
    harness.type({"label": "Card number"}, "{{input.card}}")
    harness.select({"label": "Account"}, "Cabin")
    harness.click({"role": "button", "name": "Sign in"}, reasoning="Submit.")
    snapshot = harness.read_page()

    assert "Welcome" in snapshot["text"]
    values = {i["label"]: i.get("value") for i in snapshot["inputs"]}
    assert values["Email"] == "ann@example.com"
    # Typed secrets never come back through a snapshot.
    assert values["Verification code"] is None
    assert values["Card number"] is None
    assert {"label": "Account number", "value": "100-200"}.items() <= snapshot["pairs"][0].items()
    assert any(p["label"] == "Due date" and p["value"] == "Feb 1, 2025" for p in snapshot["pairs"])
    assert harness.extract_table({"text": "billing"}) == [
        {"Date": "Jan 5, 2025", "Amount": "$84.12", "column_3": "PDF"}
    ]

    assert [a["tool"] for a in harness.actions] == [
        "goto",
        "type",
        "type",
        "type",
        "type",
        "select",
        "click",
    ]
    assert harness.actions[1:5] == [
        {"tool": "type", "target": {"label": "Email"}, "value": "{{credential.username}}"},
        {"tool": "type", "target": {"label": "Password"}, "value": "{{credential.password}}"},
        {"tool": "type", "target": {"label": "Verification code"}, "value": "{{credential.totp}}"},
        {"tool": "type", "target": {"label": "Card number"}, "value": "{{input.card}}"},
    ]
    # A literal equal to an input is recorded as that input.
    assert harness.actions[5] == {
        "tool": "select",
        "target": {"label": "Account"},
        "value": "{{input.nickname}}",
    }

    typed = [s for s in trace.steps if s["tool"] == "type"]
    assert [s["detail"]["value"] for s in typed] == ["ann@example.com", SECRET, SECRET, SECRET]
    assert all(s["screenshot"].startswith(b"\x89PNG") for s in trace.steps)
    assert trace.steps[0]["reasoning"] == "Open the form."
    dump = repr(trace.steps)
    for secret in (PASSWORD, CARD, pyotp.TOTP(SEED).now(), SEED):
        assert secret not in dump


def test_screenshots_do_not_show_typed_secrets(harness):
    """Two different secrets of one length give the same picture; unmasked they differ."""
    page = page_url('<label>One-time code <input name="c" style="font-size:40px"></label>')
    harness.goto(page)

    def shots(value: str) -> tuple[bytes | None, bytes]:
        harness.context.input["code"] = value
        harness._tokenized.add("code")
        harness.type({"label": "One-time code"}, "{{input.code}}")
        harness.on_page(lambda p: p.locator("input").blur())
        masked = harness._capture_screen()
        raw = harness.on_page(lambda p: p.screenshot(type="png"))
        return masked, raw

    masked_a, raw_a = shots("918273")
    masked_b, raw_b = shots("564738")
    assert raw_a != raw_b  # the page does show the value …
    assert masked_a == masked_b  # … the harness's screenshots do not.
    state = harness.on_page(
        lambda p: p.evaluate(
            "() => [document.querySelectorAll('[data-deck-masked]').length,"
            " !!document.getElementById('deck-secret-mask')]"
        )
    )
    assert state == [0, False]  # the mask is lifted after the shot; the page is untouched


def test_a_secret_echoed_as_text_is_blanked_in_screenshots(harness):
    harness.context.secrets.add("ECHO-1234-9999")
    harness._secrets.add("ECHO-1234-9999")
    harness.goto(page_url('<p style="font-size:40px">Card ECHO-1234-9999 saved</p>'))
    masked = harness._capture_screen()
    assert harness.snapshot()["text"] == f"Card {SECRET} saved"
    harness._secrets.discard("ECHO-1234-9999")
    unmasked = harness._capture_screen()
    assert masked != unmasked


def test_missing_targets_fail_clearly_after_retries(harness, trace):
    harness.goto(page_url("<button>Other</button>"))
    with pytest.raises(TargetNotFound) as failure:
        harness.click({"role": "button", "name": "Pay now"})
    assert failure.value.code == "target_not_found"
    assert trace.steps[-1]["tool"] == "click"
    assert "error" in trace.steps[-1]["detail"]
    assert harness.actions[-1]["tool"] == "goto"  # the failed click is not recorded


def test_a_late_element_is_retried_until_it_appears(harness):
    harness.goto(
        page_url(
            "<div id=slot></div><script>setTimeout(() => {"
            "document.getElementById('slot').innerHTML = '<button>Ready</button>'}, 150)</script>"
        )
    )
    harness.click({"role": "button", "name": "Ready"})
    assert harness.actions[-1]["target"] == {"role": "button", "name": "Ready"}


def test_the_step_budget_stops_the_agent(pool, db):
    context = bare_context()
    with Harness(context, pool=pool, max_steps=2) as harness:
        harness.goto(page_url("<p>one</p>"))
        harness.read_page()
        with pytest.raises(AgentFailure) as failure:
            harness.read_page()
    assert (failure.value.type, failure.value.code) == ("task", "step_budget_exceeded")


def test_ask_user_pauses_then_answers_by_placeholder(pool, db):
    trace = Trace()
    context = bare_context(step=trace)
    with Harness(context, pool=pool) as harness:
        harness.goto(page_url("<label>Code <input name=c></label>"))
        question = {
            "type": "mfa",
            "message": "Code?",
            "fields": [{"name": "code", "type": "text", "label": "Code"}],
        }
        with pytest.raises(InteractionNeeded):
            harness.ask_user(**question)
        assert trace.steps[-1]["detail"]["paused"] is True
    context = bare_context(step=trace, answers=[{"code": "246810"}])
    with Harness(context, pool=pool) as harness:
        harness.goto(page_url("<label>Code <input name=c></label>"))
        assert harness.ask_user(**question) == {"code": "246810"}
        harness.type({"label": "Code"}, "{{answer.code}}")
        assert harness.actions[-2:] == [
            {"tool": "ask_user", "target": question, "value": None},
            {"tool": "type", "target": {"label": "Code"}, "value": "{{answer.code}}"},
        ]
    assert trace.steps[-1]["detail"]["value"] == SECRET


def test_session_contexts_are_kept_and_closed_when_the_session_ends(pool, db):
    context = bare_context(session_id="sess_keep")
    with Harness(context, pool=pool) as harness:
        harness.goto(page_url("<p>kept</p>"))
        assert not harness.reused
    with Harness(bare_context(session_id="sess_keep", run_id="run_2"), pool=pool) as harness:
        assert harness.reused
        assert "kept" in harness.snapshot()["text"]
    assert "sess_keep" in pool.session_ids()
    assert pool.prune(lambda ids: [i for i in ids if i == "sess_keep"]) == 1
    assert "sess_keep" not in pool.session_ids()


def test_a_missing_chromium_fails_as_browser_unavailable(tmp_path):
    pool = BrowserPool(executable_path=str(tmp_path / "no-chromium"), max_contexts=1)
    try:
        with pytest.raises(BrowserUnavailable) as failure:
            pool.open(key="run_x", session_id=None)
    finally:
        pool.close()
    assert (failure.value.type, failure.value.code) == ("api", "browser_unavailable")

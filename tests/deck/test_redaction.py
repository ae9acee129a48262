from __future__ import annotations

import io
import logging

import pytest

from deck.redaction import MASK, RedactSecretsFilter, redact, register_secret
from deck.vault.services import vault_reveal, vault_store


def capture_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger(f"test.redaction.{id(stream)}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, stream


def test_well_known_secret_shapes_are_masked():
    text = redact("key sk_live_AbC123 hook whsec_abc/def= header Bearer tok.en-1")
    assert "sk_live_AbC123" not in text
    assert "whsec_abc" not in text
    assert "tok.en-1" not in text
    assert text.count(MASK) == 3


def test_registered_values_are_masked_in_messages_args_and_tracebacks():
    register_secret("planted-secret-9d1f")
    logger, stream = capture_logger()
    logger.info("login with %s", "planted-secret-9d1f")
    try:
        raise ValueError("bad password planted-secret-9d1f")
    except ValueError:
        logger.exception("failed")
    output = stream.getvalue()
    assert "planted-secret-9d1f" not in output
    # The message, the source line in the traceback and the exception text.
    assert output.count(MASK) == 3


@pytest.mark.django_db
def test_revealed_vault_values_are_masked_in_logs(org):
    token = vault_store(organization=org, purpose="test", plaintext="revealed-3c9a77")
    logger, stream = capture_logger()
    value = vault_reveal(organization=org, token_id=token, purpose="test")
    logger.warning("typed %s into the form", value)
    assert "revealed-3c9a77" not in stream.getvalue()


def test_short_values_are_not_registered():
    register_secret("ab")
    assert redact("tab") == "tab"

from __future__ import annotations

import base64
import io
import logging
import secrets
import threading

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, connections
from django.db.models import RestrictedError

from deck.models import Organization
from deck.redaction import MASK, RedactSecretsFilter
from deck.services import organization_create
from deck.vault.checks import check_vault_keys
from deck.vault.errors import VaultError
from deck.vault.keys import kek_id_for, kek_parse
from deck.vault.models import DataKey, VaultToken
from deck.vault.services import (
    data_key_cache_clear,
    vault_destroy,
    vault_reveal,
    vault_rotate,
    vault_store,
)

PURPOSE = "credential.password"


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def secret_value() -> str:
    return f"hunter2-{secrets.token_hex(8)}"


@pytest.fixture(autouse=True)
def _fresh_cache():
    data_key_cache_clear()
    yield
    data_key_cache_clear()


@pytest.fixture
def keys(settings) -> list[str]:
    settings.VAULT_KEYS = [new_key()]
    return settings.VAULT_KEYS


def test_round_trip(org: Organization, keys: list[str]) -> None:
    value = secret_value()
    token_id = vault_store(organization=org, purpose=PURPOSE, plaintext=value)

    assert token_id.startswith("tok_")
    assert vault_reveal(organization=org, token_id=token_id, purpose=PURPOSE) == value
    data_key_cache_clear()
    assert vault_reveal(organization=org, token_id=token_id, purpose=PURPOSE) == value


def test_round_trip_unicode_and_empty(org: Organization, keys: list[str]) -> None:
    for value in ["", "pässwörd ✓ 密码", '{"account": "42"}']:
        token_id = vault_store(organization=org, purpose=PURPOSE, plaintext=value)
        assert vault_reveal(organization=org, token_id=token_id, purpose=PURPOSE) == value


def test_ciphertext_differs_per_call_and_holds_no_plaintext(
    org: Organization, keys: list[str]
) -> None:
    value = secret_value()
    first = vault_store(organization=org, purpose=PURPOSE, plaintext=value)
    second = vault_store(organization=org, purpose=PURPOSE, plaintext=value)

    a = bytes(VaultToken.objects.get(pk=first).ciphertext)
    b = bytes(VaultToken.objects.get(pk=second).ciphertext)
    assert a != b
    assert a[:12] != b[:12]  # fresh nonces
    for ciphertext in (a, b):
        assert value.encode() not in ciphertext
    assert DataKey.objects.filter(organization=org).count() == 1


def test_one_data_key_per_organization(
    org: Organization, other_org: Organization, keys: list[str]
) -> None:
    vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())
    vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())
    vault_store(organization=other_org, purpose=PURPOSE, plaintext=secret_value())

    assert DataKey.objects.filter(organization=org, active=True).count() == 1
    assert DataKey.objects.filter(organization=other_org, active=True).count() == 1
    assert DataKey.objects.get(organization=org).kek_id == kek_id_for(kek_parse(keys[0]).key)


def test_losing_the_first_store_race_reuses_the_winners_key(
    org: Organization, keys: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = vault_store(organization=org, purpose=PURPOSE, plaintext="first-value")
    winner = DataKey.objects.get(organization=org)

    # The loser read "no active key" just before the winner's insert landed.
    real_filter = DataKey.objects.filter
    calls = {"n": 0}

    def filter_missing_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            return DataKey.objects.none()
        return real_filter(*args, **kwargs)

    real_create = DataKey.objects.create
    create_errors: list[Exception] = []

    def create_recording(**kwargs):
        try:
            return real_create(**kwargs)
        except IntegrityError as exc:
            create_errors.append(exc)
            raise

    monkeypatch.setattr(DataKey.objects, "filter", filter_missing_once)
    monkeypatch.setattr(DataKey.objects, "create", create_recording)
    second = vault_store(organization=org, purpose=PURPOSE, plaintext="second-value")
    monkeypatch.undo()

    assert len(create_errors) == 1  # the loser's insert hit the constraint

    assert list(DataKey.objects.filter(organization=org)) == [winner]
    assert VaultToken.objects.get(pk=second).data_key_id == winner.id
    data_key_cache_clear()
    assert vault_reveal(organization=org, token_id=first, purpose=PURPOSE) == "first-value"
    assert vault_reveal(organization=org, token_id=second, purpose=PURPOSE) == "second-value"


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_stores_end_with_one_data_key(keys: list[str]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs a database with concurrent writers")
    org = organization_create(name="Race", slug="race")
    barrier = threading.Barrier(4)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def store(n: int) -> None:
        try:
            barrier.wait()
            tokens.append(vault_store(organization=org, purpose=PURPOSE, plaintext=f"value-{n}"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=store, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert DataKey.objects.filter(organization=org).count() == 1
    data_key_cache_clear()
    revealed = {vault_reveal(organization=org, token_id=t, purpose=PURPOSE) for t in tokens}
    assert revealed == {f"value-{n}" for n in range(4)}


def test_wrong_organization_fails(
    org: Organization, other_org: Organization, keys: list[str]
) -> None:
    token_id = vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())

    with pytest.raises(VaultError) as excinfo:
        vault_reveal(organization=other_org, token_id=token_id, purpose=PURPOSE)
    assert excinfo.value.code == "vault_error"
    assert excinfo.value.type == "api"


def test_wrong_purpose_fails(org: Organization, keys: list[str]) -> None:
    token_id = vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())

    with pytest.raises(VaultError):
        vault_reveal(organization=org, token_id=token_id, purpose="credential.totp_secret")


def test_unknown_token_fails(org: Organization, keys: list[str]) -> None:
    with pytest.raises(VaultError):
        vault_reveal(organization=org, token_id="tok_doesnotexist", purpose=PURPOSE)


def test_tampered_ciphertext_fails(org: Organization, keys: list[str]) -> None:
    token_id = vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())
    ciphertext = bytearray(VaultToken.objects.get(pk=token_id).ciphertext)
    ciphertext[-1] ^= 0x01
    VaultToken.objects.filter(pk=token_id).update(ciphertext=bytes(ciphertext))

    with pytest.raises(VaultError):
        vault_reveal(organization=org, token_id=token_id, purpose=PURPOSE)


def test_ciphertext_copied_to_another_row_purpose_or_org_fails(
    org: Organization, other_org: Organization, keys: list[str]
) -> None:
    value = secret_value()
    source = VaultToken.objects.get(
        pk=vault_store(organization=org, purpose=PURPOSE, plaintext=value)
    )
    same_org = vault_store(organization=org, purpose=PURPOSE, plaintext="other-value")
    VaultToken.objects.filter(pk=same_org).update(ciphertext=source.ciphertext)
    with pytest.raises(VaultError):
        vault_reveal(organization=org, token_id=same_org, purpose=PURPOSE)

    # Relabelled in place: the stored purpose changes, the associated data does not.
    VaultToken.objects.filter(pk=source.pk).update(purpose="task_run.input")
    with pytest.raises(VaultError):
        vault_reveal(organization=org, token_id=source.pk, purpose="task_run.input")

    # Moved to another organization, even with that organization's data key.
    elsewhere = vault_store(organization=other_org, purpose=PURPOSE, plaintext="theirs")
    VaultToken.objects.filter(pk=elsewhere).update(ciphertext=source.ciphertext)
    with pytest.raises(VaultError):
        vault_reveal(organization=other_org, token_id=elsewhere, purpose=PURPOSE)


def test_tampered_data_key_fails(org: Organization, keys: list[str]) -> None:
    token_id = vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())
    wrapped = bytearray(DataKey.objects.get(organization=org).wrapped_key)
    wrapped[0] ^= 0x01
    DataKey.objects.filter(organization=org).update(wrapped_key=bytes(wrapped))
    data_key_cache_clear()

    with pytest.raises(VaultError):
        vault_reveal(organization=org, token_id=token_id, purpose=PURPOSE)


def test_destroy(org: Organization, other_org: Organization, keys: list[str]) -> None:
    mine = [vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())]
    mine.append(vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value()))
    theirs = vault_store(organization=other_org, purpose=PURPOSE, plaintext=secret_value())

    assert vault_destroy(organization=org, token_ids=[*mine, theirs, "tok_unknown"]) == 2
    assert vault_destroy(organization=org, token_ids=mine) == 0
    assert vault_destroy(organization=org, token_ids=[]) == 0
    with pytest.raises(VaultError):
        vault_reveal(organization=org, token_id=mine[0], purpose=PURPOSE)
    assert VaultToken.objects.filter(pk=theirs).exists()


def test_data_key_in_use_cannot_be_deleted_but_organization_can(
    org: Organization, keys: list[str]
) -> None:
    vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())
    with pytest.raises(RestrictedError):
        DataKey.objects.filter(organization=org).delete()

    org.delete()
    assert not DataKey.objects.exists()
    assert not VaultToken.objects.exists()


def test_rotation(settings, org: Organization, other_org: Organization) -> None:
    old, new = new_key(), new_key()
    old_id, new_id = kek_parse(old).id, kek_parse(new).id
    settings.VAULT_KEYS = [old]
    values = {}
    for organization in (org, other_org):
        for _ in range(2):
            value = secret_value()
            token_id = vault_store(organization=organization, purpose=PURPOSE, plaintext=value)
            values[token_id] = (organization, value)
    assert set(DataKey.objects.values_list("kek_id", flat=True)) == {old_id}

    settings.VAULT_KEYS = [new, old]
    # Mid-rotation, reads keep working with the row's own KEK.
    data_key_cache_clear()
    for token_id, (organization, value) in values.items():
        assert vault_reveal(organization=organization, token_id=token_id, purpose=PURPOSE) == value

    out = io.StringIO()
    call_command("vault_rotate", stdout=out)
    assert f"Rewrapped 2 data key(s) under key {new_id}" in out.getvalue()
    assert set(DataKey.objects.values_list("kek_id", flat=True)) == {new_id}

    out = io.StringIO()
    call_command("vault_rotate", stdout=out)
    assert "Rewrapped 0 data key(s)" in out.getvalue()

    for token_id, (organization, value) in values.items():
        assert vault_reveal(organization=organization, token_id=token_id, purpose=PURPOSE) == value

    settings.VAULT_KEYS = [new]
    data_key_cache_clear()
    for token_id, (organization, value) in values.items():
        assert vault_reveal(organization=organization, token_id=token_id, purpose=PURPOSE) == value
    assert vault_rotate() == 0


def test_removed_key_is_not_served_from_cache(settings, org: Organization) -> None:
    old, new = new_key(), new_key()
    settings.VAULT_KEYS = [old]
    token_id = vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())

    settings.VAULT_KEYS = [new]  # the old key dropped before any rotation
    with pytest.raises(VaultError) as excinfo:
        vault_reveal(organization=org, token_id=token_id, purpose=PURPOSE)
    assert excinfo.value.code == "vault_key_missing"


def test_rotate_command_names_missing_keys(settings, org: Organization) -> None:
    old, new = new_key(), new_key()
    settings.VAULT_KEYS = [old]
    vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())

    settings.VAULT_KEYS = [new]
    with pytest.raises(CommandError) as excinfo:
        call_command("vault_rotate", stdout=io.StringIO())
    assert kek_parse(old).id in str(excinfo.value)
    assert set(DataKey.objects.values_list("kek_id", flat=True)) == {kek_parse(old).id}


@pytest.mark.parametrize(
    "bad",
    [
        base64.urlsafe_b64encode(secrets.token_bytes(16)).decode(),
        "not base64 at all!",
        "",
    ],
)
def test_malformed_key(settings, org: Organization, bad: str) -> None:
    settings.VAULT_KEYS = [new_key(), bad]

    with pytest.raises(ImproperlyConfigured, match="DECK_VAULT_KEYS entry 2"):
        vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())

    errors = check_vault_keys()
    assert [e.id for e in errors] == ["vault.E001"]
    assert "DECK_VAULT_KEYS" in errors[0].msg
    if bad:
        assert bad not in errors[0].msg
    assert "vault.E001" in {message.id for message in run_checks()}


def test_empty_key_list_is_reported(settings) -> None:
    settings.VAULT_KEYS = []
    assert [e.id for e in check_vault_keys()] == ["vault.E001"]


def test_well_formed_keys_pass_the_check(settings) -> None:
    padded = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    standard = base64.b64encode(secrets.token_bytes(32)).decode()
    settings.VAULT_KEYS = [new_key(), padded, standard]
    assert check_vault_keys() == []


def test_revealed_values_are_masked_in_logs(org: Organization, keys: list[str]) -> None:
    value = secret_value()
    token_id = vault_store(organization=org, purpose=PURPOSE, plaintext=value)
    revealed = vault_reveal(organization=org, token_id=token_id, purpose=PURPOSE)

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.vault.redaction")
    logger.addFilter(RedactSecretsFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("logging in with password %s", revealed)
        logger.warning(f"inline {revealed}")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert value not in output
    assert output.count(MASK) == 2


def test_database_holds_no_plaintext(
    org: Organization, other_org: Organization, keys: list[str]
) -> None:
    plaintexts = [secret_value() for _ in range(3)]
    token_ids = [
        vault_store(organization=org, purpose=PURPOSE, plaintext=plaintexts[0]),
        vault_store(organization=org, purpose="credential.totp_secret", plaintext=plaintexts[1]),
        vault_store(organization=other_org, purpose="task_run.input", plaintext=plaintexts[2]),
    ]
    vault_rotate()
    # The dump must also miss what a reveal has touched.
    vault_reveal(organization=org, token_id=token_ids[0], purpose=PURPOSE)

    tables = set(connection.introspection.table_names())
    dumped: list[bytes] = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.db_table not in tables:
            continue  # an app whose migrations are not written yet
        names = [field.attname for field in model._meta.concrete_fields]
        for row in model._base_manager.values_list(*names):
            for value in row:
                if isinstance(value, memoryview):
                    value = value.tobytes()
                dumped.append(value if isinstance(value, bytes) else str(value).encode())
    assert any(bytes(VaultToken.objects.get(pk=token_ids[0]).ciphertext) in d for d in dumped)
    for plaintext in plaintexts:
        assert not any(plaintext.encode() in d for d in dumped)


def test_admin_is_read_only_and_shows_no_key_material(
    rf, admin_user, org: Organization, keys: list[str]
) -> None:
    token_id = vault_store(organization=org, purpose=PURPOSE, plaintext=secret_value())
    data_key = DataKey.objects.get(organization=org)

    for model, pk, secret_field in [
        (DataKey, data_key.pk, "wrapped_key"),
        (VaultToken, token_id, "ciphertext"),
    ]:
        model_admin = admin.site._registry[model]
        request = rf.get("/admin/")
        request.user = admin_user
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert model_admin.has_view_permission(request)
        assert secret_field not in model_admin.get_fields(request)
        assert secret_field not in model_admin.get_list_display(request)
        for response in (
            model_admin.changelist_view(request),
            model_admin.change_view(request, quote(str(pk))),
        ):
            response.render()  # type: ignore[attr-defined]
            body = response.content.decode()
            assert response.status_code == 200
            assert secret_field not in body
            assert org.name in body

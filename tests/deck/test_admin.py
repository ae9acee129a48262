"""Every model has an admin page that a superuser can open, and no secret shows on it."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tasks.execution import run_execute
from tasks.runs import run_create
from tests.api.factories import make_credential, make_task

pytestmark = pytest.mark.django_db

PROJECT_APPS = {"deck", "vault", "events", "tasks", "storage"}


def test_every_project_model_is_registered():
    missing = [
        model.__name__
        for model in apps.get_models()
        if model._meta.app_label in PROJECT_APPS and not admin.site.is_registered(model)
    ]
    assert missing == []


def test_admin_pages_open_and_hide_secrets(org, settings):
    settings.DECK_AGENT_PLANNER = "tests.tasks.planners.ScriptedPlanner"
    credential = make_credential(org, totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    task = make_task(
        org,
        prompt="login",
        input_schema={
            "type": "object",
            "properties": {"card": {"type": "string"}},
            "tokenized": ["card"],
        },
    )
    run = run_create(
        organization=org,
        task_id=task.id,
        input={"card": "4111111111111111"},
        credential_id=credential.id,
    )
    run_execute(run.id)
    superuser = get_user_model().objects.create_superuser(
        "root@deck.test", password="x-very-long-1"
    )
    client = Client()
    client.force_login(superuser)
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        info = (model._meta.app_label, model._meta.model_name)
        listing = client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert listing.status_code == 200, info
        pages = [listing.content]
        instance = model.objects.first()
        if instance is not None:
            # Quoted as the admin's own links are: an id with "_3F" in it would otherwise be
            # unquoted to "?" and the page would redirect as if the object were gone.
            url = reverse("admin:{}_{}_change".format(*info), args=[quote(instance.pk)])
            change = client.get(url)
            assert change.status_code == 200, info
            pages.append(change.content)
        for secret in (b"hunter2-secret", b"JBSWY3DPEHPK3PXP", b"4111111111111111"):
            assert all(secret not in page for page in pages), (info, secret)

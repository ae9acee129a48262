from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.api.factories import make_credential, make_task

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
PDF_LIKE = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Every test stores its files in its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_URL = "http://testserver"
    return settings.MEDIA_ROOT


@pytest.fixture
def credential(org):
    return make_credential(org)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def file_field(purpose: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "purpose": {"const": purpose},
            "file_name": {"type": "string"},
            "content_type": {"type": "string"},
            "data": {"type": "string", "contentEncoding": "base64"},
        },
    }


def attachment_task(org: Any, **fields: Any) -> Any:
    return make_task(
        org,
        name="Upload my resume",
        prompt=fields.pop("prompt", "Upload the resume."),
        input_schema={
            "type": "object",
            "properties": {
                "applicant_name": {"type": "string"},
                "resume": file_field("attachment"),
            },
            "required": ["resume"],
        },
        output_schema={"type": "object"},
        **fields,
    )


def attachment(data: bytes, name: str = "resume.pdf", content_type: str = "application/pdf"):
    return {
        "purpose": "attachment",
        "file_name": name,
        "content_type": content_type,
        "data": b64(data),
    }


def start(api: Any, task: Any, credential: Any, input: dict[str, Any], status: int = 201) -> Any:
    response = api.post(
        f"/v2/tasks/{task.id}/run", {"credential_id": credential.id, "input": input}
    )
    assert response.status_code == status, response.json()
    return response.json()

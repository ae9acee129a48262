"""Signed download links: local tokens through /files/<token>, S3 presigned URLs."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from moto.server import ThreadedMotoServer

from storage import signing
from storage.models import StorageItem
from storage.signing import signed_url
from tests.storage.conftest import PDF_LIKE, attachment, attachment_task, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(org, api, credential):
    task = attachment_task(org)
    run = start(api, task, credential, {"resume": attachment(PDF_LIKE, name="résumé 2025.pdf")})
    return StorageItem.objects.get(pk=run["storage"][0]["id"])


def url_of(item, **kwargs):
    return signed_url(
        path=item.file.name,
        organization_id=item.organization_id,
        file_name=item.file_name,
        content_type=item.file_type,
        **kwargs,
    )


def fetch(url):
    parts = urlsplit(url)
    return Client().get(parts.path)


def test_signed_url_downloads_the_file_with_its_name(item):
    url = url_of(item)
    assert url.startswith("http://testserver/files/")
    response = fetch(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF_LIKE
    assert response["Content-Type"] == "application/pdf"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=utf-8''r%C3%A9sum%C3%A9%202025.pdf" in disposition
    assert response["Cache-Control"] == "private, no-store"


def test_expired_link_is_refused(item, monkeypatch, settings):
    settings.DECK_STORAGE_URL_TTL_SECONDS = 60
    url = url_of(item)
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now + 59)
    assert fetch(url).status_code == 200
    monkeypatch.setattr(signing.time, "time", lambda: now + 61)
    response = fetch(url)
    assert response.status_code == 410
    assert b"expired" in response.content
    # An explicit lifetime wins over the setting.
    monkeypatch.setattr(signing.time, "time", lambda: now)
    short = url_of(item, expires_in=5)
    monkeypatch.setattr(signing.time, "time", lambda: now + 6)
    assert fetch(short).status_code == 410


def test_tampered_link_is_refused(item, other_org):
    url = url_of(item)
    token = urlsplit(url).path.removeprefix("/files/")
    payload, _, signature = token.rpartition(":")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    for forged in (f"{payload}:{flipped}", token[1:], "nonsense"):
        assert Client().get(f"/files/{forged}").status_code == 404
    # A token for another organization's object, correctly signed, grants nothing.
    foreign = signed_url(
        path=item.file.name,
        organization_id=other_org.id,
        file_name="x.pdf",
        content_type="application/pdf",
    )
    assert fetch(foreign).status_code == 404


def test_link_stops_working_when_the_item_is_gone_or_flagged(item):
    url = url_of(item)
    StorageItem.objects.filter(pk=item.pk).update(scan_status="infected")
    assert fetch(url).status_code == 404
    StorageItem.objects.filter(pk=item.pk).update(scan_status="clean")
    assert fetch(url).status_code == 200
    StorageItem.objects.filter(pk=item.pk).delete()
    assert fetch(url).status_code == 404


def test_paths_are_checked(org):
    for bad in ("../etc/passwd", "/etc/passwd", "storage/../../x", ""):
        with pytest.raises(signing.DownloadLinkInvalid):
            signed_url(path=bad, organization_id=org.id, file_name="x", content_type="text/plain")


def test_screenshots_of_the_organizations_runs(org, other_org, api, credential):
    task = attachment_task(org)
    run = start(api, task, credential, {"resume": attachment(PDF_LIKE)})
    name = default_storage.save(f"screenshots/{org.id}/{run['id']}/0001.png", ContentFile(b"PNG"))
    url = signed_url(
        path=name, organization_id=org.id, file_name="step-1.png", content_type="image/png"
    )
    response = fetch(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"PNG"
    # The same object claimed for another organization, or a run that is not theirs.
    for organization_id in (other_org.id,):
        forged = signed_url(
            path=name, organization_id=organization_id, file_name="s.png", content_type="image/png"
        )
        assert fetch(forged).status_code == 404
    elsewhere = default_storage.save(f"screenshots/{org.id}/trun_unknown/1.png", ContentFile(b"x"))
    url = signed_url(
        path=elsewhere, organization_id=org.id, file_name="1.png", content_type="image/png"
    )
    assert fetch(url).status_code == 404


# -- S3 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server():
    """A real S3-compatible server on loopback (moto), started by the test itself."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(settings, s3_server):
    bucket = "deck-files"
    options = {
        "bucket_name": bucket,
        "endpoint_url": s3_server,
        "region_name": "us-east-1",
        "access_key": "testing",
        "secret_key": "testing-secret",
        "default_acl": "private",
        "querystring_auth": True,
        "querystring_expire": 900,
        "file_overwrite": False,
    }
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    yield client
    for entry in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=entry["Key"])
    client.delete_bucket(Bucket=bucket)


def test_s3_objects_are_private_and_links_are_presigned(org, api, credential, s3, s3_server):
    task = attachment_task(org)
    run = start(api, task, credential, {"resume": attachment(PDF_LIKE, name="bill jan.pdf")})
    item = StorageItem.objects.get(pk=run["storage"][0]["id"])
    key = f"storage/{org.id}/{run['id']}/{item.id}/bill_jan.pdf"
    assert item.file.name == key
    assert s3.get_object(Bucket="deck-files", Key=key)["Body"].read() == PDF_LIKE
    # Not readable without a signature.
    assert httpx.get(f"{s3_server}/deck-files/{key}").status_code == 403

    url = api.get(f"/v2/storage/{item.id}").json()["url"]
    assert url.startswith(f"{s3_server}/deck-files/{key}?")
    assert "Signature" in url or "X-Amz-Signature" in url
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == PDF_LIKE
    assert response.headers["content-disposition"] == 'attachment; filename="bill jan.pdf"'
    assert response.headers["content-type"] == "application/pdf"
    # moto checks the expiry and the ACL but not the signature itself, so tampering is
    # not asserted here; the signature is botocore's own.


def test_s3_presigned_link_lifetime(org, api, credential, s3, settings):
    """moto serves presigned links without enforcing their expiry, so the lifetime signed
    into the link is checked instead."""
    task = attachment_task(org)
    run = start(api, task, credential, {"resume": attachment(PDF_LIKE)})
    item = StorageItem.objects.get(pk=run["storage"][0]["id"])
    for ttl, url in ((30, url_of(item, expires_in=30)), (900, url_of(item))):
        query = parse_qs(urlsplit(url).query)
        if "Expires" in query:  # signature version 2: an absolute epoch
            assert abs(int(query["Expires"][0]) - (time.time() + ttl)) < 5
        else:  # version 4: a lifetime in seconds
            assert int(query["X-Amz-Expires"][0]) == ttl
        assert httpx.get(url).status_code == 200

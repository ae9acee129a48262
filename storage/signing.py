"""Signed, expiring download links.

Local files: a token signed with the secret key (``django.core.signing``, own salt) naming
the object, its owner and when it expires, for the ``/files/<token>`` view, which checks the
signature and the expiry and re-checks ownership before streaming the file. S3: a presigned
``GetObject`` URL that carries the same download name and type, straight from the bucket.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils.http import content_disposition_header

from storage.errors import DownloadLinkInvalid

SALT = "deck.storage.download"


@dataclass(frozen=True)
class Download:
    """What a valid token grants: one object of one organization, under this name/type."""

    path: str
    organization_id: str
    file_name: str
    content_type: str


def url_ttl(expires_in: int | None) -> int:
    return int(expires_in if expires_in is not None else settings.DECK_STORAGE_URL_TTL_SECONDS)


def uses_s3() -> bool:
    return hasattr(default_storage, "bucket_name") and hasattr(default_storage, "connection")


def path_check(path: str) -> str:
    """A relative, normalised storage name: no absolute paths, no ``..``."""
    normal = posixpath.normpath(path)
    if not path or normal != path or normal.startswith(("/", "../")) or normal == "..":
        raise DownloadLinkInvalid("Not a storage path.")
    return normal


def signed_url(
    *,
    path: str,
    organization_id: str,
    file_name: str,
    content_type: str,
    expires_in: int | None = None,
) -> str:
    """A URL that downloads ``path`` as ``file_name`` until it expires (default
    ``DECK_STORAGE_URL_TTL_SECONDS``). Only for objects ``organization_id`` owns: a storage
    item's file or a run screenshot under ``screenshots/<organization_id>/``."""
    path = path_check(path)
    ttl = url_ttl(expires_in)
    if uses_s3():
        parameters = {
            "ResponseContentDisposition": content_disposition_header(True, file_name),
            "ResponseContentType": content_type,
        }
        s3: Any = default_storage  # django-storages' S3Storage.url takes these extras
        url: str = s3.url(path, parameters=parameters, expire=ttl)
        return url
    payload: dict[str, Any] = {
        "p": path,
        "o": organization_id,
        "n": file_name,
        "t": content_type,
        "e": int(time.time()) + ttl,
    }
    token = signing.dumps(payload, salt=SALT, compress=True)
    return settings.PUBLIC_URL + reverse("storage:download", args=[token])


def download_read(token: str) -> Download:
    """The object a token grants, if its signature holds and it has not expired."""
    try:
        payload = signing.loads(token, salt=SALT)
    except signing.BadSignature as exc:
        raise DownloadLinkInvalid("This download link is not valid.") from exc
    if not isinstance(payload, dict) or not {"p", "o", "n", "t", "e"} <= payload.keys():
        raise DownloadLinkInvalid("This download link is not valid.")
    if time.time() > payload["e"]:
        raise DownloadLinkInvalid(
            "This download link has expired; fetch the item again for a fresh one.", status=410
        )
    return Download(
        path=path_check(payload["p"]),
        organization_id=payload["o"],
        file_name=payload["n"],
        content_type=payload["t"],
    )

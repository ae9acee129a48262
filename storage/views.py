"""The download endpoint behind local signed links (S3 links go straight to the bucket)."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from storage.errors import DownloadLinkInvalid
from storage.selectors import download_owned
from storage.signing import download_read


@require_GET
def download(request: HttpRequest, token: str) -> HttpResponseBase:
    """No login: the signed token is the permission, checked together with its expiry and
    with the organization still owning the object (a deleted item's link stops working)."""
    try:
        grant = download_read(token)
    except DownloadLinkInvalid as exc:
        return HttpResponse(exc.message, status=exc.status, content_type="text/plain")
    if not download_owned(organization_id=grant.organization_id, path=grant.path):
        return HttpResponse("No such file.", status=404, content_type="text/plain")
    try:
        handle = default_storage.open(grant.path, "rb")
    except FileNotFoundError:
        return HttpResponse("No such file.", status=404, content_type="text/plain")
    response = FileResponse(
        handle, as_attachment=True, filename=grant.file_name, content_type=grant.content_type
    )
    response["Cache-Control"] = "private, no-store"
    return response

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from deck.api.main import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v2/", api.urls),
    path("", include("storage.urls")),
    path("sandbox/", include("tasks.sandbox.urls")),
    path("", include("console.urls")),
]

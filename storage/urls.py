from __future__ import annotations

from django.urls import path

from storage import views

app_name = "storage"

urlpatterns = [
    path("files/<str:token>", views.download, name="download"),
]

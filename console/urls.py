from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from console import views
from console.forms import LoginForm

app_name = "console"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("organization/switch/", views.organization_switch, name="organization_switch"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/create/", views.api_keys_create, name="api_keys_create"),
    path("api-keys/<str:key_id>/revoke/", views.api_keys_revoke, name="api_keys_revoke"),
]

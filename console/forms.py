from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Members sign in with their email address, which is also their username.
        self.fields["username"].label = "Email"


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        help_text="Say where the key is used, e.g. “billing sync (production)”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

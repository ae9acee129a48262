"""Forms of the sandbox portals; their labels are the portals' own wording."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django import forms

from tasks.sandbox.records import sandbox_today

MAX_PAYMENT = Decimal("5000.00")


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


class PaymentForm(forms.Form):
    """A bill payment by card or bank account; the portal templates render the fields with
    their own labels, ids and order."""

    amount = forms.DecimalField(min_value=Decimal("0.01"), max_value=MAX_PAYMENT, decimal_places=2)
    payment_date = forms.DateField(required=False)
    method = forms.ChoiceField(choices=[("card", "Card"), ("bank", "Bank account")])
    card_number = forms.CharField(required=False, max_length=30)
    card_expiry = forms.CharField(required=False, max_length=7)
    card_cvv = forms.CharField(required=False, max_length=4)
    cardholder_name = forms.CharField(required=False, max_length=120)
    routing_number = forms.CharField(required=False, max_length=9)
    bank_account_number = forms.CharField(required=False, max_length=17)
    account_holder = forms.CharField(required=False, max_length=120)

    def clean_amount(self) -> Decimal:
        return self.cleaned_data["amount"].quantize(Decimal("0.01"))

    def clean_payment_date(self) -> date:
        today = sandbox_today()
        value = self.cleaned_data.get("payment_date") or today
        if value < today:
            raise forms.ValidationError("The payment date cannot be in the past.")
        if value > today + timedelta(days=60):
            raise forms.ValidationError("Payments can be scheduled up to 60 days ahead.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("method") == "card":
            number = re.sub(r"[\s-]", "", data.get("card_number") or "")
            if not re.fullmatch(r"\d{13,19}", number) or not luhn_valid(number):
                self.add_error("card_number", "Enter a valid card number.")
            expiry = (data.get("card_expiry") or "").strip()
            match = re.fullmatch(r"(\d{2})\s*/\s*(\d{2}|\d{4})", expiry)
            if not match or not 1 <= int(match.group(1)) <= 12:
                self.add_error("card_expiry", "Enter the expiration date as MM/YY.")
            else:
                year = int(match.group(2))
                year = year + 2000 if year < 100 else year
                today = sandbox_today()
                if (year, int(match.group(1))) < (today.year, today.month):
                    self.add_error("card_expiry", "This card has expired.")
            if not re.fullmatch(r"\d{3,4}", (data.get("card_cvv") or "").strip()):
                self.add_error("card_cvv", "Enter the 3 or 4 digit security code.")
            if not (data.get("cardholder_name") or "").strip():
                self.add_error("cardholder_name", "Enter the name on the card.")
            data["last4"] = number[-4:]
        elif data.get("method") == "bank":
            if not re.fullmatch(r"\d{9}", (data.get("routing_number") or "").strip()):
                self.add_error("routing_number", "Enter the 9 digit routing number.")
            account = (data.get("bank_account_number") or "").strip()
            if not re.fullmatch(r"\d{4,17}", account):
                self.add_error("bank_account_number", "Enter the bank account number.")
            if not (data.get("account_holder") or "").strip():
                self.add_error("account_holder", "Enter the account holder's name.")
            data["last4"] = account[-4:]
        return data

"""The demo task templates: source-agnostic prompts and schemas (seed 001), each naming the
sandbox portals it applies to.

``bootstrap_demo`` creates them as tasks of the demo agent; the console offers them as
templates; the agent's tests run every template on every portal it applies to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DATE = {"type": "string", "format": "date"}
NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}
PERIOD = {
    "type": "object",
    "properties": {"start_date": DATE, "end_date": DATE},
    "required": ["start_date", "end_date"],
}


@dataclass(frozen=True)
class TaskTemplate:
    key: str
    name: str
    prompt: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    sources: tuple[str, ...]
    write: bool = False
    storage: dict[str, Any] = field(default_factory=dict)

    def task_fields(self) -> dict[str, Any]:
        """Keyword arguments for ``tasks.services.task_create`` (plus organization, agent_id)."""
        return {
            "name": self.name,
            "prompt": self.prompt,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "storage": self.storage,
        }


TEMPLATES: tuple[TaskTemplate, ...] = (
    TaskTemplate(
        key="fetch_latest_bill",
        name="Fetch my latest bill",
        prompt=(
            "Log in to the source and fetch my latest bill: the account it is for, the billing "
            "period, the amount due, the due date and the usage with its unit. Capture the "
            "bill's PDF."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "account_number": {
                    "type": "string",
                    "description": "Which service account, when the login has several.",
                }
            },
        },
        output_schema={
            "type": "object",
            "properties": {
                "account_number": {"type": "string"},
                "billing_period": PERIOD,
                "amount_due": {"type": "number"},
                "due_date": DATE,
                "usage": {"type": ["number", "null"]},
                "usage_unit": {"type": ["string", "null"]},
            },
            "required": ["account_number", "billing_period", "amount_due", "due_date"],
        },
        storage={"enabled": True},
        sources=("brightwater", "cascade"),
    ),
    TaskTemplate(
        key="list_upcoming_reservations",
        name="List upcoming reservations",
        prompt="Log in and fetch my upcoming reservations.",
        input_schema={"type": "object", "properties": {}},
        output_schema={
            "type": "object",
            "properties": {
                "reservations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "confirmation_number": {"type": "string"},
                            "hotel_name": {"type": "string"},
                            "check_in": DATE,
                            "check_out": DATE,
                            "guests": {"type": ["integer", "null"]},
                            "total_cost": {"type": "number"},
                        },
                        "required": [
                            "confirmation_number",
                            "hotel_name",
                            "check_in",
                            "check_out",
                            "total_cost",
                        ],
                    },
                }
            },
            "required": ["reservations"],
        },
        sources=("harbor",),
    ),
    TaskTemplate(
        key="pay_bill",
        name="Pay my bill",
        prompt=(
            "Log in and pay my bill: the given amount, by card, on the given date (today when "
            "none is given). Return the payment's confirmation number."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "amount": {"type": "number", "exclusiveMinimum": 0},
                "payment_date": DATE,
                "account_number": {"type": "string"},
                "card_number": {"type": "string", "pattern": "^[0-9 ]{13,23}$"},
                "card_expiry": {
                    "type": "string",
                    "pattern": "^(0[1-9]|1[0-2])/[0-9]{2}$",
                    "description": "MM/YY",
                },
                "card_cvv": {"type": "string", "pattern": "^[0-9]{3,4}$"},
                "cardholder_name": {"type": "string", "minLength": 1},
            },
            "required": ["amount", "card_number", "card_expiry", "card_cvv", "cardholder_name"],
            "tokenized": ["card_number", "card_cvv", "cardholder_name"],
        },
        output_schema={
            "type": "object",
            "properties": {
                "confirmation_number": {"type": "string"},
                "amount_paid": {"type": "number"},
                "payment_date": DATE,
            },
            "required": ["confirmation_number", "amount_paid", "payment_date"],
        },
        sources=("brightwater", "cascade"),
        write=True,
    ),
    TaskTemplate(
        key="download_payslips",
        name="Download my payslips",
        prompt=(
            "Log in and download my payslips: for each one the pay date, the pay period, the "
            "gross pay and the net pay. Capture each payslip's document."
        ),
        input_schema={"type": "object", "properties": {}},
        output_schema={
            "type": "object",
            "properties": {
                "payslips": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "pay_date": DATE,
                            "period": PERIOD,
                            "gross_pay": {"type": "number"},
                            "net_pay": {"type": "number"},
                        },
                        "required": ["pay_date", "period", "gross_pay", "net_pay"],
                    },
                }
            },
            "required": ["payslips"],
        },
        storage={"enabled": True},
        sources=("paystream",),
    ),
    TaskTemplate(
        key="cancel_reservation",
        name="Cancel a reservation",
        prompt=(
            "Log in and cancel the reservation with the given confirmation number. Return the "
            "cancellation number."
        ),
        input_schema={
            "type": "object",
            "properties": {"confirmation_number": {"type": "string", "minLength": 1}},
            "required": ["confirmation_number"],
        },
        output_schema={
            "type": "object",
            "properties": {
                "confirmation_number": {"type": "string"},
                "cancellation_number": {"type": "string"},
                "status": {"type": "string"},
            },
            "required": ["cancellation_number"],
        },
        sources=("harbor",),
        write=True,
    ),
)


def catalog_templates() -> tuple[TaskTemplate, ...]:
    return TEMPLATES


def catalog_template(key: str) -> TaskTemplate:
    for template in TEMPLATES:
        if template.key == key:
            return template
    raise KeyError(f"No task template {key!r}")


def catalog_for_source(slug: str) -> list[TaskTemplate]:
    """The templates that apply to one sandbox portal."""
    return [template for template in TEMPLATES if slug in template.sources]

"""Meaning and mapping without a browser: concepts, values, output schemas from snapshots."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from tasks.agent.mapping import Mapping_, concepts, convert, label_score, map_snapshot, parse_date

BILL = {
    "type": "object",
    "properties": {
        "amount_due": {"type": "number", "description": "Total amount due"},
        "due_date": {"type": "string", "format": "date"},
        "statement_date": {"type": ["string", "null"], "description": "When the bill was issued"},
        "account_number": {"type": "string"},
        "usage_kwh": {"type": ["number", "null"]},
        "autopay": {"type": ["boolean", "null"]},
    },
    "required": ["amount_due", "due_date"],
}


def snapshot(**parts):
    return {"pairs": [], "tables": [], "text": "", **parts}


def test_synonyms_and_phrases_fold_to_one_concept():
    assert concepts("Pay stubs") == concepts("Payslips") == concepts("earnings statements")
    assert concepts("Billing history") & concepts("statements")
    assert concepts("My bookings") == concepts("reservations")
    assert not concepts("Pay my bill") & concepts("Payslips")


def test_values_convert_to_the_schema_types():
    assert convert("$1,234.50", {"type": "number"}) == 1234.5
    assert convert("-$12.00", {"type": "number"}) == -12.0
    assert convert("(15.25)", {"type": "number"}) == -15.25
    assert convert("3 nights", {"type": "integer"}) == 3
    assert convert("Feb 1, 2025", {"type": "string", "format": "date"}) == "2025-02-01"
    assert convert("01/02/2025", {"type": "string"}, "due_date") == "2025-01-02"
    assert convert("Yes", {"type": "boolean"}) is True
    assert convert("pending", {"type": "string", "enum": ["Paid", "Pending"]}) == "Pending"
    assert convert("soon", {"type": "string", "format": "date"}) is None
    assert convert("—", {"type": "number"}) is None
    assert parse_date("Mar 1, 2025 \u2013 Mar 31, 2025") == "2025-03-01"
    assert parse_date("March 3") is None  # no year: not a date to state


def test_labels_score_by_meaning():
    prop = BILL["properties"]["amount_due"]
    assert label_score("amount_due", prop, "Amount due") > label_score("amount_due", prop, "Usage")
    assert label_score("due_date", {}, "Payment due") > label_score("due_date", {}, "Bill date")


def test_pairs_and_the_latest_table_row_fill_a_bill():
    result = Mapping_(BILL)
    page = snapshot(
        pairs=[
            {"label": "Account number", "value": "BW-100-2001", "group": "", "card": 0},
            {"label": "Amount due", "value": "$84.12", "group": "", "card": 0},
            {"label": "Payment due", "value": "February 14, 2025", "group": "", "card": 0},
        ],
        tables=[
            {
                "caption": "Billing history",
                "heading": "",
                "headers": ["Statement date", "Usage (kWh)", "Amount", "Autopay"],
                "rows": [
                    {"cells": ["Dec 20, 2024", "512", "$77.00", "No"], "links": []},
                    {"cells": ["Jan 20, 2025", "640", "$84.12", "No"], "links": []},
                ],
            }
        ],
    )
    map_snapshot(BILL, page, result, goal=concepts("latest bill"))
    output = result.output()
    assert output == {
        "amount_due": 84.12,
        "due_date": "2025-02-14",
        "statement_date": "2025-01-20",
        "account_number": "BW-100-2001",
        "usage_kwh": 640.0,
        "autopay": False,
    }
    assert not list(Draft202012Validator(BILL).iter_errors(output))


def test_missing_data_is_null_and_still_valid():
    result = Mapping_(BILL)
    map_snapshot(
        BILL, snapshot(pairs=[{"label": "Amount due", "value": "$5.00"}]), result, goal=set()
    )
    output = result.output()
    assert output["amount_due"] == 5.0
    assert output["statement_date"] is None
    assert output["due_date"] is None  # required, not nullable: the lifecycle will say so
    assert "account_number" not in output  # optional and not nullable: left out


RESERVATIONS = {
    "type": "object",
    "properties": {
        "reservations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "confirmation_number": {"type": "string"},
                    "hotel": {"type": "string"},
                    "check_in": {"type": "string", "format": "date"},
                    "check_out": {"type": "string", "format": "date"},
                    "guests": {"type": ["integer", "null"]},
                },
            },
        }
    },
}


def test_arrays_come_from_the_table_that_fits_best():
    result = Mapping_(RESERVATIONS)
    page = snapshot(
        tables=[
            {
                "caption": "",
                "heading": "Past stays",
                "headers": ["Confirmation", "Hotel", "Arrival", "Departure"],
                "rows": [{"cells": ["HB-1", "Old Inn", "Jan 1, 2024", "Jan 2, 2024"]}],
            },
            {
                "caption": "",
                "heading": "Upcoming reservations",
                "headers": ["Confirmation #", "Hotel", "Check-in", "Check-out", "Guests"],
                "rows": [{"cells": ["HB-2", "Harbor View", "2030-05-01", "2030-05-04", "2"]}],
            },
        ]
    )
    map_snapshot(RESERVATIONS, page, result, goal=concepts("List upcoming reservations"))
    assert result.output()["reservations"] == [
        {
            "confirmation_number": "HB-2",
            "hotel": "Harbor View",
            "check_in": "2030-05-01",
            "check_out": "2030-05-04",
            "guests": 2,
        }
    ]


def test_arrays_come_from_repeated_cards_too():
    result = Mapping_(RESERVATIONS)
    pairs = [
        {"label": "Confirmation", "value": "HB-7", "group": "Seaside Lodge", "card": 1},
        {"label": "Arrival", "value": "June 3, 2030", "group": "Seaside Lodge", "card": 1},
        {"label": "Departure", "value": "June 5, 2030", "group": "Seaside Lodge", "card": 1},
        {"label": "Confirmation", "value": "HB-8", "group": "Dock House", "card": 2},
        {"label": "Arrival", "value": "July 3, 2030", "group": "Dock House", "card": 2},
    ]
    map_snapshot(RESERVATIONS, snapshot(pairs=pairs), result, goal=set())
    rows = result.output()["reservations"]
    assert [(r["confirmation_number"], r["hotel"], r["check_in"]) for r in rows] == [
        ("HB-7", "Seaside Lodge", "2030-06-03"),
        ("HB-8", "Dock House", "2030-07-03"),
    ]
    assert "check_out" not in rows[1]  # optional and not nullable: left out


def test_a_confirmation_number_is_read_from_running_text():
    schema = {"type": "object", "properties": {"confirmation_number": {"type": "string"}}}
    result = Mapping_(schema)
    text = "Thank you! Your payment was received. Confirmation number: PAY-88231."
    map_snapshot(schema, snapshot(text=text), result, goal=set())
    assert result.output() == {"confirmation_number": "PAY-88231"}

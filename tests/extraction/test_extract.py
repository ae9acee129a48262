from __future__ import annotations

import datetime
import io
import json
import shutil
from typing import Any

import jsonschema
import openpyxl
import pytest

from storage.extraction import ExtractionError, ExtractionResult, extract
from storage.extraction.engine import nullable
from tests.extraction import documents

DATE = {"type": "string", "format": "date"}
BILL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "company_name": {"type": "string"},
        "account_number": {"type": "string"},
        "billing_date": DATE,
        "billing_period": {
            "type": "object",
            "properties": {
                "start_date": DATE,
                "end_date": DATE,
                "total_days": {"type": "integer"},
            },
        },
        "amount_due": {"type": "number"},
        "payment_due_date": DATE,
        "currency": {"type": "string"},
        "service_address": {
            "type": "object",
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "state": {"type": "string"},
                "postal_code": {"type": "string"},
            },
        },
        "total_usage": {"type": "number"},
        "total_usage_unit": {"type": "string"},
        "meter_number": {"type": "string"},
    },
}
INVOICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "vendor_name": {"type": "string"},
        "invoice_number": {"type": "string"},
        "invoice_date": DATE,
        "due_date": DATE,
        "customer_name": {"type": "string"},
        "subtotal": {"type": "number"},
        "tax": {"type": "number"},
        "total_amount": {"type": "number"},
        "currency": {"type": "string"},
        "line_items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "description": {"type": "string"},
                    "quantity": {"type": "integer"},
                    "unit_price": {"type": "number"},
                    "amount": {"type": "number"},
                },
            },
        },
    },
}


def run(data: bytes, name: str, content_type: str | None, schema: Any, **kw: Any):
    result = extract(data=data, file_name=name, content_type=content_type, schema=schema, **kw)
    assert isinstance(result, ExtractionResult)
    if schema is not None:
        # Every property is present and the whole result validates (null = not found).
        assert set(result.data) == set(schema["properties"])
        jsonschema.validate(result.data, nullable(schema))
    return result


def assert_provenance(result: ExtractionResult, text_of: dict[str, str]) -> None:
    """Each named field has provenance whose line shows the value as printed."""
    for path, printed in text_of.items():
        record = result.provenance[path]
        assert record["page"] >= 1
        assert printed in record["text"], (path, record)
        start, end = record["span"]
        assert 0 <= start <= end


def test_utility_bill_with_right_aligned_values_fills_nested_fields():
    result = run(documents.utility_bill(), "bill.pdf", "application/pdf", BILL_SCHEMA)

    assert result.file_type == "pdf"
    assert result.pages == 1
    assert result.data == {
        "company_name": "EnergyLink",
        "account_number": "58291-44720",
        "billing_date": "2025-01-22",
        "billing_period": {"start_date": "2024-12-18", "end_date": "2025-01-20", "total_days": 33},
        "amount_due": 8247.41,
        "payment_due_date": "2025-02-14",
        "currency": "USD",
        "service_address": {
            "street": "4421 OAK VIEW LN UNIT 3A",
            "city": "CAMBRIDGE",
            "state": "MA",
            "postal_code": "02140",
        },
        "total_usage": 5348,
        "total_usage_unit": "Therms",
        "meter_number": None,
    }
    assert_provenance(
        result,
        {
            "amount_due": "Balance Due",
            "account_number": "58291-44720",
            "billing_period/start_date": "Service Period",
            "service_address/city": "CAMBRIDGE, MA 02140",
            "payment_due_date": "Pay By",
        },
    )
    assert result.provenance["billing_period/total_days"]["derived"] is True
    assert "meter_number" not in result.provenance


def test_provenance_span_points_at_the_value_in_the_document_text():
    data = documents.utility_bill()
    result = run(data, "bill.pdf", "application/pdf", BILL_SCHEMA)
    generic = run(data, "bill.pdf", "application/pdf", None)
    text = generic.data["text_excerpt"]
    start, end = result.provenance["amount_due"]["span"]
    assert text[start:end] == "$8,247.41"
    start, end = result.provenance["account_number"]["span"]
    assert text[start:end] == "58291-44720"


def test_invoice_line_items_come_from_the_table_and_totals_from_below_it():
    result = run(documents.invoice_with_table(), "inv.pdf", "application/pdf", INVOICE_SCHEMA)

    data = result.data
    assert data["vendor_name"] == "Northwind Supplies Inc."
    assert data["invoice_number"] == "INV-20931"
    assert data["invoice_date"] == "2026-01-05"
    assert data["due_date"] == "2026-02-04"
    assert data["customer_name"] == "Acme Robotics LLC"
    assert (data["subtotal"], data["tax"], data["total_amount"]) == (301.98, 24.16, 326.14)
    assert data["currency"] == "USD"
    assert data["line_items"] == [
        {"description": "Safety gloves (box)", "quantity": 4, "unit_price": 12.5, "amount": 50.0},
        {"description": "Steel-toe boots", "quantity": 2, "unit_price": 89.99, "amount": 179.98},
        {"description": "Hard hat", "quantity": 3, "unit_price": 24.0, "amount": 72.0},
    ]
    assert_provenance(result, {"line_items/1/amount": "Steel-toe boots", "total_amount": "Total"})


def test_statement_with_labels_above_values():
    result = run(documents.statement_labels_above(), "s.pdf", "application/pdf", BILL_SCHEMA)

    data = result.data
    assert data["company_name"] == "Harbor City Water"
    assert data["account_number"] == "771-204-88"
    assert data["billing_date"] == "2026-03-03"
    assert data["amount_due"] == 142.07
    assert data["payment_due_date"] == "2026-03-24"
    # The printed day count wins over the computed one.
    assert data["billing_period"] == {
        "start_date": "2026-01-28",
        "end_date": "2026-02-27",
        "total_days": 30,
    }
    assert "derived" not in result.provenance["billing_period/total_days"]
    assert_provenance(result, {"amount_due": "$142.07"})


def test_two_column_receipt():
    result = run(documents.two_column_receipt(), "r.pdf", "application/pdf", INVOICE_SCHEMA)

    data = result.data
    assert data["vendor_name"] == "BLUE BOTTLE CAFE"
    assert data["invoice_number"] == "R-55120"
    assert data["invoice_date"] == "2026-01-05"
    assert (data["subtotal"], data["tax"], data["total_amount"]) == (18.5, 1.53, 20.03)
    assert data["due_date"] is None
    assert data["line_items"] is None


def test_european_invoice_comma_decimals_day_first_dates_euros():
    result = run(documents.european_invoice(), "re.pdf", "application/pdf", BILL_SCHEMA)

    data = result.data
    assert data["company_name"] == "Stadtwerke Lindenau GmbH"
    assert data["account_number"] == "K-99812"
    assert data["billing_date"] == "2026-01-05"
    assert data["payment_due_date"] == "2026-01-19"
    assert data["billing_period"]["start_date"] == "2025-12-01"
    assert data["billing_period"]["end_date"] == "2025-12-31"
    assert data["amount_due"] == 1234.56
    assert data["currency"] == "EUR"

    invoice = run(documents.european_invoice(), "re.pdf", None, INVOICE_SCHEMA).data
    assert invoice["invoice_number"] == "RE-2026-0042"
    assert invoice["total_amount"] == 1234.56
    # The totals row under the table is not an item.
    assert [item["amount"] for item in invoice["line_items"]] == [1034.56, 200.0]


def test_provenance_names_the_page_a_value_is_on():
    result = run(documents.two_page_statement(), "s.pdf", "application/pdf", BILL_SCHEMA)

    assert result.pages == 2
    assert result.data["amount_due"] == -1020.0  # "(1,020.00)"
    assert result.provenance["amount_due"]["page"] == 2
    assert result.provenance["account_number"]["page"] == 1
    assert result.data["billing_period"]["start_date"] == "2026-02-01"
    assert result.data["currency"] is None  # no symbol or code anywhere


def test_dedup_style_flat_fields_read_one_end_of_a_period():
    schema = {
        "type": "object",
        "properties": {
            "account_number": {"type": "string", "description": "Utility account number"},
            "billing_period_start": {
                "type": "string",
                "description": "Billing period start date (YYYY-MM-DD)",
            },
            "billing_period_end": {"type": "string", "description": "End date (YYYY-MM-DD)"},
        },
    }
    result = run(documents.utility_bill(), "bill.pdf", "application/pdf", schema)
    assert result.data == {
        "account_number": "58291-44720",
        "billing_period_start": "2024-12-18",
        "billing_period_end": "2025-01-20",
    }


def test_csv_of_labels_and_values():
    data = (
        b"Field,Value\nVendor,Acme Water\nAccount Number,A-1002\n"
        b'Invoice Date,03/15/2026\nTotal,"$1,045.20"\n'
    )
    result = run(data, "export.csv", "text/csv", INVOICE_SCHEMA)
    assert result.file_type == "csv"
    assert result.data["vendor_name"] == "Acme Water"
    assert result.data["invoice_date"] == "2026-03-15"
    assert result.data["total_amount"] == 1045.2
    assert result.data["currency"] == "USD"


def test_csv_table_with_semicolons_and_decimal_commas_fills_an_array():
    data = "Beschreibung;Menge;Betrag\nWidget;3;12,50\nGadget;1;7,25\n".encode("cp1252")
    result = run(data, "items.csv", "text/csv", INVOICE_SCHEMA)
    assert result.data["line_items"] == [
        {"description": "Widget", "quantity": 3, "unit_price": None, "amount": 12.5},
        {"description": "Gadget", "quantity": 1, "unit_price": None, "amount": 7.25},
    ]
    assert result.data["total_amount"] is None


def test_xlsx_header_block_then_table():
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Invoice", "INV-7"])
    sheet.append(["Invoice date", datetime.datetime(2026, 4, 2)])
    sheet.append(["Vendor", "Contoso Ltd"])
    sheet.append([])
    sheet.append(["Description", "Quantity", "Amount"])
    sheet.append(["Consulting", 10, 1500.0])
    sheet.append(["Travel", 1, 320.5])
    sheet.append(["Total", None, 1820.5])
    buffer = io.BytesIO()
    workbook.save(buffer)

    result = run(buffer.getvalue(), "inv.xlsx", None, INVOICE_SCHEMA)
    assert result.file_type == "xlsx"
    data = result.data
    assert (data["vendor_name"], data["invoice_number"]) == ("Contoso Ltd", "INV-7")
    assert data["invoice_date"] == "2026-04-02"
    assert data["total_amount"] == 1820.5
    assert data["line_items"] == [
        {"description": "Consulting", "quantity": 10, "unit_price": None, "amount": 1500.0},
        {"description": "Travel", "quantity": 1, "unit_price": None, "amount": 320.5},
    ]


HTML = b"""<!doctype html><html><head><title>Your bill - Sunrise Telecom</title>
<style>.label { color: grey }</style></head><body>
<h1>Sunrise Telecom</h1>
<div class="row"><span class="label">Account number</span><span>ST-88123</span></div>
<dl><dt>Invoice date</dt><dd>14 February 2026</dd><dt>Payment due</dt><dd>March 7, 2026</dd></dl>
<p>AutoPay: <b>Enabled</b></p>
<table><tr><th>Service</th><th>Qty</th><th>Amount</th></tr>
<tr><td>Fiber 500</td><td>1</td><td>$59.99</td></tr>
<tr><td>TV add-on</td><td>2</td><td>$20.00</td></tr></table>
<table><tr><th>Total due</th><td>$79.99</td></tr></table>
<script>var hidden = "Total due: $1.00";</script>
</body></html>"""


def test_html_spans_definition_lists_and_tables():
    schema = {
        "type": "object",
        "properties": {
            **INVOICE_SCHEMA["properties"],
            "account_number": {"type": "string"},
            "autopay": {"type": "boolean"},
        },
    }
    result = run(HTML, "bill.html", "text/html", schema)
    data = result.data
    assert result.file_type == "html"
    assert data["vendor_name"] == "Sunrise Telecom"
    assert data["account_number"] == "ST-88123"
    assert data["invoice_date"] == "2026-02-14"
    assert data["due_date"] == "2026-03-07"
    assert data["total_amount"] == 79.99  # not the $1.00 inside <script>
    assert data["autopay"] is True
    assert data["invoice_number"] is None
    assert [item["description"] for item in data["line_items"]] == ["Fiber 500", "TV add-on"]
    assert [item["quantity"] for item in data["line_items"]] == [1, 2]


def test_plain_text_with_leader_dots_and_sentences():
    text = (
        b"CITY OF SPRINGFIELD - PARKING SERVICES\n"
        b"Citation number ........ PK-22019\n"
        b"Issued ................. 2026-02-11\n"
        b"Please pay USD 45.00 before March 1st, 2026 to avoid a late fee.\n"
    )
    schema = {
        "type": "object",
        "properties": {
            "citation_number": {"type": "string"},
            "issue_date": DATE,
            "amount_due": {"type": "number"},
            "currency": {"type": "string"},
        },
    }
    result = run(text, "notice.txt", "text/plain", schema)
    assert result.data == {
        "citation_number": "PK-22019",
        "issue_date": "2026-02-11",
        "amount_due": 45.0,
        "currency": "USD",
    }


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")
def test_image_is_read_with_ocr():
    png = documents.png_of_lines(
        [
            ("Northwind Market", ""),
            ("Invoice Number", "NM-4471"),
            ("Invoice Date", "January 9, 2026"),
            ("Amount Due", "$245.10"),
        ]
    )
    result = run(png, "scan.png", "image/png", INVOICE_SCHEMA)
    assert result.file_type == "image"
    assert result.data["vendor_name"] == "Northwind Market"
    assert result.data["invoice_number"] == "NM-4471"
    assert result.data["invoice_date"] == "2026-01-09"
    assert result.data["total_amount"] == 245.1
    assert result.provenance["total_amount"]["page"] == 1


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed")
def test_scanned_pdf_without_text_layer_is_read_with_ocr():
    png = documents.png_of_lines([("Invoice Number", "SC-1188"), ("Amount Due", "$77.40")])
    result = run(documents.scanned_pdf(png), "scan.pdf", "application/pdf", INVOICE_SCHEMA)
    assert result.file_type == "pdf"
    assert result.data["invoice_number"] == "SC-1188"
    assert result.data["total_amount"] == 77.4


def test_image_without_tesseract_is_a_clear_error(monkeypatch):
    from storage.extraction import readers

    monkeypatch.setattr(readers, "ocr_available", lambda: False)
    png = documents.png_of_lines([("Total", "$1.00")])
    with pytest.raises(ExtractionError, match="tesseract"):
        extract(data=png, file_name="scan.png", content_type="image/png", schema=INVOICE_SCHEMA)


def test_prompt_can_say_dates_are_day_first():
    text = b"Acme Ltd\nInvoice date: 03/04/2026\nTotal: 10.00\n"
    schema = {"type": "object", "properties": {"invoice_date": DATE}}
    assert run(text, "a.txt", "text/plain", schema).data["invoice_date"] == "2026-03-04"
    result = run(text, "a.txt", "text/plain", schema, prompt="Dates are day-first (dd/mm/yyyy).")
    assert result.data["invoice_date"] == "2026-04-03"


def test_values_failing_their_schema_are_none_and_enum_is_matched():
    text = b"Invoice #: ABC\nStatus: Paid in full\nTotal: $12.00\nRating: 7\n"
    schema = {
        "type": "object",
        "properties": {
            "invoice_number": {"type": "string", "pattern": "^[0-9]+$"},
            "status": {"type": "string", "enum": ["paid", "unpaid"]},
            "total_amount": {"type": "number", "maximum": 5},
            "rating": {"type": "integer", "minimum": 1, "maximum": 10},
        },
        "required": ["invoice_number"],
    }
    result = run(text, "a.txt", "text/plain", schema)
    assert result.data == {
        "invoice_number": None,
        "status": "paid",
        "total_amount": None,
        "rating": 7,
    }


def test_nullable_and_array_of_strings_schemas():
    text = b"Vendor: Bolt Parts\nTags: urgent, hardware, q1\nPaid: no\n"
    schema = {
        "type": "object",
        "properties": {
            "vendor": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "paid": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
            "notes": {"type": "array", "items": {"type": "string"}},
        },
    }
    result = run(text, "a.txt", "text/plain", schema)
    assert result.data == {
        "vendor": "Bolt Parts",
        "tags": ["urgent", "hardware", "q1"],
        "paid": False,
        "notes": None,
    }


def test_generic_extraction_without_schema():
    result = run(documents.invoice_with_table(), "inv.pdf", "application/pdf", None)
    data = result.data
    assert set(data) == {"fields", "tables", "text_excerpt"}
    assert data["fields"]["Invoice #"] == "INV-20931"
    assert data["fields"]["Total"] == "$326.14"
    assert data["fields"]["Bill To"] == "Acme Robotics LLC"
    assert "Item Description" not in data["fields"]  # table headers are not labels
    assert data["tables"] == [
        {
            "page": 1,
            "header": ["Item Description", "Qty", "Unit Price", "Line Total"],
            "rows": [
                ["Safety gloves (box)", "4", "$12.50", "$50.00"],
                ["Steel-toe boots", "2", "$89.99", "$179.98"],
                ["Hard hat", "3", "$24.00", "$72.00"],
            ],
        }
    ]
    assert "Northwind Supplies Inc." in data["text_excerpt"]
    assert result.provenance["fields/Total"]["text"] == "Total:  $326.14"


@pytest.mark.parametrize(
    ("data", "name", "content_type", "message"),
    [
        (b"", "empty.pdf", "application/pdf", "empty"),
        (b"this is not a pdf", "bill.pdf", "application/pdf", "not a PDF"),
        (b"%PDF-1.7\n garbage garbage", "broken.pdf", "application/pdf", "PDF could not be read"),
        (b"\x00\x01\x02binary", "clip.mp4", "video/mp4", "Unsupported file type"),
        (b"PK\x03\x04not really a zip", "book.xlsx", None, "Unsupported"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old.xls", None, "legacy Office"),
        (b"\x89PNG\r\n\x1a\nnot an image", "x.png", "image/png", "could not be decoded"),
        (b"   \n\n  ", "blank.txt", "text/plain", "No text"),
    ],
)
def test_unreadable_files_raise_extraction_error(data, name, content_type, message):
    if "png" in name and shutil.which("tesseract") is None:
        pytest.skip("tesseract-ocr is not installed")
    with pytest.raises(ExtractionError, match=message) as raised:
        extract(data=data, file_name=name, content_type=content_type, schema=INVOICE_SCHEMA)
    assert raised.value.code == "extraction_failed"


def test_truncated_pdf_raises_extraction_error():
    data = documents.invoice_with_table()
    with pytest.raises(ExtractionError):
        extract(data=data[: len(data) // 3], file_name="cut.pdf", content_type="application/pdf")


def test_invalid_schema_is_rejected():
    with pytest.raises(ExtractionError, match="schema"):
        extract(
            data=b"Total: 1",
            file_name="a.txt",
            content_type="text/plain",
            schema={"type": "object", "properties": {"x": {"type": "nonsense"}}},
        )


def test_password_protected_pdf_is_a_clear_error():
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf_canvas = canvas.Canvas(
        buffer, encrypt=pdfencrypt.StandardEncryption("secret-pw", canPrint=0)
    )
    pdf_canvas.drawString(72, 720, "Amount due: $1.00")
    pdf_canvas.showPage()
    pdf_canvas.save()
    with pytest.raises(ExtractionError, match="encrypted with a password"):
        extract(data=buffer.getvalue(), file_name="locked.pdf", content_type="application/pdf")


def test_fields_the_document_does_not_have_stay_none():
    schema = {
        "type": "object",
        "properties": {
            "passport_number": {"type": "string"},
            "date_of_birth": DATE,
            "flight": {
                "type": "object",
                "properties": {"departure_date": DATE, "seat": {"type": "string"}},
            },
            "baggage_fees": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"airline": {"type": "string"}, "kg": {"type": "number"}},
                },
            },
        },
    }
    for data in (documents.utility_bill(), documents.invoice_with_table()):
        result = run(data, "doc.pdf", "application/pdf", schema)
        assert result.data == {
            "passport_number": None,
            "date_of_birth": None,
            "flight": {"departure_date": None, "seat": None},
            "baggage_fees": None,
        }
        assert result.provenance == {}


def test_prompt_can_name_the_labels_a_document_uses():
    text = "Électricité Provence\nContrat n°: FR-7781\nMontant net: 99,00 €\n".encode()
    schema = {
        "type": "object",
        "properties": {"account_number": {"type": "string"}, "amount_due": {"type": "number"}},
    }
    assert run(text, "f.txt", "text/plain", schema).data == {
        "account_number": None,
        "amount_due": None,
    }
    prompt = (
        'The account number is printed as "Contrat n°". '
        'amount_due is the value labelled "Montant net".'
    )
    result = run(text, "f.txt", "text/plain", schema, prompt=prompt)
    assert result.data == {"account_number": "FR-7781", "amount_due": 99.0}


def test_array_of_objects_without_a_table_is_one_item_from_clear_labels():
    text = (
        b"EnergyLink\n"
        b"Account number: 58291-44720\n"
        b"Service type: Fuel\n"
        b"Service address: 4421 OAK VIEW LN UNIT 3A, CAMBRIDGE, MA 02140\n"
        b"Total usage: 5,348 Therms\n"
        b"Total charges: $8,214.67\n"
    )
    schema = {
        "type": "object",
        "properties": {
            "service_locations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "service_type": {"type": "string"},
                        "service_address": {
                            "type": "object",
                            "properties": {
                                "street": {"type": "string"},
                                "city": {"type": "string"},
                                "state": {"type": "string"},
                                "postal_code": {"type": "string"},
                            },
                        },
                        "total_usage": {"type": "number"},
                        "total_usage_unit": {"type": "string"},
                        "total_charges": {"type": "number"},
                    },
                },
            }
        },
    }
    result = run(text, "bill.txt", "text/plain", schema)
    assert result.data["service_locations"] == [
        {
            "service_type": "Fuel",
            "service_address": {
                "street": "4421 OAK VIEW LN UNIT 3A",
                "city": "CAMBRIDGE",
                "state": "MA",
                "postal_code": "02140",
            },
            "total_usage": 5348,
            "total_usage_unit": "Therms",
            "total_charges": 8214.67,
        }
    ]
    assert result.provenance["service_locations/0/total_charges"]["text"] == (
        "Total charges: $8,214.67"
    )
    # A document without such labels gets no invented item.
    other = run(documents.statement_labels_above(), "s.pdf", "application/pdf", schema)
    assert other.data["service_locations"] is None


def test_letter_with_facts_in_sentences():
    text = (
        b"Cedar Valley Utilities\n"
        b"March 2, 2026\n"
        b"\n"
        b"Dear customer,\n"
        b"this is a reminder about your account 44120-7781.\n"
        b"Your balance of $312.45 is due on March 20, 2026.\n"
        b"It covers the service period from Jan 28, 2026 - Feb 26, 2026.\n"
    )
    schema = {
        "type": "object",
        "properties": {
            "vendor_name": {"type": "string"},
            "statement_date": DATE,
            "account_number": {"type": "string"},
            "invoice_number": {"type": "string"},
            "amount_due": {"type": "number"},
            "due_date": DATE,
            "billing_period": {
                "type": "object",
                "properties": {"start_date": DATE, "end_date": DATE},
            },
        },
    }
    result = run(text, "letter.txt", "text/plain", schema)
    assert result.data == {
        "vendor_name": "Cedar Valley Utilities",
        "statement_date": "2026-03-02",
        "account_number": "44120-7781",
        "invoice_number": None,
        "amount_due": 312.45,
        "due_date": "2026-03-20",
        "billing_period": {"start_date": "2026-01-28", "end_date": "2026-02-26"},
    }
    assert result.provenance["amount_due"]["text"].startswith("Your balance of $312.45")


def test_wrapped_descriptions_stay_in_their_row():
    def page(c):
        c.setFont("Helvetica-Bold", 16)
        c.drawString(72, 730, "Atlas Office Supply")
        c.setFont("Helvetica", 10)
        c.drawString(72, 690, "Description")
        c.drawRightString(540, 690, "Amount")
        y = 690
        for lines, amount in [
            (["Ergonomic chair, mesh back,", "adjustable arms (black)"], "$249.00"),
            (["Desk lamp"], "$35.50"),
            (["Monitor arm, dual", "gas spring"], "$89.99"),
        ]:
            y -= 16
            c.drawString(72, y, lines[0])
            c.drawRightString(540, y, amount)
            for more in lines[1:]:
                y -= 14
                c.drawString(72, y, more)
        c.drawString(360, y - 30, "Total:")
        c.drawRightString(540, y - 30, "$374.49")

    result = run(documents.pdf(page), "inv.pdf", "application/pdf", INVOICE_SCHEMA)
    assert [(item["description"], item["amount"]) for item in result.data["line_items"]] == [
        ("Ergonomic chair, mesh back, adjustable arms (black)", 249.0),
        ("Desk lamp", 35.5),
        ("Monitor arm, dual gas spring", 89.99),
    ]
    assert result.data["total_amount"] == 374.49
    assert result.provenance["line_items/0/description"]["text"].startswith("Ergonomic chair")


def test_html_form_fields_show_their_values_but_never_passwords():
    html = b"""<html><body><h1>Brightwater Portal</h1><form>
    <label for="acct">Account number</label> <input id="acct" value="BW-55012" readonly>
    <label>Password</label> <input type="password" value="hunter2-secret">
    <label>Due date</label> <input type="date" value="2026-05-01">
    </form></body></html>"""
    result = run(html, "portal.html", "text/html", None)
    assert result.data["fields"]["Account number"] == "BW-55012"
    assert result.data["fields"]["Due date"] == "2026-05-01"
    assert "hunter2-secret" not in json.dumps(result.data)


def test_command_line_prints_the_extraction(tmp_path, capsys):
    from storage.extraction.__main__ import main

    bill = tmp_path / "bill.pdf"
    bill.write_bytes(documents.utility_bill())
    schema = json.dumps({"type": "object", "properties": {"amount_due": {"type": "number"}}})
    assert main([str(bill), "--schema", schema]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["data"] == {"amount_due": 8247.41}
    assert output["provenance"]["amount_due"]["page"] == 1

    assert main([str(bill), "--text"]) == 0
    assert "Balance Due  $8,247.41" in capsys.readouterr().out

    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 nothing")
    assert main([str(broken)]) == 1
    assert "extraction failed" in capsys.readouterr().err


@pytest.mark.parametrize("repeat_header", [False, True])
def test_table_continues_on_the_next_page(repeat_header):
    items = [(f"Service visit {n}", f"${100 + n}.00") for n in range(1, 8)]

    def header(c, y):
        c.drawString(72, y, "Description")
        c.drawRightString(540, y, "Amount")

    def rows(c, chunk, y):
        for name, amount in chunk:
            y -= 16
            c.drawString(72, y, name)
            c.drawRightString(540, y, amount)
        return y

    def first(c):
        c.setFont("Helvetica-Bold", 16)
        c.drawString(72, 730, "Pioneer Waste Services")
        c.setFont("Helvetica", 10)
        c.drawString(72, 700, "Invoice number: PW-3301")
        header(c, 660)
        rows(c, items[:4], 660)

    def second(c):
        c.setFont("Helvetica", 9)
        c.drawString(72, 750, "Pioneer Waste Services - Invoice PW-3301 - page 2 of 2")
        c.setFont("Helvetica", 10)
        y = 720
        if repeat_header:
            header(c, y)
        y = rows(c, items[4:], y)
        c.drawString(360, y - 30, "Total:")
        c.drawRightString(540, y - 30, "$728.00")

    result = run(documents.pdf(first, second), "inv.pdf", "application/pdf", INVOICE_SCHEMA)
    assert [item["amount"] for item in result.data["line_items"]] == [
        101.0,
        102.0,
        103.0,
        104.0,
        105.0,
        106.0,
        107.0,
    ]
    assert result.provenance["line_items/6/amount"]["page"] == 2
    assert result.provenance["line_items/0/amount"]["page"] == 1
    assert result.data["total_amount"] == 728.0


@pytest.mark.parametrize(
    "make",
    [
        documents.utility_bill,
        documents.invoice_with_table,
        documents.statement_labels_above,
        documents.two_column_receipt,
        documents.european_invoice,
        documents.two_page_statement,
    ],
)
def test_every_provenance_span_lies_in_its_line(make):
    from storage.extraction.readers import read

    data = make()
    text = read(data, "doc.pdf", "application/pdf").text
    for schema in (BILL_SCHEMA, INVOICE_SCHEMA):
        result = run(data, "doc.pdf", "application/pdf", schema)
        assert result.provenance
        for path, record in result.provenance.items():
            start, end = record["span"]
            assert 0 <= start <= end <= len(text), path
            if "\n" not in text[start:end]:
                assert text[start:end] in record["text"], (path, record)

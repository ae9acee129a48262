"""Extract one file from the command line, to see what the engine reads and why.

    python -m storage.extraction bill.pdf [--schema schema.json | --schema '{"type": …}']
        [--prompt "dates are day-first"] [--content-type application/pdf] [--text]

Prints ``{"data", "provenance", "file_type", "pages", "method", "warnings"}`` as JSON, or with
``--text`` the document text the engine read (lines, segments joined by two spaces). Exit
status 1 with the message on an ExtractionError.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from storage.extraction.engine import extract
from storage.extraction.errors import ExtractionError
from storage.extraction.readers import read


def _schema(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    text = value if value.lstrip().startswith("{") else Path(value).read_text()
    schema = json.loads(text)
    if not isinstance(schema, dict):
        raise SystemExit("--schema must be a JSON object (or a file holding one)")
    return schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage.extraction", description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--schema", help="JSON Schema, inline or a file path")
    parser.add_argument("--prompt", default="")
    parser.add_argument("--content-type", default=None)
    parser.add_argument("--text", action="store_true", help="print the text the engine read")
    args = parser.parse_args(argv)
    data = args.path.read_bytes()
    try:
        if args.text:
            print(read(data, args.path.name, args.content_type).text)
            return 0
        result = extract(
            data=data,
            file_name=args.path.name,
            content_type=args.content_type,
            schema=_schema(args.schema),
            prompt=args.prompt,
        )
    except ExtractionError as error:
        print(f"extraction failed: {error.message}", file=sys.stderr)
        return 1
    output = {
        "data": result.data,
        "provenance": result.provenance,
        "file_type": result.file_type,
        "pages": result.pages,
        "method": result.method,
        "warnings": result.warnings,
    }
    print(json.dumps(output, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""CSV downloads: one place for the file's shape and for keeping spreadsheets from running cells as formulas."""

import csv
from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from django.utils.text import slugify

# Excel, LibreOffice and Google Sheets read a cell starting with one of these as a formula
# (OWASP "CSV injection"); a campaign named "=HYPERLINK(...)" must stay text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_filename(*parts: str) -> str:
    return "-".join(slugify(part) for part in parts if part) + ".csv"


def csv_response(*, filename: str, header: list[str], rows: Iterable[Iterable[Any]]) -> HttpResponse:
    """A download of ``rows`` under ``header``; None is an empty cell."""
    response = HttpResponse(
        content_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
    # Without the byte order mark Excel reads UTF-8 as the local code page: names with accents or emoji break.
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return response

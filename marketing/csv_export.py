"""CSV downloads: one place for the file's shape and for keeping spreadsheets from running cells as formulas."""

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.utils.text import slugify

# Excel, LibreOffice and Google Sheets read a cell starting with one of these as a formula
# (OWASP "CSV injection"); a campaign named "=HYPERLINK(...)" must stay text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_filename(*parts: str) -> str:
    """The parts as one ASCII name; a part with nothing left once slugified (an emoji name) is dropped."""
    return "-".join(slug for slug in map(slugify, parts) if slug) + ".csv"


class _Line:
    """What csv.writer writes to: it hands each line back instead of keeping it."""

    def write(self, line: str) -> str:
        return line


def _lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    # Without the byte order mark Excel reads UTF-8 as the local code page: names with accents or emoji break.
    yield "\ufeff"
    writer = csv.writer(_Line())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def csv_response(*, filename: str, header: list[str], rows: Iterable[Iterable[Any]]) -> StreamingHttpResponse:
    """A download of ``rows`` under ``header``, sent as the rows are read; None is an empty cell."""
    return StreamingHttpResponse(
        _lines(header, rows),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

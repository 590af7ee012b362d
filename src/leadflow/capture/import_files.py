"""Reading import files into rows (pure: no Django): CSV, XLSX and vCard 3/4.

Every reader streams `ImportRow`s: the row number as a person sees it in the file (the header is row 1
of a sheet, so the first data row is row 2; a vCard's row is its position, from 1) and the cells by
header. Encoding and CSV delimiter are detected from the start of the file.
"""

import codecs
import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
FORMATS = ("csv", "xlsx", "vcard")
# csv's default cap (128 KiB) is kept: a longer cell is a broken file, reported by row.
csv.field_size_limit(1024 * 1024)


class ImportFileError(ValueError):
    """The file cannot be read at all (as opposed to a bad row); str(err) is for the user."""


@dataclass(frozen=True)
class ImportRow:
    number: int
    cells: dict[str, str]
    problem: str = ""


@dataclass
class FileShape:
    """What was detected about a file: its format, headers and, for CSV, encoding and delimiter."""

    format: str
    headers: list[str] = field(default_factory=list)
    encoding: str = ""
    delimiter: str = ""


def detect_format(name: str, head: bytes) -> str:
    """The file's format from its first bytes, then its name."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    stripped = head.lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \r\n\t").upper()
    if stripped.startswith((b"BEGIN:VCARD", b"B\x00E\x00G\x00I\x00N\x00")):
        return "vcard"
    suffix = Path(name).suffix.lower()
    if suffix in (".vcf", ".vcard"):
        return "vcard"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    return "csv"


def detect_encoding(sample: bytes) -> str:
    """BOMs first, then strict UTF-8 (the usual case), then charset-normalizer's best guess."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if sample.startswith(bom):
            return name
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        # A sample cut in the middle of a character is still UTF-8.
        if err.start >= len(sample) - 3 and err.reason == "unexpected end of data":
            return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample))
    if not matches:
        return "cp1252"
    best = matches[0]
    # Ties are common on short samples; the Windows Western code page is the likeliest of equals.
    for match in matches:
        if match.encoding == "cp1252" and match.chaos <= best.chaos and match.coherence >= best.coherence:
            return "cp1252"
    return best.encoding


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the sample's records into the most consistent rows, without stray quotes,
    and the widest."""
    sample = text[: SAMPLE_BYTES // 2]
    if len(text) > len(sample) and "\n" in sample.rstrip("\r\n"):
        sample = sample[: sample.rstrip("\r\n").rfind("\n")]  # drop a record cut by the sample's end
    best, best_score = ",", (0.0, 0, 0)
    for delimiter in DELIMITERS:
        try:
            records = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r][:50]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        # Quote characters left inside cells mean the quoting was split by the wrong delimiter.
        stray_quotes = sum('"' in cell for record in records for cell in record)
        # Rows may be short (trailing empty cells left out), never longer than the header.
        score = (sum(len(r) <= width for r in records) / len(records), -stray_quotes, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _unique_headers(raw: list[str]) -> list[str]:
    headers: list[str] = []
    for index, raw_name in enumerate(raw, start=1):
        name = (raw_name or "").strip() or f"Column {index}"
        candidate, n = name, 2
        while candidate in headers:
            candidate, n = f"{name} ({n})", n + 1
        headers.append(candidate)
    return headers


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value).strip()


def _rows_from_cells(
    records: Iterator[list[Any]], shape: FileShape, first_number: int
) -> Iterator[ImportRow]:
    try:
        header = next(records)
    except StopIteration:
        return
    shape.headers = _unique_headers([_cell_text(h) for h in header])
    width = len(shape.headers)
    for number, record in enumerate(records, start=first_number):
        values = [_cell_text(v) for v in record]
        if not any(values):
            continue
        problem = ""
        if len(values) > width:
            extra = [v for v in values[width:] if v]
            if extra:
                problem = f"The row has {len(values)} cells but the header has {width}."
            values = values[:width]
        values += [""] * (width - len(values))
        yield ImportRow(number, dict(zip(shape.headers, values, strict=False)), problem)


def read_csv(stream: IO[bytes], shape: FileShape) -> Iterator[ImportRow]:
    sample = stream.read(SAMPLE_BYTES)
    stream.seek(0)
    shape.encoding = detect_encoding(sample)
    text = io.TextIOWrapper(stream, encoding=shape.encoding, errors="replace", newline="")
    shape.delimiter = detect_delimiter(sample.decode(shape.encoding, errors="replace"))
    reader = csv.reader(text, delimiter=shape.delimiter)

    def records() -> Iterator[list[Any]]:
        while True:
            try:
                yield next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                # The line cannot be parsed (e.g. a cell over the size limit): an empty record keeps
                # the numbering; the reader goes on with the next line.
                yield [f"\x00{err}"]

    for row in _rows_from_cells(records(), shape, first_number=2):
        first = next(iter(row.cells.values()), "")
        if first.startswith("\x00"):
            yield ImportRow(row.number, {}, f"Unreadable CSV line: {first[1:]}")
        else:
            yield row


def read_xlsx(stream: IO[bytes], shape: FileShape) -> Iterator[ImportRow]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many kinds for a damaged file
        raise ImportFileError(f"Not a readable XLSX workbook ({type(err).__name__}).") from err
    try:
        sheet = workbook.worksheets[0]
        yield from _rows_from_cells((list(r) for r in sheet.iter_rows(values_only=True)), shape, 2)
    finally:
        workbook.close()


VCARD_HEADERS = [
    "first_name",
    "last_name",
    "full_name",
    "email",
    "phone",
    "company",
    "job_title",
    "website",
    "city",
    "region",
    "country",
    "note",
]


def _vcard_values(card: Any, name: str) -> list[Any]:
    return [line.value for line in card.contents.get(name, [])]


def vcard_cells(card: Any) -> dict[str, str]:
    """The lead fields of one vobject vCard component."""
    cells = dict.fromkeys(VCARD_HEADERS, "")
    if names := _vcard_values(card, "n"):
        n = names[0]
        cells["first_name"] = _cell_text(" ".join(n.given) if isinstance(n.given, list) else n.given)
        cells["last_name"] = _cell_text(" ".join(n.family) if isinstance(n.family, list) else n.family)
    if full := _vcard_values(card, "fn"):
        cells["full_name"] = _cell_text(full[0])
    if emails := _vcard_values(card, "email"):
        cells["email"] = _cell_text(emails[0]).removeprefix("mailto:")
    if phones := _vcard_values(card, "tel"):
        cells["phone"] = _cell_text(phones[0]).removeprefix("tel:")
    if orgs := _vcard_values(card, "org"):
        org = orgs[0]
        cells["company"] = _cell_text(org[0] if isinstance(org, list) and org else org)
    if titles := _vcard_values(card, "title"):
        cells["job_title"] = _cell_text(titles[0])
    if urls := _vcard_values(card, "url"):
        cells["website"] = _cell_text(urls[0])
    if addresses := _vcard_values(card, "adr"):
        adr = addresses[0]
        cells["city"] = _cell_text(getattr(adr, "city", ""))
        cells["region"] = _cell_text(getattr(adr, "region", ""))
        cells["country"] = _cell_text(getattr(adr, "country", ""))
    if notes := _vcard_values(card, "note"):
        cells["note"] = _cell_text(notes[0])
    return cells


def read_vcard(stream: IO[bytes], shape: FileShape) -> Iterator[ImportRow]:
    """Each BEGIN:VCARD … END:VCARD block is one row; a block vobject cannot parse is a bad row."""
    import vobject

    raw = stream.read()
    shape.encoding = detect_encoding(raw[:SAMPLE_BYTES])
    text = raw.decode(shape.encoding, errors="replace")
    shape.headers = list(VCARD_HEADERS)
    blocks = _vcard_blocks(text)
    for number, block in enumerate(blocks, start=1):
        try:
            card = vobject.readOne(block)
            yield ImportRow(number, vcard_cells(card))
        except Exception as err:  # vobject raises ParseError, ValueError, AttributeError …
            yield ImportRow(number, {}, f"Unreadable vCard ({type(err).__name__}: {str(err)[:200]}).")


def _vcard_blocks(text: str) -> list[str]:
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip().upper() == "BEGIN:VCARD":
            current = [line]
        elif current:
            current.append(line)
            if line.strip().upper() == "END:VCARD":
                blocks.append("\r\n".join(current) + "\r\n")
                current = []
    return blocks


def read_rows(stream: IO[bytes], *, name: str) -> tuple[FileShape, Iterator[ImportRow]]:
    """The detected shape and a row iterator; headers are known once the first row was read."""
    head = stream.read(SAMPLE_BYTES)
    stream.seek(0)
    shape = FileShape(format=detect_format(name, head))
    readers = {"csv": read_csv, "xlsx": read_xlsx, "vcard": read_vcard}
    return shape, readers[shape.format](stream, shape)


def read_head(stream: IO[bytes], *, name: str, limit: int) -> tuple[FileShape, list[ImportRow]]:
    """The shape and the first `limit` rows (for the mapping and preview steps)."""
    shape, rows = read_rows(stream, name=name)
    head: list[ImportRow] = []
    for row in rows:
        head.append(row)
        if len(head) >= limit:
            break
    return shape, head

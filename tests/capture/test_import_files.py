"""Import file readers and the column mapper (pure code: no database)."""

import csv
import datetime as dt
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from leadflow.capture.import_files import (
    ImportFileError,
    detect_delimiter,
    detect_encoding,
    read_head,
    read_rows,
)
from leadflow.capture.import_mapping import (
    mapping_targets,
    row_payload,
    split_full_name,
    suggest_mapping,
    validate_mapping,
)


def rows_of(data: bytes, name: str = "leads.csv") -> tuple[str, list[tuple[int, dict[str, str], str]]]:
    shape, rows = read_rows(io.BytesIO(data), name=name)
    out = [(r.number, r.cells, r.problem) for r in rows]
    return f"{shape.format}/{shape.encoding}/{shape.delimiter}", out


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_csv_delimiter_and_encoding_are_detected(delimiter: str, encoding: str) -> None:
    text = delimiter.join(["First Name", "Last Name", "Email", "City"]) + "\r\n"
    text += delimiter.join(["Zoë", "Müller", "zoe@example.com", "Zürich"]) + "\r\n"
    text += delimiter.join(["José", "Peña", "jose@example.com", "Málaga"]) + "\r\n"
    shape, rows = rows_of(text.encode(encoding))
    assert shape.endswith(f"/{delimiter}")
    assert rows == [
        (2, {"First Name": "Zoë", "Last Name": "Müller", "Email": "zoe@example.com", "City": "Zürich"}, ""),
        (3, {"First Name": "José", "Last Name": "Peña", "Email": "jose@example.com", "City": "Málaga"}, ""),
    ]


def test_latin1_csv_is_not_read_as_utf8() -> None:
    text = "Name;Stadt\n" + "\n".join(f"Jürgen Groß {i};Köln" for i in range(50))
    assert detect_encoding(text.encode("cp1252")).replace("_", "-").lower() in {
        "cp1252",
        "windows-1252",
        "iso8859-1",
        "latin-1",
        "iso-8859-1",
        "iso8859-15",
        "cp1250",
    }


def test_csv_row_numbers_count_the_header_skip_blank_lines_and_flag_long_rows() -> None:
    data = b'email,name\na@example.com,"Multi\nline"\n\n,\nb@example.com,Bee,extra\n'
    _, rows = rows_of(data)
    assert rows[0] == (2, {"email": "a@example.com", "name": "Multi\nline"}, "")
    assert rows[1][0] == 5 and rows[1][2].startswith("The row has 3 cells")


def test_duplicate_and_empty_headers_get_unique_names() -> None:
    shape, _ = read_head(io.BytesIO(b"Email,,Email\nx@example.com,1,y@example.com\n"), name="a.csv", limit=5)
    assert shape.headers == ["Email", "Column 2", "Email (2)"]


def test_xlsx_rows_with_numbers_and_dates() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email", "Phone", "Since", "Revenue"])
    sheet.append(["a@example.com", 4155550142, dt.datetime(2024, 5, 1), 1500000.0])
    sheet.append([None, None, None, None])
    sheet.append(["b@example.com", "+44 20 7946 0958", None, 12.5])
    buffer = io.BytesIO()
    book.save(buffer)
    shape, rows = rows_of(buffer.getvalue(), name="export.bin")
    assert shape.startswith("xlsx")
    assert rows == [
        (
            2,
            {"Email": "a@example.com", "Phone": "4155550142", "Since": "2024-05-01", "Revenue": "1500000"},
            "",
        ),
        (4, {"Email": "b@example.com", "Phone": "+44 20 7946 0958", "Since": "", "Revenue": "12.5"}, ""),
    ]


def test_broken_xlsx_is_a_file_error() -> None:
    with pytest.raises(ImportFileError):
        rows_of(b"PK\x03\x04 not really a zip", name="x.xlsx")


VCARD_3 = """BEGIN:VCARD\r
VERSION:3.0\r
N:Lovelace;Ada;;;\r
FN:Ada Lovelace\r
ORG:Analytical Engines Ltd;Research\r
TITLE:CEO\r
EMAIL;TYPE=INTERNET,WORK:ada@analytical.example\r
TEL;TYPE=WORK,VOICE:+44 20 7946 0958\r
ADR;TYPE=WORK:;;1 Main St;London;;W1;United Kingdom\r
URL:https://analytical.example\r
END:VCARD\r
"""
VCARD_4 = """BEGIN:VCARD
VERSION:4.0
FN:Grace Hopper
N:Hopper;Grace;;;
EMAIL;TYPE=work:grace@navy.example
TEL;VALUE=uri;TYPE="voice,work":tel:+1-202-555-0143
ORG:US Navy
END:VCARD
BEGIN:VCARD
VERSION:4.0
this is not a vcard line
END:VCARD
"""


def test_vcard_3_and_4() -> None:
    shape, rows = rows_of((VCARD_3 + VCARD_4).encode(), name="scanner.vcf")
    assert shape.startswith("vcard")
    (n1, ada, p1), (n2, grace, p2), (n3, bad, p3) = rows
    assert (n1, p1) == (1, "")
    assert ada["first_name"] == "Ada" and ada["last_name"] == "Lovelace"
    assert ada["email"] == "ada@analytical.example" and ada["phone"] == "+44 20 7946 0958"
    assert ada["company"] == "Analytical Engines Ltd" and ada["job_title"] == "CEO"
    assert ada["city"] == "London" and ada["country"] == "United Kingdom"
    assert (n2, p2) == (2, "")
    assert grace["email"] == "grace@navy.example" and grace["phone"] == "+1-202-555-0143"
    assert grace["company"] == "US Navy"
    assert n3 == 3 and p3.startswith("Unreadable vCard") and bad == {}


EXPORT_HEADERS = {
    "Salesforce": (
        [
            "Lead ID",
            "First Name",
            "Last Name",
            "Title",
            "Company",
            "Email",
            "Phone",
            "Mobile",
            "Lead Source",
            "City",
            "State/Province",
            "Country",
            "Industry",
            "Annual Revenue",
            "No. of Employees",
            "Website",
        ],
        {
            "Lead ID": "external_id",
            "Title": "job_title",
            "Mobile": "phone",
            "State/Province": "region",
            "No. of Employees": "company_size",
            "Lead Source": "utm_source",
        },
    ),
    "HubSpot": (
        [
            "Record ID",
            "First Name",
            "Last Name",
            "Email",
            "Phone Number",
            "Company Name",
            "Job Title",
            "Website URL",
            "City",
            "State/Region",
            "Country/Region",
            "Original Source",
            "Number of Employees",
        ],
        {
            "Record ID": "external_id",
            "Phone Number": "phone",
            "Company Name": "company",
            "State/Region": "region",
            "Country/Region": "country",
            "Website URL": "website",
        },
    ),
    "Pipedrive": (
        [
            "Person - Name",
            "Person - Email - Work",
            "Person - Phone - Mobile",
            "Person - Organization",
            "Person - Job title",
            "Person - ID",
        ],
        {
            "Person - Name": "full_name",
            "Person - Email - Work": "email",
            "Person - Phone - Mobile": "phone",
            "Person - Organization": "company",
            "Person - Job title": "job_title",
            "Person - ID": "external_id",
        },
    ),
    "Zoho": (
        [
            "Record Id",
            "First Name",
            "Last Name",
            "Email",
            "Phone",
            "Company",
            "Designation",
            "Lead Source",
            "City",
            "State",
            "Zip Code",
            "Country",
            "No of Employees",
            "Annual Revenue",
        ],
        {"Designation": "job_title", "State": "region", "Zip Code": "", "No of Employees": "company_size"},
    ),
    "Mailchimp": (
        ["Email Address", "First Name", "Last Name", "Address", "Phone Number", "MEMBER_RATING", "LEID"],
        {"Email Address": "email", "Phone Number": "phone", "MEMBER_RATING": "", "LEID": "external_id"},
    ),
}


@pytest.mark.parametrize("tool", EXPORT_HEADERS)
def test_export_headers_of_common_crms_are_recognised(tool: str) -> None:
    headers, expected = EXPORT_HEADERS[tool]
    mapping = suggest_mapping(headers)
    for header, target in expected.items():
        assert mapping[header] == target, (tool, header)
    assert mapping.get("First Name", "first_name") == "first_name"
    assert mapping.get("Email", "email") == "email"
    assert not validate_mapping(mapping)


def test_custom_field_headers_map_to_custom_and_fall_back_columns() -> None:
    mapping = suggest_mapping(["Email", "Work Email", "Favourite colour", "Lead score"], ["favourite_colour"])
    assert mapping == {
        "Email": "email",
        "Work Email": "email",
        "Favourite colour": "custom.favourite_colour",
        "Lead score": "",
    }
    payload = row_payload({"Email": "", "Work Email": "w@example.com", "Favourite colour": "green"}, mapping)
    assert payload == {"email": "w@example.com", "custom": {"favourite_colour": "green"}}


def test_full_name_extra_and_unknown_targets() -> None:
    mapping = {"Name": "full_name", "Notes": "extra", "email": "extra", "Ignored": ""}
    payload = row_payload(
        {"Name": "Lovelace, Ada", "Notes": "met at fair", "email": "x", "Ignored": "z"}, mapping
    )
    assert payload == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "Notes": "met at fair",
        "column:email": "x",
    }
    assert validate_mapping({"A": "no_such_field"}) == {"A": "Unknown target 'no_such_field'."}


text_cells = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.lists(text_cells.filter(lambda s: s.strip()), min_size=2, max_size=6, unique_by=str.strip),
    rows=st.lists(st.lists(text_cells, min_size=0, max_size=6), max_size=10),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
)
def test_any_csv_reads_back_every_non_blank_row(
    headers: list[str], rows: list[list[str]], delimiter: str, encoding: str
) -> None:
    rows = [r[: len(headers)] for r in rows]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quoting=csv.QUOTE_ALL)
    writer.writerow(headers)
    writer.writerows(rows)
    _, read = read_rows(io.BytesIO(out.getvalue().encode(encoding)), name="x.csv")
    got = list(read)
    expected = [r for r in rows if any(c.strip() for c in r)]
    assert len(got) == len(expected)
    for row, source in zip(got, expected, strict=True):
        assert list(row.cells.values()) == [c.strip() for c in source] + [""] * (len(headers) - len(source))


@settings(max_examples=200)
@given(data=st.binary(max_size=400), name=st.sampled_from(["a.csv", "a.vcf", "a.xlsx", "a"]))
def test_random_bytes_never_crash_a_reader_except_as_file_error(data: bytes, name: str) -> None:
    try:
        _, rows = read_rows(io.BytesIO(data), name=name)
        for row in rows:
            assert row.number >= 1
    except ImportFileError:
        pass


@given(
    headers=st.lists(st.text(max_size=25), max_size=12),
    cells=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=8),
)
def test_mapper_always_gives_valid_targets_and_a_flat_payload(
    headers: list[str], cells: dict[str, str]
) -> None:
    mapping = suggest_mapping(headers)
    assert set(mapping.values()) <= set(mapping_targets())
    assert not validate_mapping(mapping)
    payload = row_payload(cells, mapping)
    for key, value in payload.items():
        assert isinstance(value, str) or key == "custom"


@given(st.text(max_size=40))
def test_split_full_name_keeps_every_word(full: str) -> None:
    first, last = split_full_name(full)
    assert sorted(" ".join([first, last]).replace(",", " ").split()) == sorted(full.replace(",", " ").split())


def test_detect_delimiter_defaults_to_comma() -> None:
    assert detect_delimiter("") == ","
    assert detect_delimiter("just one column\nvalue\n") == ","

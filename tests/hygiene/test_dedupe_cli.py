"""`leadflow dedupe` on CSV files: duplicates within one file, links across two, errors."""

import csv
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROWS = [
    ("id", "first_name", "last_name", "email", "company", "city"),
    ("1", "Jonathan", "Smith", "jon@acme.io", "Acme Inc", "Berlin"),
    ("2", "Jonathon", "Smyth", "", "ACME GmbH", "Berlin"),
    ("3", "Maria", "Garcia", "maria@globex.com", "Globex", "Madrid"),
    ("4", "test", "test", "test@test.com", "n/a", ""),
    ("5", "Test", "Test", "test@test.com", "N/A", ""),
]


def _write(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_dedupe_writes_scored_pairs_and_skips_placeholders(tmp_path: Path) -> None:
    source = _write(tmp_path / "leads.csv", ROWS)
    output = tmp_path / "pairs.csv"
    call_command("dedupe", "--input", str(source), "--id-column", "id", "--output", str(output))
    pairs = _read(output)
    assert [(p["left_id"], p["right_id"]) for p in pairs] == [("1", "2")]
    assert float(pairs[0]["probability"]) >= 0.8 and pairs[0]["decision"] in ("merge", "review")


def test_dedupe_links_two_files_with_a_config(tmp_path: Path) -> None:
    left = _write(
        tmp_path / "a.csv", [("key", "name", "born"), ("a1", "anna", "1980-01-02"), ("a2", "bob", "")]
    )
    right = _write(
        tmp_path / "b.csv", [("key", "name", "born"), ("b1", "ana", "1980-01-02"), ("b2", "zed", "")]
    )
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "fields": [{"name": "name", "comparator": "name"}, {"name": "born", "comparator": "date"}],
                "blocking": [["born"]],
                "prior": 0.5,
                "review": 0.5,
            }
        )
    )
    output = tmp_path / "links.csv"
    call_command(
        "dedupe", "--input", str(left), "--link", str(right), "--id-column", "key",
        "--config", str(config), "--threshold", "0.5", "--output", str(output),
    )  # fmt: skip
    assert [(p["left_id"], p["right_id"]) for p in _read(output)] == [("a1", "b1")]


def test_dedupe_reports_bad_input(tmp_path: Path) -> None:
    source = _write(tmp_path / "leads.csv", ROWS)
    with pytest.raises(CommandError, match="no column 'nope'"):
        call_command(
            "dedupe", "--input", str(source), "--id-column", "nope", "--output", str(tmp_path / "o.csv")
        )
    bad = tmp_path / "bad.json"
    bad.write_text('{"fields": [{"name": "x", "comparator": "nope"}], "blocking": []}')
    with pytest.raises(CommandError, match="unknown comparator"):
        call_command(
            "dedupe", "--input", str(source), "--id-column", "id", "--config", str(bad),
            "--output", str(tmp_path / "o.csv"),
        )  # fmt: skip


@pytest.mark.django_db
def test_scan_of_the_database(capsys: pytest.CaptureFixture[str]) -> None:
    from leadflow.hygiene.models import DuplicateCandidate
    from leadflow.leads.models import Lead

    Lead.objects.create(first_name="Anna", last_name="Kowalski", company="Initech Ltd", city="Warsaw")
    Lead.objects.create(first_name="Ana", last_name="Kowalski", company="Initech", city="Krakow")
    call_command("dedupe", "--scan")
    assert "Scanned 2 leads" in capsys.readouterr().out
    assert DuplicateCandidate.objects.count() == 1
    with pytest.raises(CommandError, match="--input is required"):
        call_command("dedupe", "--output", "x.csv")

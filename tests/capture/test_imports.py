"""Imports end to end: file → mapping → dry run → run through the intake flow → error report → undo."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from leadflow.access.models import Team
from leadflow.capture.imports import (
    import_create,
    import_dry_run,
    import_error_report,
    import_execute,
    import_preview,
    import_set_mapping,
    import_undo,
)
from leadflow.capture.models import Import, ImportMapping, ImportStatus, Submission, SubmissionStatus
from leadflow.capture.services import lead_capture, lead_update
from leadflow.leads.models import Activity, ActivityKind, Lead, LeadIdentity
from leadflow.routing.models import Notification, ResponseClock

pytestmark = pytest.mark.django_db

HUBSPOT_CSV = """Record ID;First Name;Last Name;Email;Phone Number;Company Name;Job Title;Favourite
101;Ada;Lovelace;ada@example.com;+1 415 555 0142;Analytical;CEO;x
102;Grace;Hopper;not-an-email;;Navy;Admiral;y
103;Known;Person;known@example.com;;New Co;CTO;z
;;;;;;;only a note
105;Alan;Turing;alan@example.com;+44 20 7946 0958;Bletchley;;
106;Bad;Phone;bad-phone@example.com;12;Acme;;
"""


def make_import(content: str | bytes, name: str = "hubspot.csv", source: str = "Fair 2026") -> Import:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return import_create(stream=io.BytesIO(data), file_name=name, source_name=source)


def counts(imp: Import) -> tuple[int, int, int, int]:
    imp.refresh_from_db()
    return imp.created, imp.updated, imp.invalid, imp.unchanged


@pytest.fixture
def known(sales_team: Team) -> Lead:
    result = lead_capture(payload={"email": "known@example.com", "company": "Old Co", "first_name": "Known"})
    assert result.lead is not None
    return result.lead


def test_full_import_flow(known: Lead) -> None:
    imp = make_import(HUBSPOT_CSV)
    assert (imp.file_format, imp.delimiter, imp.source and imp.source.name) == ("csv", ";", "Fair 2026")
    assert imp.mapping["Record ID"] == "external_id" and imp.mapping["Phone Number"] == "phone"
    assert imp.mapping["Favourite"] == ""

    preview = import_preview(imp=imp)
    assert [row.number for row in preview] == [2, 3, 4, 5, 6, 7]
    assert preview[0].payload["email"] == "ada@example.com" and not preview[0].errors
    assert "email" in preview[1].errors
    assert "email" in preview[3].errors  # nothing to identify the lead by
    assert "phone" in preview[5].errors

    dry = import_dry_run(imp=imp)
    assert (dry.total, dry.new, dry.update, dry.invalid, dry.unchanged) == (6, 2, 1, 3, 0)
    assert [number for number, _ in dry.problems] == [3, 5, 7]
    assert Lead.objects.count() == 1  # the dry run wrote nothing

    imp = import_execute(import_id=imp.pk)
    assert imp.status == ImportStatus.DONE
    assert counts(imp) == (2, 1, 3, 0)
    assert imp.processed_rows == imp.total_rows == 6
    known.refresh_from_db()
    assert (known.company, known.job_title) == ("New Co", "CTO")
    ada = Lead.objects.get(email_normalized="ada@example.com")
    assert ada.source == imp.source and ada.owner is not None  # routed by the intake flow
    assert Submission.objects.get(lead=ada).trace[-1]["step"] == "follow_ups"

    report = import_error_report(imp=imp).splitlines()
    assert report[0] == "row,field,problem,submission_id"
    assert [line.split(",")[0] for line in report[1:]] == ["3", "5", "7"]
    bad = Submission.objects.filter(import_run=imp, status=SubmissionStatus.QUARANTINED)
    assert sorted(bad.values_list("import_row", flat=True)) == [3, 5, 7]  # kept for a replay


def test_running_the_same_file_again_changes_nothing(known: Lead) -> None:
    first = import_execute(import_id=make_import(HUBSPOT_CSV).pk)
    before = (
        Lead.objects.count(),
        Activity.objects.count(),
        list(Lead.objects.order_by("pk").values_list("updated_at", flat=True)),
    )
    again = make_import(HUBSPOT_CSV)
    assert import_dry_run(imp=again).unchanged == 3
    again = import_execute(import_id=again.pk)
    assert counts(again) == (0, 0, 3, 3)  # bad rows are reported again, good ones are skipped
    assert before == (
        Lead.objects.count(),
        Activity.objects.count(),
        list(Lead.objects.order_by("pk").values_list("updated_at", flat=True)),
    )
    assert import_execute(import_id=first.pk).status == ImportStatus.DONE  # a finished run is left alone


def test_undo_removes_new_leads_and_reverts_updates(known: Lead) -> None:
    identities_before = set(LeadIdentity.objects.values_list("kind", "value"))
    imp = import_execute(import_id=make_import(HUBSPOT_CSV).pk)
    assert Lead.objects.count() == 3

    result = import_undo(imp=imp, actor=None)

    assert (result.removed, result.reverted, result.kept) == (2, 1, [])
    assert list(Lead.objects.values_list("pk", flat=True)) == [known.pk]
    known.refresh_from_db()
    assert (known.company, known.job_title) == ("Old Co", "")
    # The external id the import added to the known lead went with the undo.
    assert set(LeadIdentity.objects.values_list("kind", "value")) == identities_before
    assert Activity.objects.filter(lead=known, kind=ActivityKind.FIELD_CHANGE).exists()
    imp.refresh_from_db()
    assert imp.status == ImportStatus.UNDONE
    # The rows were released: the same file imports again.
    assert counts(import_execute(import_id=make_import(HUBSPOT_CSV).pk))[:2] == (2, 1)


def test_undo_keeps_leads_changed_after_the_import(known: Lead) -> None:
    imp = import_execute(import_id=make_import(HUBSPOT_CSV).pk)
    ada = Lead.objects.get(email_normalized="ada@example.com")
    lead_update(lead=ada, changes={"city": "Paris"}, actor=None)

    result = import_undo(imp=imp, actor=None)

    assert result.removed == 1 and result.reverted == 1
    assert result.kept == [f"Lead {ada.pk}: changed after the import, left as it is."]
    assert Lead.objects.filter(pk=ada.pk).exists()


def test_saved_mapping_is_reused_for_the_same_headers(sales_team: Team) -> None:
    content = "E-Mail-Adresse,Firma\nx@example.com,Acme\n"
    imp = make_import(content)
    assert imp.mapping == {"E-Mail-Adresse": "", "Firma": "company"}
    import_set_mapping(
        imp=imp, mapping={"E-Mail-Adresse": "email", "Firma": "company"}, save_as="DE", actor=None
    )
    assert ImportMapping.objects.get(name="DE").columns == {"E-Mail-Adresse": "email", "Firma": "company"}
    assert make_import(content).mapping["E-Mail-Adresse"] == "email"


def test_cli_import_with_mapping_file_and_dry_run(
    sales_team: Team, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "cards.csv"
    data.write_text("Mail,Who\nm1@example.com,Mia Muster\nbroken,No One\n")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"Mail": "email", "Who": "full_name"}))

    call_command("import", str(data), "--source", "Cards", "--mapping", str(mapping), "--dry-run")
    assert "2 rows: 1 new, 0 to update, 1 invalid" in capsys.readouterr().out
    assert not Lead.objects.exists()

    call_command("import", str(data), "--source", "Cards", "--mapping", str(mapping), "--no-progress")
    out = capsys.readouterr().out
    assert "1 new, 0 updated, 1 invalid" in out
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.source and lead.source.name) == ("Mia", "Muster", "Cards")

    imp = Import.objects.order_by("-pk").first()
    assert imp is not None
    call_command("import_errors", str(imp.pk))
    assert "3,email," in capsys.readouterr().out

    mapping.write_text(json.dumps({"Mail": "nonsense"}))
    with pytest.raises(CommandError, match="Unknown target"):
        call_command("import", str(data), "--source", "Cards", "--mapping", str(mapping))


def test_vcard_and_xlsx_files_import(sales_team: Team) -> None:
    from openpyxl import Workbook

    vcf = (
        "BEGIN:VCARD\nVERSION:4.0\nFN:Grace Hopper\nN:Hopper;Grace;;;\nEMAIL:grace@navy.example\nEND:VCARD\n"
    )
    imp = import_execute(import_id=make_import(vcf, name="scan.vcf").pk)
    assert counts(imp) == (1, 0, 0, 0)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email Address", "First Name"])
    sheet.append(["grace@navy.example", "Amazing Grace"])
    buffer = io.BytesIO()
    book.save(buffer)
    imp = import_execute(import_id=make_import(buffer.getvalue(), name="list.xlsx").pk)
    assert counts(imp) == (0, 1, 0, 0)
    assert Lead.objects.get().first_name == "Amazing Grace"


def test_unreadable_rows_are_kept_and_reported(sales_team: Team) -> None:
    vcf = "BEGIN:VCARD\nVERSION:3.0\nEMAIL:ok@example.com\nEND:VCARD\nBEGIN:VCARD\ngarbage\nEND:VCARD\n"
    imp = import_execute(import_id=make_import(vcf, name="scan.vcf").pk)
    assert counts(imp) == (1, 0, 1, 0)
    kept = Submission.objects.get(import_run=imp, status=SubmissionStatus.QUARANTINED)
    assert kept.import_row == 2 and kept.errors["row"].startswith("Unreadable vCard")


FAIR_CSV = "Email,First Name,Company\nfair1@example.com,Ann,Acme\nfair2@example.com,Bob,Apex\n"


def _alerts() -> tuple[int, int]:
    return Notification.objects.count(), ResponseClock.objects.count()


def test_an_import_assigns_quietly_unless_it_alerts_the_owners(sales_team: Team) -> None:
    """Old contacts are assigned without paging the reps or starting response clocks; a fresh list
    (a trade fair's) can alert them, as a form's leads do."""
    quiet = make_import(FAIR_CSV)
    assert quiet.alert_owners is False
    import_execute(import_id=quiet.pk)
    leads = list(Lead.objects.order_by("pk"))
    assert len(leads) == 2 and all(lead.owner_id for lead in leads)
    assert _alerts() == (0, 0)
    route = next(e for e in Submission.objects.filter(lead=leads[0]).get().trace if e["step"] == "route")
    assert "not alerted" in route["summary"] and route["detail"]["alerted"] is False

    loud = import_create(
        stream=io.BytesIO(FAIR_CSV.replace("fair", "fresh").encode()),
        file_name="fresh.csv",
        source_name="Fair 2026",
        alert_owners=True,
    )
    import_execute(import_id=loud.pk)
    fresh = Lead.objects.filter(email__startswith="fresh")
    assert fresh.count() == 2
    assert set(Notification.objects.values_list("lead_id", flat=True)) == {lead.pk for lead in fresh}
    assert set(ResponseClock.objects.values_list("lead_id", flat=True)) == {lead.pk for lead in fresh}


def test_cli_import_alerts_owners_only_when_asked(sales_team: Team, tmp_path: Path) -> None:
    data = tmp_path / "fair.csv"
    data.write_text(FAIR_CSV)
    call_command("import", str(data), "--source", "Fair", "--no-progress")
    assert _alerts() == (0, 0)
    data.write_text(FAIR_CSV.replace("fair", "fresh"))
    call_command("import", str(data), "--source", "Fair", "--no-progress", "--alert-owners")
    assert _alerts() == (2, 2)
    assert list(Import.objects.order_by("pk").values_list("alert_owners", flat=True)) == [False, True]

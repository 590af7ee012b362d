"""The import wizard and the inbound-email log in the web UI."""

import io
from typing import Any

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from leadflow.capture.email_intake import email_ingest
from leadflow.capture.imports import import_execute
from leadflow.capture.models import Import, ImportMapping, ImportStatus
from leadflow.leads.models import Lead
from tests.web.conftest import Org

pytestmark = pytest.mark.django_db

CSV = (
    "E-Mail-Adresse;Vorname;Firma\n"
    "neu@example.com;Nina;Neu AG\nannlead@example.com;Ann;Acme Two\nkaputt;X;Y\n"
)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_wizard_upload_map_preview_dry_run_run_progress_errors_undo(
    org: Org, django_capture_on_commit_callbacks: Any
) -> None:
    client = signed_in(org.marketing)
    assert "Imports" in client.get("/imports/").content.decode()
    file = io.BytesIO(CSV.encode("cp1252"))
    file.name = "messe.csv"
    response = client.post("/imports/upload", {"file": file, "source": "Messe"})
    imp = Import.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{imp.pk}/"

    page = client.get(f"/imports/{imp.pk}/").content.decode()
    assert "Column mapping" in page and 'value="company" selected' in page  # Firma → company
    assert "Give at least an email" in page  # nothing maps to email yet: every row has a problem

    client.post(
        f"/imports/{imp.pk}/mapping",
        {"map-0": "email", "map-1": "first_name", "map-2": "company", "save_as": "Messe-Format"},
    )
    assert ImportMapping.objects.filter(name="Messe-Format").exists()
    dry = client.get(f"/imports/{imp.pk}/?dry_run=1").content.decode()
    assert "<strong>1</strong> new leads, <strong>1</strong> matching existing leads" in dry

    page = client.get(f"/imports/{imp.pk}/").content.decode()
    assert 'name="alert_owners" value="1">' in page  # off unless asked: old contacts are assigned quietly
    client.post(f"/imports/{imp.pk}/run", {"alert_owners": "1"})
    imp.refresh_from_db()
    assert imp.alert_owners is True
    queued = DBTaskResult.objects.filter(task_path="leadflow.capture.tasks.import_run_task")
    assert [row.args_kwargs["args"] for row in queued] == [[imp.pk]]  # queued with the transaction
    progress = client.get(f"/imports/{imp.pk}/progress").content.decode()
    assert 'hx-trigger="every 1s"' in progress and "Import queued" in progress

    import_execute(import_id=imp.pk)  # what the worker does
    done = client.get(f"/imports/{imp.pk}/progress").content.decode()
    assert "hx-trigger" not in done and "1 new · 1 updated · 1 invalid" in done
    report = client.get(f"/imports/{imp.pk}/errors.csv")
    assert report.content.decode().splitlines()[1].startswith("4,email,")
    assert Lead.objects.get(email_normalized="annlead@example.com").company == "Acme Two"

    client.post(f"/imports/{imp.pk}/undo")
    imp.refresh_from_db()
    assert imp.status == ImportStatus.UNDONE
    assert not Lead.objects.filter(email_normalized="neu@example.com").exists()
    assert Lead.objects.get(email_normalized="annlead@example.com").company == "Acme"


def test_reps_cannot_import_and_rejected_emails_are_listed(org: Org) -> None:
    assert signed_in(org.ann).get("/imports/").status_code == 404
    email_ingest(raw=b"Subject: no sender\n\nhello", origin="test")
    page = signed_in(org.admin).get("/inbound-emails/").content.decode()
    assert "No sender address" in page and "no sender" in page

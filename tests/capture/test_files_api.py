"""The imports and inbound-email API."""

import io
from typing import Any

import pytest
from django.test import Client

from leadflow.access.models import Team
from leadflow.access.services import api_key_create
from leadflow.capture.models import Import
from leadflow.leads.models import Lead

pytestmark = pytest.mark.django_db

CSV = b"Email,First Name,Company\nann@example.com,Ann,Acme\nbroken,Bob,Bad\n"


@pytest.fixture
def client(db: None) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_key_create(name='t', scopes=['admin']).secret}"})


def upload(client: Client, content: bytes = CSV, **extra: Any) -> Any:
    file = io.BytesIO(content)
    file.name = "list.csv"
    return client.post("/api/v1/imports", {"file": file, "source": "API list", **extra})


def test_import_through_the_api(
    client: Client, sales_team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    created = upload(client)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["mapping"] == {"Email": "email", "First Name": "first_name", "Company": "company"}
    import_id = body["id"]

    preview = client.get(f"/api/v1/imports/{import_id}/preview").json()
    assert [row["row"] for row in preview] == [2, 3] and "email" in preview[1]["errors"]
    dry = client.post(f"/api/v1/imports/{import_id}/dry-run").json()
    assert (dry["new"], dry["update"], dry["invalid"]) == (1, 0, 1)

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/api/v1/imports/{import_id}/run")
    assert started.status_code == 202
    from leadflow.capture.imports import import_execute

    import_execute(import_id=import_id)  # what the worker does with the queued task
    status = client.get(f"/api/v1/imports/{import_id}").json()
    assert (status["status"], status["created"], status["invalid"], status["percent"]) == ("done", 1, 1, 100)
    report = client.get(f"/api/v1/imports/{import_id}/errors")
    assert report["Content-Type"].startswith("text/csv") and b"\r\n3,email," in report.content

    undo = client.post(f"/api/v1/imports/{import_id}/undo").json()
    assert undo == {"removed": 1, "reverted": 0, "kept": []}
    assert not Lead.objects.exists()
    assert client.post(f"/api/v1/imports/{import_id}/undo").status_code == 409


def test_import_api_validation(client: Client, sales_team: Team) -> None:
    bad_mapping = upload(client, mapping='{"Email": "nope"}')
    assert bad_mapping.status_code == 422 and bad_mapping.json()["detail"][0]["loc"] == ["body", "file"]
    assert upload(client, mapping="[1]").status_code == 422
    assert client.get("/api/v1/imports/999").status_code == 404
    read_only = Client(
        headers={"Authorization": f"Bearer {api_key_create(name='r', scopes=['read']).secret}"}
    )
    assert upload(read_only).status_code == 403
    imp = upload(client).json()
    changed = client.put(
        f"/api/v1/imports/{imp['id']}/mapping",
        {"mapping": {"Email": "email", "First Name": "", "Company": "extra"}, "save_as": "mine"},
        content_type="application/json",
    )
    assert changed.status_code == 200 and changed.json()["mapping"]["Company"] == "extra"
    assert Import.objects.get(pk=imp["id"]).mapping["First Name"] == ""


def test_inbound_email_api_and_rejected_log(client: Client, sales_team: Team) -> None:
    good = io.BytesIO(b"From: Ann <ann@example.com>\r\nSubject: Quote\r\nMessage-ID: <a@b>\r\n\r\nHello")
    good.name = "a.eml"
    answer = client.post("/api/v1/inbound-emails", {"message": good})
    assert answer.status_code == 200 and answer.json()["outcome"] == "lead"
    bad = io.BytesIO(b"\x00\xff not an email")
    bad.name = "b.eml"
    rejected = client.post("/api/v1/inbound-emails", {"message": bad}).json()
    assert rejected["outcome"] == "rejected" and rejected["reason"]
    log = client.get("/api/v1/inbound-emails").json()
    assert [item["id"] for item in log] == [rejected["id"]]
    assert client.post("/api/v1/inbound-emails", {"message": bad, "route": "x@y"}).status_code == 422


def test_an_import_alerts_owners_when_uploaded_or_started_so(client: Client, sales_team: Team) -> None:
    quiet = upload(client).json()
    assert quiet["alert_owners"] is False
    loud = upload(client, CSV.replace(b"ann@", b"ann2@"), alert_owners="true").json()
    assert loud["alert_owners"] is True

    started = client.post(f"/api/v1/imports/{quiet['id']}/run?alert_owners=true")
    assert started.status_code == 202 and started.json()["alert_owners"] is True
    kept = client.post(f"/api/v1/imports/{loud['id']}/run")  # no parameter: as uploaded
    assert kept.json()["alert_owners"] is True
    assert Import.objects.filter(alert_owners=True).count() == 2
    schema = client.get("/api/v1/openapi.json").json()
    assert "alert_owners" in schema["components"]["schemas"]["ImportOut"]["properties"]

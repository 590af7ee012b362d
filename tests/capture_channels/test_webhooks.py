"""Webhooks end to end: Google Ads lead forms, Meta Lead Ads against a local Graph API, generic JSON."""

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client

from leadflow.capture.channel_models import MetaLeadSync, RejectedDelivery, SyncStatus, WebhookEndpoint
from leadflow.capture.models import Submission
from leadflow.capture.webhooks import webhook_endpoint_create, webhook_endpoint_update
from leadflow.leads.models import Lead

pytestmark = pytest.mark.django_db


def google_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "lead_id": "TeSter-123-ABCDEF",
        "user_column_data": [
            {"column_name": "Full Name", "string_value": "Ada King Lovelace", "column_id": "FULL_NAME"},
            {"column_name": "User Email", "string_value": "ada@example.com", "column_id": "EMAIL"},
            {"column_name": "User Phone", "string_value": "+1 415 555 0100", "column_id": "PHONE_NUMBER"},
            {"column_name": "Company", "string_value": "Analytical Engines", "column_id": "COMPANY_NAME"},
            {"column_name": "Job title", "string_value": "CTO", "column_id": "JOB_TITLE"},
            {"column_name": "City", "string_value": "London", "column_id": "CITY"},
            {"column_name": "Postal code", "string_value": "W1", "column_id": "POSTAL_CODE"},
            {"column_name": "What is your budget?", "string_value": "10k", "column_id": "BUDGET_Q"},
        ],
        "api_version": "1.0",
        "form_id": 40000000000,
        "campaign_id": 12345,
        "adgroup_id": 678,
        "creative_id": 901,
        "gcl_id": "EAIaIQobChMI",
        "google_key": "s3cret",
        "is_test": False,
    }
    return body | overrides


@pytest.fixture
def google(db: None) -> WebhookEndpoint:
    endpoint = webhook_endpoint_create(name="Google Ads", kind="google_ads", actor=None)
    return webhook_endpoint_update(endpoint=endpoint, secret="s3cret", actor=None)


def post_json(path: str, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Client().post(f"/api/v1{path}", data=raw, content_type="application/json", headers=headers)


def test_google_lead_is_captured_with_mapped_columns_and_gclid(google: WebhookEndpoint) -> None:
    response = post_json(f"/hooks/google/{google.key}", google_body())
    assert response.status_code == 200, response.content
    lead = Lead.objects.get(email_normalized="ada@example.com")
    assert (lead.first_name, lead.last_name, lead.company, lead.job_title, lead.city) == (
        "Ada King",
        "Lovelace",
        "Analytical Engines",
        "CTO",
        "London",
    )
    assert lead.phone_e164 == "+14155550100"
    assert lead.source == google.source
    assert not lead.is_test
    assert lead.extra["questions"] == {"What is your budget?": "10k"}
    assert lead.extra["google_ads"]["campaign_id"] == "12345"
    assert lead.extra["google_ads"]["postal_code"] == "W1"
    assert lead.first_touch is not None and lead.first_touch.gclid == "EAIaIQobChMI"
    assert lead.first_touch.utm_source == "google"


def test_google_lead_id_is_deduplicated(google: WebhookEndpoint) -> None:
    first = post_json(f"/hooks/google/{google.key}", google_body())
    again = post_json(f"/hooks/google/{google.key}", google_body())
    assert first.status_code == again.status_code == 200
    assert again.json()["duplicate"] is True
    assert Submission.objects.filter(source=google.source).count() == 1


def test_google_test_lead_is_marked(google: WebhookEndpoint) -> None:
    post_json(f"/hooks/google/{google.key}", google_body(is_test=True, lead_id="test-1"))
    assert Lead.objects.get(email_normalized="ada@example.com").is_test


@pytest.mark.parametrize(("key", "status"), [("wrong", 403), ("", 401)])
def test_google_wrong_or_missing_key_is_refused_and_logged(
    google: WebhookEndpoint, key: str, status: int
) -> None:
    response = post_json(f"/hooks/google/{google.key}", google_body(google_key=key))
    assert response.status_code == status
    assert not Lead.objects.exists()
    rejection = RejectedDelivery.objects.get()
    assert rejection.endpoint == google and rejection.status_code == status
    assert "ada@example.com" in rejection.body


def test_google_unreadable_body_answers_400_and_is_logged(google: WebhookEndpoint) -> None:
    assert post_json(f"/hooks/google/{google.key}", b"not json").status_code == 400
    assert RejectedDelivery.objects.get().body == "not json"


def test_unknown_webhook_url_answers_404(google: WebhookEndpoint) -> None:
    assert post_json("/hooks/google/nope", google_body()).status_code == 404
    assert post_json(f"/hooks/generic/{google.key}", google_body()).status_code == 404


# Meta Lead Ads


class GraphAPI:
    """A local HTTP server standing in for the Graph API: answers leads by id, failing first if asked."""

    def __init__(self) -> None:
        self.leads: dict[str, dict[str, Any]] = {}
        self.failures_left = 0
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests.append(self.path)
                leadgen_id = self.path.split("?")[0].rsplit("/", 1)[-1]
                if api.failures_left > 0:
                    api.failures_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                lead = api.leads.get(leadgen_id)
                body = json.dumps(lead or {"error": {"message": "Unknown lead"}}).encode()
                self.send_response(200 if lead else 400)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v21.0"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def graph() -> Iterator[GraphAPI]:
    api = GraphAPI()
    yield api
    api.server.shutdown()


@pytest.fixture
def meta(db: None, graph: GraphAPI, settings: Any) -> WebhookEndpoint:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.LEADFLOW_META_BACKOFF_SECONDS = 0.01
    settings.LEADFLOW_META_RETRIES = 2
    endpoint = webhook_endpoint_create(name="Facebook", kind="meta", actor=None)
    return webhook_endpoint_update(
        endpoint=endpoint,
        secret="app-secret",
        verify_token="verify-me",
        access_token="page-token",
        graph_base_url=graph.url,
        actor=None,
    )


def meta_notice(leadgen_id: str = "444") -> bytes:
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "153125381133",
                    "time": 1438292065,
                    "changes": [
                        {
                            "field": "leadgen",
                            "value": {
                                "leadgen_id": leadgen_id,
                                "page_id": "153125381133",
                                "form_id": "981",
                                "ad_id": "77",
                                "created_time": 1438292065,
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def signed(body: bytes, secret: str = "app-secret") -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def graph_lead(leadgen_id: str = "444") -> dict[str, Any]:
    return {
        "id": leadgen_id,
        "created_time": "2026-12-01T10:00:00+0000",
        "field_data": [
            {"name": "full_name", "values": ["Grace Hopper"]},
            {"name": "email", "values": ["grace@example.com"]},
            {"name": "company_name", "values": ["Navy"]},
            {"name": "which_product?", "values": ["COBOL"]},
        ],
    }


def test_meta_handshake_echoes_the_challenge_only_with_the_right_token(meta: WebhookEndpoint) -> None:
    url = f"/api/v1/hooks/meta/{meta.key}"
    ok = Client().get(
        url, {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    )
    assert (ok.status_code, ok.content) == (200, b"1158201444")
    wrong = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert wrong.status_code == 403
    assert RejectedDelivery.objects.filter(endpoint=meta, status_code=403).exists()


def test_meta_lead_is_fetched_from_the_graph_api_and_captured(
    meta: WebhookEndpoint, graph: GraphAPI, django_capture_on_commit_callbacks: Any
) -> None:
    graph.leads["444"] = graph_lead()
    graph.failures_left = 1  # the first call fails: retried with backoff
    body = meta_notice()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(f"/hooks/meta/{meta.key}", body, **{"X-Hub-Signature-256": signed(body)})
    assert response.status_code == 200, response.content
    lead = Lead.objects.get(email_normalized="grace@example.com")
    assert (lead.first_name, lead.last_name, lead.company) == ("Grace", "Hopper", "Navy")
    assert lead.extra["questions"] == {"which_product?": "COBOL"}
    assert lead.extra["meta"]["form_id"] == "981"
    assert len(graph.requests) == 2 and "access_token=page-token" in graph.requests[0]
    assert MetaLeadSync.objects.get().status == SyncStatus.DONE
    with django_capture_on_commit_callbacks(execute=True):
        post_json(f"/hooks/meta/{meta.key}", body, **{"X-Hub-Signature-256": signed(body)})
    assert MetaLeadSync.objects.count() == 1 and Submission.objects.count() == 1


def test_meta_failed_sync_is_logged_and_replayed(
    meta: WebhookEndpoint, graph: GraphAPI, django_capture_on_commit_callbacks: Any, api: Any
) -> None:
    graph.failures_left = 10
    body = meta_notice("555")
    with django_capture_on_commit_callbacks(execute=True):
        post_json(f"/hooks/meta/{meta.key}", body, **{"X-Hub-Signature-256": signed(body)})
    sync = MetaLeadSync.objects.get()
    assert sync.status == SyncStatus.FAILED and "503" in sync.last_error
    assert len(graph.requests) == 3  # one try and two retries
    failed = api.get("/meta-syncs").json()
    assert [row["leadgen_id"] for row in failed] == ["555"]
    graph.failures_left = 0
    graph.leads["555"] = graph_lead("555")
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/meta-syncs/{sync.pk}/replay").status_code == 202
    sync.refresh_from_db()
    assert sync.status == SyncStatus.DONE and sync.attempts == 2
    assert Lead.objects.filter(email_normalized="grace@example.com").exists()
    assert api.post(f"/meta-syncs/{sync.pk}/replay").status_code == 409


@pytest.mark.parametrize(("signature", "status"), [("sha256=00", 403), ("", 401)])
def test_meta_bad_signature_is_refused_and_logged(meta: WebhookEndpoint, signature: str, status: int) -> None:
    headers = {"X-Hub-Signature-256": signature} if signature else {}
    assert post_json(f"/hooks/meta/{meta.key}", meta_notice(), **headers).status_code == status
    assert not MetaLeadSync.objects.exists()
    assert RejectedDelivery.objects.get().status_code == status


# Generic JSON


@pytest.fixture
def generic(db: None) -> WebhookEndpoint:
    endpoint = webhook_endpoint_create(name="Typeform", kind="generic", actor=None)
    return webhook_endpoint_update(
        endpoint=endpoint,
        secret="shh",
        mapping={
            "email": "form_response.answers.0.email",
            "first_name": "form_response.hidden.name",
            "utm_campaign": "form_response.hidden.utm_campaign",
            "external_id": "form_response.token",
        },
        actor=None,
    )


def typeform() -> dict[str, Any]:
    return {
        "event_type": "form_response",
        "form_response": {
            "token": "tok-1",
            "hidden": {"name": "Linus", "utm_campaign": "spring"},
            "answers": [{"type": "email", "email": "linus@example.com"}],
        },
    }


def test_generic_webhook_maps_dot_paths_with_the_shared_secret(generic: WebhookEndpoint) -> None:
    response = post_json(f"/hooks/generic/{generic.key}", typeform(), **{"X-Leadflow-Secret": "shh"})
    assert response.status_code == 200, response.content
    lead = Lead.objects.get(email_normalized="linus@example.com")
    assert lead.first_name == "Linus" and lead.source == generic.source
    assert lead.first_touch is not None and lead.first_touch.utm_campaign == "spring"


def test_generic_webhook_accepts_an_hmac_signature(generic: WebhookEndpoint) -> None:
    body = json.dumps(typeform()).encode()
    ok = post_json(f"/hooks/generic/{generic.key}", body, **{"X-Signature-256": signed(body, "shh")})
    assert ok.status_code == 200
    bad = post_json(f"/hooks/generic/{generic.key}", body, **{"X-Signature-256": signed(body, "other")})
    assert bad.status_code == 403


@pytest.mark.parametrize(("headers", "status"), [({"X-Leadflow-Secret": "nope"}, 403), ({}, 401)])
def test_generic_webhook_wrong_secret_is_refused_and_logged(
    generic: WebhookEndpoint, headers: dict[str, str], status: int
) -> None:
    assert post_json(f"/hooks/generic/{generic.key}", typeform(), **headers).status_code == status
    assert RejectedDelivery.objects.get().status_code == status
    assert not Lead.objects.exists()


def test_generic_webhook_unmappable_lead_is_quarantined_not_lost(generic: WebhookEndpoint) -> None:
    response = post_json(f"/hooks/generic/{generic.key}", {"other": 1}, **{"X-Leadflow-Secret": "shh"})
    assert response.status_code == 422
    assert Submission.objects.get().status == "quarantined"


def test_rejections_are_listed_for_admins(google: WebhookEndpoint, api: Any) -> None:
    post_json(f"/hooks/google/{google.key}", google_body(google_key="wrong"))
    rows = api.get("/webhook-rejections").json()
    assert rows[0]["source"] == "Google Ads" and rows[0]["status_code"] == 403


def test_channel_endpoints_are_documented_in_openapi(db: None) -> None:
    paths = Client().get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/hooks/google/{key}",
        "/api/v1/hooks/meta/{key}",
        "/api/v1/hooks/generic/{key}",
        "/api/v1/forms/{key}",
        "/api/v1/forms/{key}/submissions",
        "/api/v1/meta-syncs",
    ):
        assert path in paths


def test_meta_transient_failure_is_tried_again_by_a_deferred_task(
    meta: WebhookEndpoint, graph: GraphAPI, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    from leadflow.capture.webhooks import meta_lead_sync

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    settings.LEADFLOW_META_SYNC_ATTEMPTS = 2
    graph.failures_left = 100
    sync = MetaLeadSync.objects.create(endpoint=meta, leadgen_id="777")
    with django_capture_on_commit_callbacks(execute=True):
        meta_lead_sync(sync_id=sync.pk)
    sync.refresh_from_db()
    assert sync.status == SyncStatus.PENDING and "tried again after" in sync.last_error
    queued = DBTaskResult.objects.get()
    assert queued.task_path.endswith("meta_lead_fetch") and queued.run_after > sync.updated_at
    with django_capture_on_commit_callbacks(execute=True):
        meta_lead_sync(sync_id=sync.pk)
    sync.refresh_from_db()
    assert sync.status == SyncStatus.FAILED and sync.attempts == 2
    assert DBTaskResult.objects.count() == 1  # no further retry: it waits in the failed-sync log


def test_meta_permanent_failure_is_not_retried(
    meta: WebhookEndpoint, graph: GraphAPI, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    from leadflow.capture.webhooks import meta_lead_sync

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    sync = MetaLeadSync.objects.create(endpoint=meta, leadgen_id="unknown")  # the Graph API answers 400
    with django_capture_on_commit_callbacks(execute=True):
        meta_lead_sync(sync_id=sync.pk)
    sync.refresh_from_db()
    assert sync.status == SyncStatus.FAILED and "400" in sync.last_error
    assert len(graph.requests) == 1 and not DBTaskResult.objects.exists()

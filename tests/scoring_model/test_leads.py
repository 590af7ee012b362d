"""The model on the leads database: training data, refusal, predictions written with factors, schedule."""

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_tasks import default_task_backend

from leadflow.leads.models import Activity, ActivityKind, Lead, Source, Stage, StageTransition
from leadflow.scoring import predictive_data
from leadflow.scoring.predictive import InsufficientHistory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


def run(*args: str) -> str:
    out = StringIO()
    call_command("model", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def history() -> Callable[..., list[Lead]]:
    """`closed` closed leads where Software and pricing-page views convert, plus `open_` open leads."""

    def make(closed: int, open_: int = 40, seed: int = 0) -> list[Lead]:
        rng = np.random.default_rng(seed)
        webinar, ads = Source.objects.create(name="Webinar"), Source.objects.create(name="Ads")
        leads, views = [], []
        for i in range(closed + open_):
            industry = str(rng.choice(["Software", "Retail", "Health", "Education"]))
            pricing_views = int(rng.integers(0, 4))
            logit = -1.5 + (2.0 if industry == "Software" else 0.0) + 0.8 * pricing_views
            won = rng.random() < 1 / (1 + np.exp(-logit))
            stage = Stage.LEAD if i >= closed else (Stage.CUSTOMER if won else Stage.DISQUALIFIED)
            leads.append(
                Lead(
                    email=f"p{i}@{'gmail.com' if i % 3 == 0 else 'acme.example'}",
                    email_normalized=f"p{i}@{'gmail.com' if i % 3 == 0 else 'acme.example'}",
                    job_title=str(rng.choice(["CEO", "Marketing Manager", "Intern", "Engineer", ""])),
                    country=str(rng.choice(["DE", "US", "FR"])),
                    industry=industry,
                    company_size=str(rng.choice(["1-10", "11-50", "51-200"])),
                    source=webinar if i % 2 else ads,
                    stage=stage,
                    converted_at=timezone.now() - timedelta(days=1) if stage == Stage.CUSTOMER else None,
                )
            )
            views.append(pricing_views)
        Lead.objects.bulk_create(leads)
        long_ago = timezone.now() - timedelta(days=30)
        Activity.objects.bulk_create(
            Activity(lead=lead, kind=ActivityKind.PAGE_VIEW, summary="/pricing", occurred_at=long_ago)
            for lead, n in zip(leads, views, strict=True)
            for _ in range(n)
        )
        StageTransition.objects.bulk_create(
            StageTransition(
                lead=lead,
                from_value=Stage.LEAD,
                to_value=Stage.DISQUALIFIED,
                reason="No budget",
                occurred_at=timezone.now() - timedelta(days=2),
            )
            for lead in leads
            if lead.stage == Stage.DISQUALIFIED
        )
        return leads

    return make


def test_refuses_with_too_little_history(history: Callable[..., list[Lead]]) -> None:
    history(120)
    with pytest.raises(
        InsufficientHistory, match=r"Not enough history to train: 120 closed examples \(\d+ conv"
    ):
        predictive_data.lead_model_train()
    with pytest.raises(CommandError, match="at least 200 closed and 20 of each are needed"):
        run("train-leads")
    assert not Lead.objects.filter(conversion_probability__isnull=False).exists()


def test_training_data_counts_activities_before_a_lead_closed(history: Callable[..., list[Lead]]) -> None:
    leads = history(30, open_=2)
    customer = next(lead for lead in leads if lead.stage == Stage.CUSTOMER)
    lost = next(lead for lead in leads if lead.stage == Stage.DISQUALIFIED)
    before = {
        lead.pk: Activity.objects.filter(lead=lead, kind=ActivityKind.PAGE_VIEW).count()
        for lead in (customer, lost)
    }
    for lead in (customer, lost):  # after closing: the demo and the goodbye page do not count
        Activity.objects.create(lead=lead, kind=ActivityKind.PAGE_VIEW, occurred_at=timezone.now())
        Activity.objects.create(lead=lead, kind=ActivityKind.STAGE_CHANGE, occurred_at=timezone.now())
    data = predictive_data.lead_training_data()
    assert len(data.y) == 30
    assert data.y.sum() == sum(lead.stage == Stage.CUSTOMER for lead in leads)
    for lead in (customer, lost):
        row = data.frame.loc[lead.pk]
        assert row["activities_page_view"] == before[lead.pk]
        assert row["industry"] == lead.industry
        assert row["free_mail"] == ("yes" if "gmail" in lead.email else "no")
    assert "activities_stage_change" not in data.frame.columns
    assert predictive_data.seniority("Chief Revenue Officer") == "c-level"
    assert predictive_data.seniority("VP Sales") == "vp"
    assert predictive_data.seniority("Growth Engineer") == "individual"
    assert predictive_data.seniority(" ") is None


def test_trains_and_writes_predictions_with_factors(
    history: Callable[..., list[Lead]], data_dir: Path, api: Any, make_user: Callable[..., Any]
) -> None:
    leads = history(360, open_=60)
    out = run("train-leads")
    assert "on 360 examples" in out
    versions = predictive_data.lead_model_versions()
    assert len(versions) == 1
    assert (data_dir / "models" / "leads" / f"{versions[0]}.json").exists()
    assert f"Model {versions[0]}: predicted 60 open leads; cleared 0 closed ones." in out

    open_leads = Lead.objects.filter(stage=Stage.LEAD)
    assert not open_leads.filter(conversion_probability__isnull=True).exists()
    assert not Lead.objects.exclude(stage=Stage.LEAD).filter(conversion_probability__isnull=False).exists()
    lead = open_leads.order_by("pk").first()
    assert lead is not None
    assert lead.prediction_model == versions[0]
    assert lead.predicted_at is not None
    assert 1 <= len(lead.conversion_factors) <= 3
    factor = lead.conversion_factors[0]
    assert set(factor) == {"feature", "value", "weight", "text"}
    assert factor["text"] == f"{factor['feature']} = {factor['value']} ({factor['weight']:+.2f})"
    shown = api.get(f"/leads/{lead.pk}").json()  # the API and the lead page show the prediction
    assert shown["conversion_probability"] == lead.conversion_probability
    assert shown["conversion_factors"][0]["text"] == factor["text"]
    browser = Client()
    browser.force_login(make_user("boss", role="admin"))
    page = browser.get(reverse("web:lead_detail", kwargs={"lead_id": lead.pk})).content.decode()
    assert f"<b>{round(100 * lead.conversion_probability)} %</b> chance of converting" in page
    assert escape(factor["text"]) in page
    software = [lead.conversion_probability for lead in open_leads if lead.industry == "Software"]
    others = [lead.conversion_probability for lead in open_leads if lead.industry != "Software"]
    assert np.mean(software) > np.mean(others)

    # The lead closes: the next run clears its prediction.
    closing = leads[-1]
    Lead.objects.filter(pk=closing.pk).update(stage=Stage.CUSTOMER, converted_at=timezone.now())
    run_ = predictive_data.leads_predict(chunk=25)
    assert (run_.predicted, run_.cleared) == (59, 1)
    assert Lead.objects.get(pk=closing.pk).conversion_probability is None

    report = run("report")
    assert f"Model {versions[0]}" in report
    assert "Calibration (predicted vs observed):" in report
    with pytest.raises(CommandError, match="No lead model version 'nope'; saved versions: "):
        run("report", "nope")


def test_report_without_a_model_explains() -> None:
    with pytest.raises(
        CommandError, match=r"No lead model has been trained yet; run `leadflow model train-leads`\."
    ):
        run("report")


def test_scheduled_retraining_reschedules_itself(
    history: Callable[..., list[Lead]], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    history(50)
    default_task_backend.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run("schedule", "--every-hours", "12")
    (first,) = default_task_backend.results
    assert first.task.func is predictive_data.model_retrain_task.func
    assert first.kwargs == {"every_hours": 12.0}

    with django_capture_on_commit_callbacks(execute=True):
        outcome = predictive_data.model_retrain_task.call(every_hours=12.0)
    assert outcome.startswith("Not enough history to train: 50 closed examples")
    second = default_task_backend.results[-1]
    assert second.task.run_after is not None
    assert second.task.run_after - timezone.now() > timedelta(hours=11, minutes=59)


def test_schedule_refuses_a_second_chain(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.TASK_BACKEND = "db"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    with django_capture_on_commit_callbacks(execute=True):
        out = run("schedule", "--every-hours", "6")
    assert "every 6 hours; `leadflow worker` runs it." in out
    assert predictive_data.model_schedule_pending() is not None
    with pytest.raises(CommandError, match="A scheduled retraining is already queued"):
        run("schedule")

"""The predictive model on the leads database: training data, model versions, predictions, schedule.

Closed leads teach the model: converted (stage opportunity or customer, or converted_at set) versus
lost (disqualified, or recycled, which always carries a reason). Every other lead is open and gets a
calibrated conversion probability with its top factors, written set-based (core.db.bulk_update_fast).

Features: country, industry, company size, source, job-title seniority, free-mail address, annual
revenue, score, fit and engagement scores, and activity counts by kind. For closed leads only the
activities before they closed are counted, so what happened because a lead converted (the demo
meeting, the proposal) does not teach the model that meetings predict conversion.

Model versions are files in settings.DATA_DIR / "models" / "leads": <version>.joblib plus
<version>.json, the report. Retraining runs on demand (`leadflow model train-leads`) and on a schedule:
`leadflow model schedule --every-hours 24` enqueues `model_retrain_task`, which retrains, predicts and
enqueues itself again with run_after; the worker (`leadflow worker`) runs it.
"""

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_tasks import task

from leadflow.core.db import bulk_update_fast
from leadflow.core.queue import enqueue_after_commit
from leadflow.hygiene.normalize import domain_of_email, is_free_mail
from leadflow.leads.models import ActivityKind, Lead, Stage, StageTransition
from leadflow.scoring import predictive
from leadflow.scoring.predictive import Model, TrainingInput

logger = logging.getLogger(__name__)

WON_STAGES = (Stage.OPPORTUNITY, Stage.CUSTOMER)
LOST_STAGES = (Stage.DISQUALIFIED, Stage.RECYCLED)
# The lead's own behaviour. Left out: what reps do (calls, emails, meetings, notes), which follows the
# sales process itself (the demo meeting comes with the opportunity) and would teach the model the
# funnel rather than the lead, and bookkeeping (stage, status, score and field changes, assignment…).
COUNTED_KINDS = (
    ActivityKind.CAPTURE,
    ActivityKind.FORM_SUBMISSION,
    ActivityKind.PAGE_VIEW,
    ActivityKind.EVENT,
)
SENIORITY = (
    ("c-level", r"\b(ceo|cto|cfo|coo|cmo|cio|cro|chief|founder|co-founder|owner|president|partner)\b"),
    ("vp", r"\b(vp|svp|evp|vice president|head of)\b"),
    ("director", r"\bdirector\b"),
    ("manager", r"\b(manager|lead|supervisor)\b"),
    ("student", r"\b(student|intern|trainee)\b"),
)
CHUNK = 5000
TASK_QUEUE = "default"


def models_dir() -> Path:
    return Path(settings.DATA_DIR) / "models" / "leads"


def seniority(job_title: str) -> str | None:
    """The seniority a job title's keywords suggest; 'individual' when none match, None when empty."""
    title = job_title.strip().lower()
    if not title:
        return None
    for label, pattern in SENIORITY:
        if re.search(pattern, title):
            return label
    return "individual"


def _won() -> Q:
    return Q(stage__in=WON_STAGES) | Q(converted_at__isnull=False)


def _lost() -> Q:
    return Q(stage__in=LOST_STAGES) & Q(converted_at__isnull=True)


def _closed_leads() -> QuerySet[Lead]:
    return Lead.objects.filter(is_test=False).filter(_won() | _lost())


def _open_leads() -> QuerySet[Lead]:
    return Lead.objects.filter(is_test=False).exclude(_won() | _lost())


LEAD_COLUMNS = (
    "pk",
    "stage",
    "converted_at",
    "country",
    "industry",
    "company_size",
    "source__name",
    "job_title",
    "email_normalized",
    "annual_revenue",
    "score",
    "fit_score",
    "engagement_score",
)


def _features(leads: QuerySet[Lead], *, limit: int | None = None) -> pd.DataFrame:
    """One query: the leads' fields and activity counts (up to the moment a closed lead closed), by pk.

    The returned frame's attrs["won"] says, per row, whether the lead converted.
    """
    closed_on = StageTransition.objects.filter(
        lead=OuterRef("pk"), field=StageTransition.Field.STAGE, to_value=OuterRef("stage")
    ).order_by("-occurred_at")
    cutoff = Case(
        When(converted_at__isnull=False, then=F("converted_at")),
        When(
            stage__in=[*WON_STAGES, *LOST_STAGES],
            then=Coalesce(Subquery(closed_on.values("occurred_at")[:1]), F("updated_at")),
        ),
        default=Value(timezone.now() + timedelta(days=1)),
        output_field=DateTimeField(),
    )
    counts = {
        f"activities_{kind.value}": Count(
            "activities",
            filter=Q(activities__kind=kind, activities__occurred_at__lt=F("cutoff")),
        )
        for kind in COUNTED_KINDS
    }
    query = leads.annotate(cutoff=cutoff).annotate(**counts).values(*LEAD_COLUMNS, *counts).order_by("pk")
    frame = pd.DataFrame(list(query[:limit] if limit else query), columns=[*LEAD_COLUMNS, *counts])
    frame.index = pd.Index(frame.pop("pk"), name="pk")
    features = pd.DataFrame(
        {
            "country": frame["country"].replace("", None),
            "industry": frame["industry"].replace("", None),
            "company_size": frame["company_size"].replace("", None),
            "source": frame["source__name"],
            "job_seniority": [seniority(title) for title in frame["job_title"]],
            "free_mail": [
                None if not email else ("yes" if is_free_mail(domain_of_email(email)) else "no")
                for email in frame["email_normalized"]
            ],
            "annual_revenue": pd.to_numeric(frame["annual_revenue"], errors="coerce").astype(float),
            "score": frame["score"].astype(float),
            "fit_score": frame["fit_score"].astype(float),
            "engagement_score": frame["engagement_score"].astype(float),
            **{name: frame[name].astype(float) for name in counts},
        },
        index=frame.index,
    )
    features.attrs["won"] = (
        frame["stage"].isin([s.value for s in WON_STAGES]) | frame["converted_at"].notna()
    ).to_numpy(dtype=int)
    return features


def lead_training_data() -> TrainingInput:
    """Closed leads' features and whether each converted."""
    frame = _features(_closed_leads())
    won = frame.attrs.pop("won")
    return TrainingInput(frame=frame, y=np.asarray(won, dtype=int), target="converted", positive="yes")


def lead_model_train(*, seed: int = 42, min_closed: int = predictive.MIN_CLOSED) -> Model:
    """Trains a new model version on the closed leads and saves it; InsufficientHistory if too few."""
    data = lead_training_data()
    model = predictive.train(data, seed=seed, min_closed=min_closed)
    model.save(models_dir() / f"{model.version}.joblib")
    logger.info("Trained lead model %s on %s closed leads.", model.version, len(data.y))
    return model


def lead_model_versions() -> list[str]:
    """Saved versions, oldest first (versions are UTC timestamps, so they sort by time)."""
    return sorted(path.stem for path in models_dir().glob("*.joblib"))


def lead_model_path(*, version: str | None = None) -> Path:
    """The file of `version`, or of the latest version; ValueError when there is none."""
    versions = lead_model_versions()
    if not versions:
        raise ValueError("No lead model has been trained yet; run `leadflow model train-leads`.")
    if version is None:
        version = versions[-1]
    if version not in versions:
        raise ValueError(f"No lead model version {version!r}; saved versions: {', '.join(versions)}.")
    return models_dir() / f"{version}.joblib"


def lead_model_report(*, version: str | None = None) -> dict[str, Any]:
    path = predictive.report_path(lead_model_path(version=version))
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def _open_chunks(chunk: int) -> Iterator[pd.DataFrame]:
    last = 0
    while True:
        frame = _features(_open_leads().filter(pk__gt=last), limit=chunk)
        if frame.empty:
            return
        yield frame
        last = int(frame.index[-1])


@dataclass
class PredictionRun:
    version: str
    predicted: int
    cleared: int


def leads_predict(*, model: Model | None = None, chunk: int = CHUNK) -> PredictionRun:
    """Writes every open lead's probability and top factors (one UPDATE … FROM VALUES per chunk);
    clears predictions left on leads that have since closed."""
    if model is None:
        model = predictive.load(lead_model_path())
    moment = timezone.now()
    predicted = 0
    for frame in _open_chunks(chunk):
        frame.attrs.pop("won", None)
        probabilities = model.predict(frame)
        factors = model.explain(frame)
        leads = [
            Lead(
                pk=int(pk),
                conversion_probability=round(float(p), 4),
                conversion_factors=[
                    {"feature": f.feature, "value": f.value, "weight": f.weight, "text": f.describe()}
                    for f in row
                ],
                predicted_at=moment,
                prediction_model=model.version,
            )
            for pk, p, row in zip(frame.index, probabilities, factors, strict=True)
        ]
        with transaction.atomic():
            predicted += bulk_update_fast(
                leads, ["conversion_probability", "conversion_factors", "predicted_at", "prediction_model"]
            )
    cleared = (
        _closed_leads()
        .filter(predicted_at__isnull=False)
        .update(conversion_probability=None, conversion_factors=[], predicted_at=None, prediction_model="")
    )
    return PredictionRun(version=model.version, predicted=predicted, cleared=cleared)


@task(queue_name=TASK_QUEUE)
def model_retrain_task(every_hours: float) -> str:
    """Retrains and predicts, then enqueues itself to run again `every_hours` later.

    Too little history is not a failure: it is logged and the next attempt is scheduled all the same.
    """
    try:
        model = lead_model_train()
        run = leads_predict(model=model)
        outcome = f"Model {run.version}: {run.predicted} open leads predicted."
    except predictive.InsufficientHistory as exc:
        outcome = str(exc)
    logger.info("Scheduled retraining: %s", outcome)
    model_schedule(every_hours=every_hours, start=timezone.now() + timedelta(hours=every_hours))
    return outcome


def model_schedule(*, every_hours: float, start: datetime | None = None) -> None:
    """Enqueues the next scheduled retraining (at `start`, or now)."""
    if every_hours <= 0:
        raise ValueError("The interval must be a positive number of hours.")
    run_after = start or timezone.now()
    enqueue_after_commit(
        lambda: model_retrain_task.using(run_after=run_after).enqueue(every_hours=every_hours)
    )


def model_schedule_pending() -> datetime | None:
    """When the next scheduled retraining runs, if one is queued (database task backend only)."""
    if settings.TASK_BACKEND != "db":
        return None
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    pending = DBTaskResult.objects.filter(
        task_path=model_retrain_task.module_path, status=TaskResultStatus.READY
    ).order_by("run_after")
    first = pending.first()
    return first.run_after if first else None

"""Segments and lists: set-based on save, incremental per lead afterwards, triggers on joining."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import TestCase

from leadflow.capture.services import lead_capture
from leadflow.leads.models import Lead
from leadflow.nurture.models import Enrollment, Membership, NurtureCampaign, Segment, Template
from leadflow.nurture.services import NurtureError, lead_segments_refresh, list_add, segment_save
from leadflow.tracking.services import event_record

pytestmark = pytest.mark.django_db
MakeLead = Callable[..., Lead]


@pytest.fixture
def immediate(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def members(segment: Segment) -> set[str]:
    return set(segment.memberships.values_list("lead__email", flat=True))


def test_dynamic_segment_is_computed_on_save(make_lead: MakeLead) -> None:
    make_lead("a@x.io", country="DE", score=40)
    make_lead("b@x.io", country="DE", score=5)
    make_lead("c@x.io", country="FR", score=90)
    condition = {
        "all": [{"field": "country", "op": "eq", "value": "de"}, {"field": "score", "op": "gte", "value": 10}]
    }
    segment = segment_save(
        values={"name": "German, warm", "kind": "dynamic", "condition": condition}, actor=None
    )
    assert members(segment) == {"a@x.io"}


def test_invalid_condition_is_rejected(db: None) -> None:
    with pytest.raises(NurtureError) as err:
        segment_save(
            values={"name": "Bad", "kind": "dynamic", "condition": {"field": "shoe", "op": "eq", "value": 1}},
            actor=None,
        )
    assert "unknown field" in err.value.errors["condition"]


def test_behaviour_window_segment_updates_when_the_event_arrives(
    make_lead: MakeLead, immediate: None
) -> None:
    lead = make_lead()
    segment = segment_save(
        values={
            "name": "Visitors",
            "kind": "dynamic",
            "condition": {"field": "page_views_7d", "op": "gte", "value": 2},
        },
        actor=None,
    )
    assert members(segment) == set()
    with TestCase.captureOnCommitCallbacks(execute=True):
        event_record(lead=lead, name="page_view", properties={"url": "https://x.io/pricing"})
    assert members(segment) == set()
    with TestCase.captureOnCommitCallbacks(execute=True):
        event_record(lead=lead, name="page_view", properties={"url": "https://x.io/demo"})
    assert members(segment) == {lead.email}


def test_refresh_touches_only_the_given_leads(make_lead: MakeLead) -> None:
    inside = make_lead("in@x.io", country="DE")
    segment = segment_save(
        values={
            "name": "DE",
            "kind": "dynamic",
            "condition": {"field": "country", "op": "eq", "value": "DE"},
        },
        actor=None,
    )
    Lead.objects.filter(pk=inside.pk).update(country="FR")
    other = make_lead("other@x.io", country="DE")
    assert lead_segments_refresh(lead_ids=[inside.pk]) == {}
    assert members(segment) == set()  # left; "other" is not evaluated until it changes
    assert lead_segments_refresh(lead_ids=[other.pk]) == {segment.pk: [other.pk]}


def test_captured_lead_joins_segment_and_enters_campaign(
    db: None,
    immediate: None,
    email_template: Template,
    make_campaign: Callable[..., NurtureCampaign],
    smtp: Any,
) -> None:
    segment = segment_save(
        values={
            "name": "Acme",
            "kind": "dynamic",
            "condition": {"field": "company", "op": "eq", "value": "Acme"},
        },
        actor=None,
    )
    campaign = make_campaign(
        [{"type": "wait", "minutes": 30}], trigger={"type": "segment_joined", "segment_id": segment.pk}
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        lead_capture(payload={"email": "new@acme.io", "company": "Acme"}, channel="api")
    enrollment = Enrollment.objects.get(campaign=campaign)
    assert enrollment.lead.email == "new@acme.io" and "Joined segment" in enrollment.reason
    assert Membership.objects.filter(segment=segment).count() == 1


def test_form_submission_trigger(
    db: None, immediate: None, make_campaign: Callable[..., NurtureCampaign]
) -> None:
    campaign = make_campaign([{"type": "wait", "minutes": 30}], trigger={"type": "form_submitted"})
    with TestCase.captureOnCommitCallbacks(execute=True):
        lead_capture(payload={"email": "f@x.io"}, channel="form")
        lead_capture(payload={"email": "api@x.io"}, channel="api")
    assert list(Enrollment.objects.filter(campaign=campaign).values_list("lead__email", flat=True)) == [
        "f@x.io"
    ]


def test_static_list_bulk_add(make_lead: MakeLead) -> None:
    leads = [make_lead(f"l{i}@x.io") for i in range(5)]
    static = segment_save(values={"name": "Event list", "kind": "static"}, actor=None)
    assert list_add(segment=static, lead_ids=[lead.pk for lead in leads], actor=None, added_by="bulk") == 5
    assert list_add(segment=static, lead_ids=[leads[0].pk], actor=None) == 0
    dynamic = segment_save(values={"name": "D", "kind": "dynamic", "condition": {"all": []}}, actor=None)
    with pytest.raises(NurtureError):
        list_add(segment=dynamic, lead_ids=[leads[0].pk], actor=None)

"""The lead detail page: sections, inline edits, timeline, quick actions, and who may reach them."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from leadflow.access.models import User
from leadflow.capture.services import lead_capture
from leadflow.leads.models import Activity, ActivityKind, CustomField, Lead, Stage, StageTransition
from leadflow.leads.services import activity_create, lead_stage_change
from leadflow.routing.services import lead_assign
from tests.web.conftest import Org

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
Login = Callable[[User], Client]


def detail_url(lead: Lead) -> str:
    return reverse("web:lead_detail", args=[lead.pk])


def url(name: str, lead: Lead, *args: str) -> str:
    return reverse(f"web:{name}", args=[lead.pk, *args])


def text(response: Any) -> str:
    return response.content.decode()


def entries(html: str) -> list[int]:
    """Activity ids of the timeline entries in a response, in order."""
    return [int(pk) for pk in re.findall(r'<li id="activity-(\d+)"', html)]


@pytest.fixture
def custom_fields(db: None) -> None:
    CustomField.objects.create(key="plan", label="Plan", field_type="choice", choices=["Basic", "Pro"])
    CustomField.objects.create(key="seats", label="Seats", field_type="number")
    CustomField.objects.create(key="renewal", label="Renewal date", field_type="date")
    CustomField.objects.create(key="newsletter", label="Newsletter", field_type="boolean")
    CustomField.objects.create(key="nickname", label="Nickname", field_type="text")


@pytest.fixture
def rich_lead(org: Org, custom_fields: None) -> Lead:
    """A lead of Ann's that arrived twice, with attribution, consent, custom values and unknown fields."""
    first = lead_capture(
        payload={
            "email": "dana@globex.example",
            "first_name": "Dana",
            "last_name": "Scully",
            "company": "Globex",
            "job_title": "CTO",
            "custom": {"plan": "pro", "seats": "12", "newsletter": "yes"},
            "favourite_colour": "teal",
            "attribution": {"utm_source": "google", "utm_campaign": "brand-search", "gclid": "G-123"},
            "consent": {"email": {"granted": True, "text": "Send me product news.", "method": "signup form"}},
        }
    ).lead
    assert first is not None
    lead_capture(
        payload={
            "email": "dana@globex.example",
            "city": "Berlin",
            "attribution": {"utm_source": "newsletter", "utm_campaign": "spring-webinar"},
        }
    )
    lead = lead_assign(lead=first, owner=org.ann, actor=org.manager, reason="Knows Globex")
    lead_stage_change(lead=lead, stage=Stage.MQL, reason="Asked for pricing", actor=org.ann)
    return Lead.objects.get(pk=lead.pk)


# ----------------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------------


def test_every_section_renders_with_real_data(rich_lead: Lead, org: Org, login: Login) -> None:
    page = login(org.ann).get(detail_url(rich_lead))
    assert page.status_code == 200
    html = text(page)
    # header and read-only record
    assert "<h1>Dana Scully</h1>" in html and "CTO at Globex" in html
    assert "MQL" in html and "Ann" in html and "East" in html
    # profile: standard and custom fields, each with an edit control; extra data read-only
    for key in ("first_name", "email", "city", "custom.plan", "custom.seats", "custom.newsletter"):
        assert f'href="{url("lead_field_edit", rich_lead, key)}"' in html
    assert "Berlin" in html and ">Pro<" in html and ">12<" in html and ">Yes<" in html
    assert "favourite_colour" in html and "teal" in html
    # timeline with machine-readable times
    assert "Captured via API." in html and re.search(r'<time datetime="\d{4}-\d\d-\d\dT', html)
    # score area, honest about missing rules
    assert 'id="lead-score"' in html and "No scoring rules yet" in html
    assert "no scoring rules are defined" in html
    # attribution side by side, consent with its wording
    attribution = html.index('id="lead-attribution"')  # the timeline shows each capture's touch too
    first_touch, last_touch = (
        html.index("brand-search", attribution),
        html.index("spring-webinar", attribution),
    )
    assert 0 < first_touch < last_touch and "G-123" in html
    assert "Opted in" in html and "Send me product news." in html and "signup form" in html
    assert "Not recorded" in html  # sms
    # intake trace: both submissions, the route step highlighted
    assert html.count("Submission #") == 2
    assert "Why it has its owner" in html and 'class="highlight"' in html
    for step in ("persist_raw", "normalize", "identify", "upsert", "qualify", "follow_ups"):
        assert re.search(rf"<td>\s*{step}\s*<br><span class=\"badge", html), step
    # transition log: from → to, who, why
    assert "Asked for pricing" in html and "lead → <strong>mql</strong>" in html


def test_empty_states(org: Org, login: Login) -> None:
    lead = Lead.objects.create(first_name="Bare", team=org.east, owner=org.ann)
    html = text(login(org.ann).get(detail_url(lead)))
    assert "No activity yet" in html and "No touches recorded" in html and "No submissions" in html
    assert "No changes yet" in html and "No unknown fields were sent" in html


def test_intake_trace_is_capped(org: Org, login: Login) -> None:
    for n in range(12):
        lead_capture(payload={"email": "annlead@example.com", "city": f"City {n}"})
    html = text(login(org.ann).get(detail_url(org.ann_lead)))
    assert html.count("Submission #") == 10
    assert "and 3 older submissions not shown" in html


def test_unknown_lead_is_404(org: Org, login: Login) -> None:
    assert login(org.admin).get("/leads/999999/").status_code == 404


def test_page_needs_sign_in(client: Client, org: Org) -> None:
    response = client.get(detail_url(org.ann_lead))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# ----------------------------------------------------------------------------------------------------
# Inline editing
# ----------------------------------------------------------------------------------------------------


def test_inline_edit_swaps_in_a_form_and_saves(org: Org, login: Login) -> None:
    ann = login(org.ann)
    edit = url("lead_field_edit", org.ann_lead, "job_title")
    form = ann.get(edit, headers=HTMX)
    assert form.status_code == 200
    assert '<dd id="field-job_title"' in text(form) and 'name="value"' in text(form)
    assert "<html" not in text(form) and "data-cancel" in text(form)

    saved = ann.post(edit, {"value": "Head of Ops"}, headers=HTMX)
    assert saved.status_code == 200
    html = text(saved)
    assert html.lstrip().startswith("<dd")
    assert "Head of Ops" in html and 'name="value"' not in html
    assert 'id="lead-timeline" class="card"' in html and 'hx-swap-oob="true"' in html
    assert "Changed job_title." in html
    lead = Lead.objects.get(pk=org.ann_lead.pk)
    assert lead.job_title == "Head of Ops"
    change = Activity.objects.get(lead=lead, kind=ActivityKind.FIELD_CHANGE)
    assert change.actor == org.ann and change.payload["changes"]["job_title"] == ["", "Head of Ops"]


def test_inline_edit_cancel_returns_the_value(org: Org, login: Login) -> None:
    response = login(org.ann).get(url("lead_field", org.ann_lead, "company"), headers=HTMX)
    assert response.status_code == 200 and "Acme" in text(response) and "autofocus" in text(response)


def test_inline_edit_shows_the_service_error(org: Org, login: Login) -> None:
    response = login(org.ann).post(
        url("lead_field_edit", org.ann_lead, "email"), {"value": "not-an-email"}, headers=HTMX
    )
    assert response.status_code == 200
    html = text(response)
    assert 'role="alert"' in html and "email" in html.lower() and 'aria-invalid="true"' in html
    assert 'value="not-an-email"' in html
    assert Lead.objects.get(pk=org.ann_lead.pk).email == "annlead@example.com"


def test_inline_edit_clears_a_field(org: Org, login: Login) -> None:
    login(org.ann).post(url("lead_field_edit", org.ann_lead, "company"), {"value": ""}, headers=HTMX)
    assert Lead.objects.get(pk=org.ann_lead.pk).company == ""


@pytest.mark.parametrize(
    "case",
    [("plan", "basic", "Basic"), ("seats", "40", 40), ("renewal", "2027-01-31", "2027-01-31"),
     ("newsletter", "no", False), ("nickname", "Dee", "Dee")],
)  # fmt: skip
def test_custom_field_edit_by_type(
    org: Org, login: Login, custom_fields: None, case: tuple[str, str, object]
) -> None:
    key, posted, stored = case
    ann = login(org.ann)
    form = text(ann.get(url("lead_field_edit", org.ann_lead, f"custom.{key}"), headers=HTMX))
    widget = {"plan": "<select", "seats": 'type="number"', "renewal": 'type="date"', "newsletter": "<select"}
    assert widget.get(key, 'type="text"') in form
    ann.post(url("lead_field_edit", org.ann_lead, f"custom.{key}"), {"value": posted}, headers=HTMX)
    assert Lead.objects.get(pk=org.ann_lead.pk).custom[key] == stored


def test_custom_field_error(org: Org, login: Login, custom_fields: None) -> None:
    response = login(org.ann).post(
        url("lead_field_edit", org.ann_lead, "custom.plan"), {"value": "Platinum"}, headers=HTMX
    )
    assert "Plan must be one of: Basic, Pro." in text(response)
    assert "plan" not in Lead.objects.get(pk=org.ann_lead.pk).custom


def test_inline_edit_without_javascript(org: Org, login: Login) -> None:
    ann = login(org.ann)
    edit = url("lead_field_edit", org.ann_lead, "city")
    page = ann.get(edit)
    assert page.status_code == 200 and "<html" in text(page) and "Cancel" in text(page)
    bad = ann.post(url("lead_field_edit", org.ann_lead, "phone"), {"value": "12"})
    assert bad.status_code == 200 and "<html" in text(bad) and 'role="alert"' in text(bad)
    done = ann.post(edit, {"value": "Lisbon"})
    assert done.status_code == 302 and done["Location"] == detail_url(org.ann_lead) + "#field-city"
    assert "City saved." in text(ann.get(done["Location"]))
    assert ann.get(url("lead_field", org.ann_lead, "city")).status_code == 302


def test_unknown_field_is_404(org: Org, login: Login) -> None:
    ann = login(org.ann)
    assert ann.get(url("lead_field_edit", org.ann_lead, "owner")).status_code == 404
    assert ann.post(url("lead_field_edit", org.ann_lead, "custom.nope"), {"value": "x"}).status_code == 404


# ----------------------------------------------------------------------------------------------------
# Timeline
# ----------------------------------------------------------------------------------------------------


def test_timeline_filter_by_kind(org: Org, login: Login) -> None:
    for n in range(3):
        activity_create(lead=org.ann_lead, kind=ActivityKind.CALL, summary=f"Call {n}", actor=org.ann)
        activity_create(lead=org.ann_lead, kind=ActivityKind.NOTE, summary=f"Note {n}", actor=org.ann)
    ann = login(org.ann)
    response = ann.get(url("lead_timeline", org.ann_lead) + "?kind=call", headers=HTMX)
    assert response.status_code == 200
    calls = list(Activity.objects.filter(lead=org.ann_lead, kind="call").order_by("-occurred_at", "-id"))
    assert entries(text(response)) == [a.pk for a in calls]
    assert response["HX-Push-Url"] == detail_url(org.ann_lead) + "?kind=call"
    assert '<option value="call" selected>' in text(response)
    # the same filter without JavaScript, on the page itself
    page = ann.get(detail_url(org.ann_lead) + "?kind=note")
    assert len(entries(text(page))) == 3 and "Note 2" in text(page) and "Call 2" not in text(page)
    # nothing of a kind yet; unknown kinds show everything
    empty = ann.get(url("lead_timeline", org.ann_lead) + "?kind=meeting", headers=HTMX)
    assert "Nothing of this kind yet" in text(empty)
    everything = ann.get(url("lead_timeline", org.ann_lead) + "?kind=bogus", headers=HTMX)
    assert len(entries(text(everything))) == Activity.objects.filter(lead=org.ann_lead).count()


def test_timeline_load_more_with_the_cursor(org: Org, login: Login) -> None:
    for n in range(30):
        activity_create(lead=org.ann_lead, kind=ActivityKind.NOTE, summary=f"Note {n}", actor=org.ann)
    expected = list(
        Activity.objects.filter(lead=org.ann_lead)
        .order_by("-occurred_at", "-id")
        .values_list("pk", flat=True)
    )
    ann = login(org.ann)
    page = text(ann.get(detail_url(org.ann_lead)))
    first = entries(page)
    assert first == expected[:25]
    more = re.search(r'hx-get="([^"]*cursor=[^"]*)"', page)
    assert more is not None
    rest = ann.get(more.group(1).replace("&amp;", "&"), headers=HTMX)
    assert rest.status_code == 200 and "<ol" not in text(rest)
    assert first + entries(text(rest)) == expected
    assert "Load more" not in text(rest) or "cursor=" in text(rest)
    # the no-JavaScript link opens the page at the cursor
    link = re.search(r'href="([^"]*cursor=[^"]*)"', page)
    assert link is not None
    assert entries(text(ann.get(link.group(1).replace("&amp;", "&")))) == expected[25:50]


def test_timeline_bad_cursor_starts_over(org: Org, login: Login) -> None:
    response = login(org.ann).get(url("lead_timeline", org.ann_lead) + "?cursor=garbage", headers=HTMX)
    assert response.status_code == 200 and entries(text(response))


def test_timeline_partial_without_javascript_redirects(org: Org, login: Login) -> None:
    response = login(org.ann).get(url("lead_timeline", org.ann_lead) + "?kind=call")
    assert response.status_code == 302 and response["Location"] == detail_url(org.ann_lead) + "?kind=call"


# ----------------------------------------------------------------------------------------------------
# Quick actions
# ----------------------------------------------------------------------------------------------------


def test_log_a_call_counts_as_first_response(org: Org, login: Login) -> None:
    assert Lead.objects.get(pk=org.ann_lead.pk).first_response_at is None
    response = login(org.ann).post(
        url("lead_call", org.ann_lead), {"summary": "Left a voicemail"}, headers=HTMX
    )
    assert response.status_code == 200
    html = text(response)
    assert "Call logged." in html and 'id="lead-actions"' in html
    assert 'id="lead-timeline" class="card" aria-labelledby="lead-timeline-title" hx-swap-oob="true"' in html
    call = Activity.objects.get(lead=org.ann_lead, kind=ActivityKind.CALL)
    assert call.summary == "Left a voicemail" and call.actor == org.ann
    assert entries(html)[0] == call.pk
    assert Lead.objects.get(pk=org.ann_lead.pk).first_response_at == call.occurred_at


def test_log_a_call_needs_a_summary(org: Org, login: Login) -> None:
    response = login(org.ann).post(url("lead_call", org.ann_lead), {"summary": ""}, headers=HTMX)
    assert "This field is required." in text(response) and "Not saved" in text(response)
    assert not Activity.objects.filter(lead=org.ann_lead, kind=ActivityKind.CALL).exists()


def test_add_a_note(org: Org, login: Login) -> None:
    body = "Budget approved.\nCall back Tuesday."
    response = login(org.ann).post(url("lead_note", org.ann_lead), {"body": body}, headers=HTMX)
    assert "Note added." in text(response) and "Budget approved.<br>Call back Tuesday." in text(response)
    note = Activity.objects.get(lead=org.ann_lead, kind=ActivityKind.NOTE)
    assert note.payload["body"] == body and note.actor == org.ann


def test_blank_note_is_refused(org: Org, login: Login) -> None:
    response = login(org.ann).post(url("lead_note", org.ann_lead), {"body": "   "}, headers=HTMX)
    assert "Not saved" in text(response)
    assert not Activity.objects.filter(lead=org.ann_lead, kind=ActivityKind.NOTE).exists()


def test_change_stage_forward_and_back(org: Org, login: Login) -> None:
    ann = login(org.ann)
    forward = ann.post(url("lead_stage", org.ann_lead), {"stage": "sql", "reason": ""}, headers=HTMX)
    assert "Stage is now SQL." in text(forward)
    assert 'id="lead-transitions" class="card"' in text(forward)  # the log is refreshed out of band
    back = ann.post(url("lead_stage", org.ann_lead), {"stage": "lead", "reason": ""}, headers=HTMX)
    assert "is a step back and needs a reason" in text(back) and "Not saved" in text(back)
    assert Lead.objects.get(pk=org.ann_lead.pk).stage == Stage.SQL
    ann.post(url("lead_stage", org.ann_lead), {"stage": "recycled", "reason": "No budget this year"})
    lead = Lead.objects.get(pk=org.ann_lead.pk)
    assert lead.stage == Stage.RECYCLED
    transition = StageTransition.objects.filter(lead=lead).latest("occurred_at")
    assert (transition.from_value, transition.reason, transition.actor) == (
        "sql",
        "No budget this year",
        org.ann,
    )


def test_change_status(org: Org, login: Login) -> None:
    response = login(org.ann).post(
        url("lead_status", org.ann_lead),
        {"status": "connected", "reason": "Spoke on the phone"},
        headers=HTMX,
    )
    assert "Status is now Connected." in text(response)
    lead = Lead.objects.get(pk=org.ann_lead.pk)
    assert lead.status == "connected" and lead.first_response_at is not None
    assert StageTransition.objects.get(lead=lead, field="status").reason == "Spoke on the phone"


def test_reassign_within_reach(org: Org, login: Login) -> None:
    mia = login(org.manager)
    response = mia.post(
        url("lead_assign", org.ann_lead), {"owner": org.bob.pk, "reason": "Holiday"}, headers=HTMX
    )
    assert "Assigned to Bob." in text(response)
    lead = Lead.objects.get(pk=org.ann_lead.pk)
    assert lead.owner == org.bob
    assignment = Activity.objects.filter(lead=lead, kind=ActivityKind.ASSIGNMENT).latest("id")
    assert assignment.actor == org.manager and assignment.payload["reason"] == "Holiday"


def test_reassign_outside_assignable_is_refused(org: Org, login: Login) -> None:
    ann = login(org.ann)
    page = text(ann.get(detail_url(org.ann_lead)))
    assert f'<option value="{org.bob.pk}"' in page and f'<option value="{org.cal.pk}"' not in page
    response = ann.post(url("lead_assign", org.ann_lead), {"owner": org.cal.pk, "reason": ""}, headers=HTMX)
    assert "You can&#x27;t hand leads to this person." in text(response)
    assert Lead.objects.get(pk=org.ann_lead.pk).owner == org.ann


def test_reassign_out_of_own_reach_leaves_the_page(org: Org, login: Login) -> None:
    ann = login(org.ann)
    response = ann.post(
        url("lead_assign", org.ann_lead), {"owner": org.bob.pk, "reason": "Bob knows them"}, headers=HTMX
    )
    assert response.status_code == 200 and "HX-Redirect" in response
    assert Lead.objects.get(pk=org.ann_lead.pk).owner == org.bob
    assert ann.get(detail_url(org.ann_lead)).status_code == 404


def test_quick_action_without_javascript(org: Org, login: Login) -> None:
    ann = login(org.ann)
    done = ann.post(url("lead_note", org.ann_lead), {"body": "Plain form"})
    assert done.status_code == 302 and done["Location"] == detail_url(org.ann_lead)
    assert "Note added." in text(ann.get(done["Location"]))
    refused = ann.post(url("lead_stage", org.ann_lead), {"stage": "disqualified", "reason": ""})
    assert refused.status_code == 200 and "<html" in text(refused) and "needs a reason" in text(refused)


def test_actions_need_post(org: Org, login: Login) -> None:
    assert login(org.ann).get(url("lead_note", org.ann_lead)).status_code == 405


# ----------------------------------------------------------------------------------------------------
# Row-level access: the page and every sub-URL
# ----------------------------------------------------------------------------------------------------

READS = [
    ("lead_detail", ()),
    ("lead_timeline", ()),
    ("lead_field", ("email",)),
    ("lead_field_edit", ("email",)),
]
WRITES = [
    ("lead_field_edit", ("company",), {"value": "Hijacked"}),
    ("lead_call", (), {"summary": "Sneaky call"}),
    ("lead_note", (), {"body": "Sneaky note"}),
    ("lead_stage", (), {"stage": "customer", "reason": "x"}),
    ("lead_status", (), {"status": "converted", "reason": "x"}),
    ("lead_assign", (), {"owner": "", "reason": "x"}),
]
VISIBLE = {
    "ann": {"ann_lead", "east_pool"},
    "mia": {"ann_lead", "bob_lead", "east_pool"},
    "meg": {"ann_lead", "bob_lead", "east_pool", "cal_lead", "west_pool"},
    "ada": {"ann_lead", "bob_lead", "east_pool", "cal_lead", "west_pool"},
}
LEADS = ["ann_lead", "bob_lead", "east_pool", "cal_lead", "west_pool"]


@pytest.mark.parametrize("username", sorted(VISIBLE))
def test_who_can_open_which_lead(org: Org, login: Login, username: str) -> None:
    viewer = login(User.objects.get(username=username))
    for name in LEADS:
        lead = getattr(org, name)
        expected = 200 if name in VISIBLE[username] else 404
        for view, args in READS:
            for headers in ({}, HTMX):
                response = viewer.get(url(view, lead, *args), headers=headers)
                status = 200 if response.status_code == 302 and expected == 200 else response.status_code
                assert status == expected, (username, name, view, headers)


@pytest.mark.parametrize("name", ["bob_lead", "cal_lead", "west_pool"])
def test_a_rep_cannot_change_leads_out_of_reach(org: Org, login: Login, name: str) -> None:
    lead = getattr(org, name)
    before = Lead.objects.get(pk=lead.pk)
    activities = Activity.objects.filter(lead=lead).count()
    ann = login(org.ann)
    for view, args, data in WRITES:
        for headers in ({}, HTMX):
            assert ann.post(url(view, lead, *args), data, headers=headers).status_code == 404, view
    after = Lead.objects.get(pk=lead.pk)
    assert (after.company, after.stage, after.status, after.owner_id) == (
        before.company,
        before.stage,
        before.status,
        before.owner_id,
    )
    assert Activity.objects.filter(lead=lead).count() == activities


def test_a_manager_cannot_change_another_teams_lead(org: Org, login: Login) -> None:
    mia = login(org.manager)
    assert mia.post(url("lead_note", org.cal_lead), {"body": "x"}, headers=HTMX).status_code == 404
    assert (
        mia.post(url("lead_note", org.bob_lead), {"body": "Coaching note"}, headers=HTMX).status_code == 200
    )


# ----------------------------------------------------------------------------------------------------
# Queries
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["ann", "mia", "ada"])
def test_detail_queries_do_not_grow_with_the_timeline(
    org: Org, login: Login, custom_fields: None, django_assert_max_num_queries: Any, username: str
) -> None:
    viewer = login(User.objects.get(username=username))
    lead = org.ann_lead
    for n in range(5):
        activity_create(lead=lead, kind=ActivityKind.NOTE, summary=f"Note {n}", actor=org.ann)
    with django_assert_max_num_queries(16):  # 15 + the notification bell
        assert viewer.get(detail_url(lead)).status_code == 200
    for n in range(55):
        actor = [org.ann, org.bob, org.manager, None][n % 4]
        activity_create(lead=lead, kind=ActivityKind.CALL, summary=f"Call {n}", actor=actor)
    for n in range(12):  # more submissions than the trace shows
        lead_capture(payload={"email": "annlead@example.com", "city": f"City {n}"})
        lead_stage_change(lead=lead, stage=[Stage.MQL, Stage.SQL][n % 2], reason="Re-check", actor=org.ann)
    with django_assert_max_num_queries(16):  # 15 + the notification bell
        page = viewer.get(detail_url(lead))
    assert len(entries(text(page))) == 25


def test_action_queries_are_bounded(org: Org, login: Login, django_assert_max_num_queries: Any) -> None:
    ann = login(org.ann)
    for n in range(40):
        activity_create(lead=org.ann_lead, kind=ActivityKind.NOTE, summary=f"Note {n}", actor=org.ann)
    with django_assert_max_num_queries(25):
        ann.post(url("lead_note", org.ann_lead), {"body": "One more"}, headers=HTMX)
    with django_assert_max_num_queries(25):
        ann.post(url("lead_field_edit", org.ann_lead, "city"), {"value": "Oslo"}, headers=HTMX)

"""Scoring screens: rules (list, create, edit, delete), the qualification policy, rescore progress, and the
score breakdown with MQL accept/reject on the lead page.

Everyone signed in may read the rules and the written qualification definition; only admins and marketing
edit them (404 for others). The lead-scoped views reach the lead through leads.selectors.lead_get, so a
lead out of reach is a 404.
"""

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from leadflow.access.models import Role, User
from leadflow.core.conditions import describe
from leadflow.leads.models import Lead, Stage
from leadflow.leads.selectors import lead_get
from leadflow.scoring.models import Decay, RescoreRun, RuleKind, ScoringRule
from leadflow.scoring.selectors import lead_score_explanation, policy_get, rescore_run_latest, rule_list
from leadflow.scoring.services import (
    ScoringError,
    mql_accept,
    mql_reject,
    policy_sentences,
    policy_update,
    rule_create,
    rule_delete,
    rule_update,
)

View = Callable[..., HttpResponse]
TEMPLATES = "web/scoring"
EDITORS = {Role.ADMIN, Role.MARKETING}
CONDITION_HELP = (
    'A JSON condition, e.g. {"field": "job_title", "op": "contains", "value": "CEO"}; combine with '
    '{"all": [...]}, {"any": [...]} or {"not": ...}.'
)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _can_edit(user: User) -> bool:
    return user.is_superuser or user.role in EDITORS


def editor_required(view: View) -> View:
    """Signed-in admins and marketing only; everyone else gets a 404."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _can_edit(_user(request)):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


class JsonField(forms.CharField):
    """A textarea holding JSON; empty is None."""

    widget = forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"})

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise forms.ValidationError(f"This is not valid JSON: {err.msg} (line {err.lineno}).") from None

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, str) or value is None else json.dumps(value, indent=2)


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=RuleKind.choices)
    condition = JsonField(help_text=CONDITION_HELP)
    points = forms.IntegerField(help_text="Negative points lower the score.")
    cap = forms.IntegerField(required=False, min_value=1, help_text="Engagement only: most points per lead.")
    repeatable = forms.BooleanField(required=False, help_text="Engagement only: award for every activity.")
    decay = forms.ChoiceField(choices=Decay.choices, initial=Decay.NONE)
    decay_days = forms.IntegerField(required=False, min_value=1)
    active = forms.BooleanField(required=False, initial=True)
    order = forms.IntegerField(min_value=0, initial=0)


class PolicyForm(forms.Form):
    grade_a = forms.IntegerField(label="Grade A from fit score")
    grade_b = forms.IntegerField(label="Grade B from fit score")
    grade_c = forms.IntegerField(label="Grade C from fit score")
    qualification_enabled = forms.BooleanField(label="Qualify leads automatically", required=False)
    mql_score = forms.IntegerField(label="MQL from total score")
    mql_requires_email = forms.BooleanField(label="MQL needs a valid email", required=False)
    sql_condition = JsonField(
        label="SQL when these BANT criteria hold", required=False, help_text=CONDITION_HELP + " Empty: off."
    )
    pql_events = forms.CharField(
        label="Product-usage events", required=False, help_text="Event names, separated by commas."
    )
    pql_threshold = forms.IntegerField(label="PQL after this many events", min_value=0, help_text="0: off.")


def _form_errors(form: forms.Form, err: ScoringError) -> None:
    """Puts a service's per-field messages on the form; condition paths stay in the message."""
    for key, message in err.errors.items():
        name = key.split(".")[0]
        detail = f"{key}: {message}" if "." in key else message
        form.add_error(name if name in form.fields else None, detail)


# ----------------------------------------------------------------------------------------------------
# Rules and policy
# ----------------------------------------------------------------------------------------------------


@login_required
@require_GET
def scoring_rules(request: HttpRequest) -> HttpResponse:
    rules = [(rule, describe(rule.condition)) for rule in rule_list()]
    return render(
        request,
        f"{TEMPLATES}/rules.html",
        {
            "fit_rules": [(r, d) for r, d in rules if r.kind == RuleKind.FIT],
            "engagement_rules": [(r, d) for r, d in rules if r.kind == RuleKind.ENGAGEMENT],
            "definition": policy_sentences(policy_get()),
            "run": rescore_run_latest(),
            "can_edit": _can_edit(_user(request)),
        },
    )


def _rule_form_page(request: HttpRequest, rule: ScoringRule | None) -> HttpResponse:
    initial = {name: getattr(rule, name) for name in RuleForm.base_fields} if rule else None
    form = RuleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if rule is None:
                saved = rule_create(values=form.cleaned_data, actor=_user(request))
            else:
                saved = rule_update(rule=rule, changes=form.cleaned_data, actor=_user(request))
        except ScoringError as err:
            _form_errors(form, err)
        else:
            messages.success(request, f"Rule “{saved.name}” saved; every lead is being rescored.")
            return redirect("web:scoring_rules")
    return render(request, f"{TEMPLATES}/rule_form.html", {"form": form, "rule": rule})


@editor_required
@require_http_methods(["GET", "POST"])
def scoring_rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_form_page(request, None)


@editor_required
@require_http_methods(["GET", "POST"])
def scoring_rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    return _rule_form_page(request, get_object_or_404(ScoringRule, pk=rule_id))


@editor_required
@require_POST
def scoring_rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(ScoringRule, pk=rule_id)
    rule_delete(rule=rule, actor=_user(request))
    messages.success(request, f"Rule “{rule.name}” deleted; every lead is being rescored.")
    return redirect("web:scoring_rules")


@editor_required
@require_http_methods(["GET", "POST"])
def scoring_policy(request: HttpRequest) -> HttpResponse:
    policy = policy_get()
    initial = {name: getattr(policy, name) for name in PolicyForm.base_fields}
    initial["pql_events"] = ", ".join(policy.pql_events)
    form = PolicyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        changes["pql_events"] = [e.strip() for e in changes["pql_events"].split(",") if e.strip()]
        try:
            policy_update(changes=changes, actor=_user(request))
        except ScoringError as err:
            _form_errors(form, err)
        else:
            messages.success(request, "Qualification definition saved.")
            return redirect("web:scoring_rules")
    return render(request, f"{TEMPLATES}/policy.html", {"form": form, "definition": policy_sentences(policy)})


@login_required
@require_GET
def scoring_rescore(request: HttpRequest, run_id: int) -> HttpResponse:
    """The progress of a rescore; HTMX polls it while it runs."""
    run = get_object_or_404(RescoreRun, pk=run_id)
    return render(request, f"{TEMPLATES}/_rescore.html", {"run": run})


# ----------------------------------------------------------------------------------------------------
# On the lead page
# ----------------------------------------------------------------------------------------------------


def _visible_lead(request: HttpRequest, lead_id: int) -> Lead:
    lead = lead_get(lead_id=lead_id, viewer=_user(request))
    if lead is None:
        raise Http404("No such lead.")
    return lead


@login_required
@require_GET
def lead_score_breakdown(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Which rules gave the lead how many points, when, and when they expire; MQL review buttons."""
    lead = _visible_lead(request, lead_id)
    explanation = lead_score_explanation(lead=lead, now=timezone.now())
    return render(
        request,
        f"{TEMPLATES}/_breakdown.html",
        {"lead": lead, "explanation": explanation, "reviewable": lead.stage == Stage.MQL},
    )


@login_required
@require_POST
def lead_mql_review(request: HttpRequest, lead_id: int, decision: str) -> HttpResponse:
    """Accept (→ SQL) or reject (→ recycled, reason required) an MQL."""
    lead = _visible_lead(request, lead_id)
    if decision not in {"accept", "reject"}:
        raise Http404
    reason = request.POST.get("reason", "")
    review = mql_accept if decision == "accept" else mql_reject
    try:
        review(lead=lead, actor=_user(request), reason=reason)
    except ScoringError as err:
        if getattr(request, "htmx", False):
            context = {
                "lead": lead,
                "explanation": lead_score_explanation(lead=lead, now=timezone.now()),
                "reviewable": lead.stage == Stage.MQL,
                "review_errors": err.errors,
            }
            return render(request, f"{TEMPLATES}/_breakdown.html", context)
        for message in err.errors.values():
            messages.error(request, message)
    else:
        done = "accepted: now an SQL" if decision == "accept" else "rejected and recycled to marketing"
        messages.success(request, f"Lead {done}.")
    url = reverse("web:lead_detail", args=[lead.pk]) + "#lead-score"
    return HttpResponseClientRedirect(url) if getattr(request, "htmx", False) else redirect(url)


urlpatterns: list[URLPattern] = [
    path("scoring/", scoring_rules, name="scoring_rules"),
    path("scoring/rules/new/", scoring_rule_create, name="scoring_rule_create"),
    path("scoring/rules/<int:rule_id>/", scoring_rule_edit, name="scoring_rule_edit"),
    path("scoring/rules/<int:rule_id>/delete/", scoring_rule_delete, name="scoring_rule_delete"),
    path("scoring/policy/", scoring_policy, name="scoring_policy"),
    path("scoring/rescores/<int:run_id>/", scoring_rescore, name="scoring_rescore"),
    path("leads/<int:lead_id>/score/", lead_score_breakdown, name="lead_score_breakdown"),
    path("leads/<int:lead_id>/score/<str:decision>/", lead_mql_review, name="lead_mql_review"),
]

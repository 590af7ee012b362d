"""Routing screens for admins and managers: ordered rules, the simulator, team distribution, rep availability.

Everyone else gets a 404. Managers change the teams they manage and the schedules of those teams' members.
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
from django.urls import URLPattern, path
from django.views.decorators.http import require_POST

from leadflow.access.models import Role, Team, User
from leadflow.routing.models import (
    BreachAction,
    Fallback,
    Method,
    OutOfOffice,
    RepSchedule,
    RoutingRule,
    Target,
    TeamRouting,
    WebhookEndpoint,
)
from leadflow.routing.notifications import webhook_endpoint_set
from leadflow.routing.selectors import (
    UnknownFieldsError,
    routing_fields,
    routing_rule_list,
    routing_settings_get,
    routing_simulate,
)
from leadflow.routing.services import (
    RoutingInputError,
    out_of_office_add,
    out_of_office_remove,
    rep_schedule_set,
    routing_rule_create,
    routing_rule_delete,
    routing_rule_move,
    routing_rule_update,
    routing_settings_update,
    team_holiday_add,
    team_holiday_remove,
    team_routing_update,
)

View = Callable[..., HttpResponse]
CONDITION_HELP = (
    'JSON, e.g. {"field": "country", "op": "in", "value": ["DE", "AT"]}; combine with "all"/"any".'
)


def routing_staff(view: View) -> View:
    """Signed-in admins and managers only; everyone else gets a 404."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _is_admin(request.user) and getattr(request.user, "role", None) != Role.MANAGER:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


def _is_admin(user: Any) -> bool:
    return isinstance(user, User) and (user.is_superuser or user.role == Role.ADMIN)


def _teams_in_reach(user: Any) -> Any:
    return Team.objects.all() if _is_admin(user) else Team.objects.filter(manager=user)


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    condition = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}), help_text=CONDITION_HELP
    )
    target = forms.ChoiceField(choices=Target.choices)
    target_team = forms.ModelChoiceField(Team.objects.all(), required=False, empty_label="—")
    target_user = forms.ModelChoiceField(
        User.objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="—",
        help_text="For a person: their team (optional) is tried when they are unavailable.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def clean_condition(self) -> Any:
        try:
            return json.loads(self.cleaned_data["condition"])
        except json.JSONDecodeError as err:
            raise forms.ValidationError(
                f"Not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})."
            ) from None


class TeamRoutingForm(forms.Form):
    method = forms.ChoiceField(choices=Method.choices)
    daily_cap = forms.IntegerField(min_value=0, required=False, help_text="Most new leads per rep per day.")
    open_cap = forms.IntegerField(
        min_value=0, required=False, help_text="Most open, uncontacted leads per rep."
    )
    fallback = forms.ChoiceField(choices=Fallback.choices, help_text="When nobody in the team is available.")
    fallback_team = forms.ModelChoiceField(Team.objects.all(), required=False, empty_label="—")
    sla_minutes = forms.IntegerField(
        min_value=1,
        required=False,
        label="First-response SLA (minutes)",
        help_text="Counted in the owner's working hours from assignment. Empty: no SLA.",
    )
    sla_reminder_minutes = forms.IntegerField(
        min_value=1, required=False, label="Remind (minutes before)", help_text="Empty: no reminder."
    )
    breach_action = forms.ChoiceField(choices=BreachAction.choices, label="On breach", required=False)
    max_reassignments = forms.IntegerField(
        min_value=0,
        initial=2,
        required=False,
        help_text="Reassignments per lead; then the breach is escalated.",
    )
    webhook_url = forms.URLField(
        assume_scheme="https",
        required=False,
        label="Team webhook URL",
        help_text="The team's notifications are posted here as signed JSON (e.g. a chat tool). Empty: none.",
    )


class HolidayForm(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(max_length=100, required=False)


class ScheduleForm(forms.Form):
    hours = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        required=False,
        help_text='In the rep\'s timezone, e.g. {"mon": [["09:00", "17:00"]]}. Empty: always available.',
    )

    def clean_hours(self) -> Any:
        text = self.cleaned_data["hours"].strip()
        try:
            return json.loads(text) if text else {}
        except json.JSONDecodeError as err:
            raise forms.ValidationError(f"Not valid JSON: {err.msg}.") from None


class AbsenceForm(forms.Form):
    starts_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(max_length=200, required=False)


class SimulateForm(forms.Form):
    lead_id = forms.IntegerField(required=False, label="Lead id", help_text="An existing lead you can see.")
    values = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        required=False,
        label="Or lead fields",
        help_text='JSON, e.g. {"country": "DE", "score": 80, "source": "Webinar"}.',
    )

    def clean_values(self) -> Any:
        text = self.cleaned_data["values"].strip()
        try:
            value = json.loads(text) if text else None
        except json.JSONDecodeError as err:
            raise forms.ValidationError(f"Not valid JSON: {err.msg}.") from None
        if value is not None and not isinstance(value, dict):
            raise forms.ValidationError("Give an object of field names and values.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("lead_id") is None) == (data.get("values") is None):
            raise forms.ValidationError("Give a lead id or lead fields.")
        return data


@routing_staff
def rules_page(request: HttpRequest) -> HttpResponse:
    """The ordered rules, the account-matching switch, and the teams' settings."""
    return render(
        request,
        "web/routing/rules.html",
        {
            "rules": routing_rule_list(),
            "settings": routing_settings_get(),
            "teams": _teams_in_reach(request.user).select_related("manager", "routing"),
            "is_admin": _is_admin(request.user),
            "webhook": WebhookEndpoint.objects.filter(team__isnull=True).first(),
        },
    )


def _rule_args(form: RuleForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "condition": data["condition"],
        "target": data["target"],
        "target_user_id": data["target_user"].pk if data["target_user"] else None,
        "target_team_id": data["target_team"].pk if data["target_team"] else None,
        "is_active": data["is_active"],
    }


@routing_staff
def rule_edit(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    """Create or change a rule; bad fields, operators and targets are shown next to their inputs."""
    rule = get_object_or_404(RoutingRule, pk=rule_id) if rule_id is not None else None
    if request.method == "POST":
        form = RuleForm(request.POST)
        if form.is_valid():
            try:
                if rule is None:
                    routing_rule_create(**_rule_args(form))
                else:
                    routing_rule_update(rule=rule, **_rule_args(form))
            except RoutingInputError as err:
                for key, message in err.errors.items():
                    form.add_error(key if key in form.fields else None, message)
            else:
                messages.success(request, "Rule saved.")
                return redirect("web:routing_rules")
    elif rule is not None:
        form = RuleForm(
            initial={
                "name": rule.name,
                "condition": json.dumps(rule.condition, indent=2, ensure_ascii=False),
                "target": rule.target,
                "target_team": rule.target_team,
                "target_user": rule.target_user,
                "is_active": rule.is_active,
            }
        )
    else:
        form = RuleForm(initial={"condition": json.dumps({"field": "country", "op": "in", "value": ["DE"]})})
    return render(
        request,
        "web/routing/rule_form.html",
        {"form": form, "rule": rule, "fields": sorted(routing_fields().items())},
    )


@require_POST
@routing_staff
def rule_move(request: HttpRequest, rule_id: int) -> HttpResponse:
    routing_rule_move(
        rule=get_object_or_404(RoutingRule, pk=rule_id), offset=-1 if request.POST.get("up") else 1
    )
    return redirect("web:routing_rules")


@require_POST
@routing_staff
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=rule_id)
    routing_rule_delete(rule=rule)
    messages.success(request, f"Rule '{rule.name}' deleted.")
    return redirect("web:routing_rules")


@require_POST
@routing_staff
def settings_update(request: HttpRequest) -> HttpResponse:
    if not _is_admin(request.user):
        raise Http404
    if "webhook_url" in request.POST:
        field = forms.URLField(required=False, assume_scheme="https")
        try:
            url = field.clean(request.POST["webhook_url"])
        except forms.ValidationError:
            messages.error(request, "The webhook URL is not a valid http(s) URL; nothing was changed.")
            return redirect("web:routing_rules")
        webhook_endpoint_set(team=None, url=url)
        messages.success(request, "Global webhook saved." if url else "Global webhook removed.")
        return redirect("web:routing_rules")
    routing_settings_update(account_matching=request.POST.get("account_matching") == "on")
    messages.success(request, "Routing settings saved.")
    return redirect("web:routing_rules")


@routing_staff
def simulate_page(request: HttpRequest) -> HttpResponse:
    """A dry run: who would get this lead and why. Nothing is assigned."""
    form = SimulateForm(request.GET or None)
    decision = None
    names: dict[int, str] = {}
    if form.is_bound and form.is_valid():
        try:
            decision = routing_simulate(
                viewer=request.user if isinstance(request.user, User) else None,
                lead_id=form.cleaned_data["lead_id"],
                values=form.cleaned_data["values"],
            )
        except UnknownFieldsError as err:
            form.add_error(
                "values", "; ".join(f"{key.split('.', 1)[1]}: {msg}" for key, msg in err.errors.items())
            )
        else:
            if decision is None:
                form.add_error("lead_id", "No lead with this id in your reach.")
            else:
                ids = [i for i in (decision.owner_id,) if i is not None]
                names = {u.pk: u.get_full_name() or u.username for u in User.objects.filter(pk__in=ids)}
    team = Team.objects.filter(pk=decision.team_id).first() if decision and decision.team_id else None
    return render(
        request,
        "web/routing/simulate.html",
        {
            "form": form,
            "decision": decision,
            "owner_name": names.get(decision.owner_id or 0) if decision else None,
            "team": team,
        },
    )


@routing_staff
def team_page(request: HttpRequest, team_id: int) -> HttpResponse:
    """A team's distribution method, caps, fallback, holidays and its members' availability."""
    team = get_object_or_404(_teams_in_reach(request.user), pk=team_id)
    current = TeamRouting.objects.filter(team=team).first()
    webhook = WebhookEndpoint.objects.filter(team=team).first()
    if request.method == "POST":
        form = TeamRoutingForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                team_routing_update(
                    team=team,
                    method=data["method"],
                    daily_cap=data["daily_cap"],
                    open_cap=data["open_cap"],
                    fallback=data["fallback"],
                    fallback_team_id=data["fallback_team"].pk if data["fallback_team"] else None,
                    sla_minutes=data["sla_minutes"],
                    sla_reminder_minutes=data["sla_reminder_minutes"],
                    breach_action=data["breach_action"] or BreachAction.REASSIGN,
                    max_reassignments=2 if data["max_reassignments"] is None else data["max_reassignments"],
                )
                webhook_endpoint_set(team=team, url=data["webhook_url"] or "")
            except RoutingInputError as err:
                for key, message in err.errors.items():
                    form.add_error(key if key in form.fields else None, message)
            else:
                messages.success(request, f"Distribution of {team} saved.")
                return redirect("web:routing_team", team_id=team.pk)
    else:
        form = TeamRoutingForm(
            initial={
                "method": current.method if current else Method.ROUND_ROBIN,
                "daily_cap": current.daily_cap if current else None,
                "open_cap": current.open_cap if current else None,
                "fallback": current.fallback if current else Fallback.POOL,
                "fallback_team": current.fallback_team if current else None,
                "sla_minutes": current.sla_minutes if current else None,
                "sla_reminder_minutes": current.sla_reminder_minutes if current else None,
                "breach_action": current.breach_action if current else BreachAction.REASSIGN,
                "max_reassignments": current.max_reassignments if current else 2,
                "webhook_url": webhook.url if webhook else "",
            }
        )
    members = team.memberships.select_related("user", "user__schedule").order_by("user__username")
    return render(
        request,
        "web/routing/team.html",
        {
            "team": team,
            "form": form,
            "holiday_form": HolidayForm(),
            "holidays": team.holidays.all(),
            "members": members,
            "webhook": webhook,
        },
    )


@require_POST
@routing_staff
def team_holiday(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(_teams_in_reach(request.user), pk=team_id)
    if "remove" in request.POST:
        team_holiday_remove(team=team, holiday_id=int(request.POST["remove"]))
    else:
        form = HolidayForm(request.POST)
        if form.is_valid():
            team_holiday_add(team=team, date=form.cleaned_data["date"], name=form.cleaned_data["name"])
        else:
            messages.error(request, "Give the holiday's date.")
    return redirect("web:routing_team", team_id=team.pk)


def _rep_in_reach(request: HttpRequest, user_id: int) -> User:
    reps = User.objects.all()
    if not _is_admin(request.user):
        assert isinstance(request.user, User)
        reps = reps.filter(memberships__team__manager=request.user).distinct()
    return get_object_or_404(reps, pk=user_id)


@routing_staff
def rep_page(request: HttpRequest, user_id: int) -> HttpResponse:
    """A rep's weekly hours (in their timezone) and out-of-office ranges."""
    rep = _rep_in_reach(request, user_id)
    schedule = RepSchedule.objects.filter(user=rep).first()
    absence_form = AbsenceForm()
    if request.method == "POST" and "hours" in request.POST:
        form = ScheduleForm(request.POST)
        if form.is_valid():
            try:
                rep_schedule_set(user=rep, hours=form.cleaned_data["hours"])
            except RoutingInputError as err:
                form.add_error("hours", err.errors["hours"])
            else:
                messages.success(request, "Working hours saved.")
                return redirect("web:routing_rep", user_id=rep.pk)
    elif request.method == "POST" and "remove" in request.POST:
        out_of_office_remove(user=rep, absence_id=int(request.POST["remove"]))
        return redirect("web:routing_rep", user_id=rep.pk)
    elif request.method == "POST":
        form = ScheduleForm(initial={"hours": json.dumps(schedule.hours) if schedule else ""})
        absence_form = AbsenceForm(request.POST)
        if absence_form.is_valid():
            try:
                out_of_office_add(user=rep, **absence_form.cleaned_data)
            except RoutingInputError as err:
                absence_form.add_error("ends_on", err.errors["ends_on"])
            else:
                messages.success(request, "Absence added.")
                return redirect("web:routing_rep", user_id=rep.pk)
    else:
        form = ScheduleForm(initial={"hours": json.dumps(schedule.hours) if schedule else ""})
    return render(
        request,
        "web/routing/rep.html",
        {
            "rep": rep,
            "form": form,
            "absence_form": absence_form,
            "absences": OutOfOffice.objects.filter(user=rep),
        },
    )


urlpatterns: list[URLPattern] = [
    path("routing/", rules_page, name="routing_rules"),
    path("routing/settings/", settings_update, name="routing_settings"),
    path("routing/rules/new/", rule_edit, name="routing_rule_create"),
    path("routing/rules/<int:rule_id>/", rule_edit, name="routing_rule_edit"),
    path("routing/rules/<int:rule_id>/move/", rule_move, name="routing_rule_move"),
    path("routing/rules/<int:rule_id>/delete/", rule_delete, name="routing_rule_delete"),
    path("routing/simulate/", simulate_page, name="routing_simulate"),
    path("routing/teams/<int:team_id>/", team_page, name="routing_team"),
    path("routing/teams/<int:team_id>/holidays/", team_holiday, name="routing_team_holiday"),
    path("routing/reps/<int:user_id>/", rep_page, name="routing_rep"),
]

"""Nurture screens for marketing and admins: segments and lists, templates (preview, test send), campaigns
(builder, enrollment, statistics per step with a chart, failures)."""

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_http_methods, require_POST

from leadflow.leads.models import Lead
from leadflow.leads.selectors import lead_visible
from leadflow.nurture.models import (
    CampaignStatus,
    MessageChannel,
    NurtureCampaign,
    Segment,
    SegmentKind,
    Template,
)
from leadflow.nurture.plan import EXIT_GOALS, TRIGGERS
from leadflow.nurture.selectors import (
    campaign_failures,
    campaign_stats,
    campaigns_with_counts,
    segment_members,
    segments_with_sizes,
)
from leadflow.nurture.services import (
    NurtureError,
    campaign_save,
    leads_enroll,
    list_add,
    segment_save,
    template_render,
    template_save,
    template_test_send,
)
from leadflow.web.scoring_views import CONDITION_HELP, JsonField, _user, editor_required

TEMPLATES = "web/nurture"
STEPS_HELP = (
    'A JSON list of steps run in order, e.g. [{"type": "email", "template_id": 1}, '
    '{"type": "wait", "minutes": 1440, "until_condition": {"field": "opened", "op": "eq", "value": true}}, '
    '{"type": "branch", "condition": {"field": "clicked", "op": "eq", "value": true}, "then": 4, "else": 5}, '
    '{"type": "handoff"}]. Types: email, sms, wait (minutes | until | window), branch (then/else = later '
    "step numbers), update (field, value), list (action add|remove, segment_id), task (title), notify "
    "(title), handoff."
)


def _errors(form: forms.Form, err: NurtureError) -> None:
    for key, message in err.errors.items():
        form.add_error(key if key in form.fields else None, message)


class SegmentForm(forms.Form):
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=SegmentKind.choices)
    condition = JsonField(required=False, help_text=CONDITION_HELP + " Dynamic segments only.")


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    channel = forms.ChoiceField(choices=MessageChannel.choices)
    subject = forms.CharField(max_length=300, required=False)
    html = forms.CharField(
        label="HTML part", required=False, widget=forms.Textarea(attrs={"rows": 8, "class": "mono"})
    )
    text = forms.CharField(
        label="Text part (SMS body)", widget=forms.Textarea(attrs={"rows": 6, "class": "mono"})
    )


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=200)
    status = forms.ChoiceField(choices=CampaignStatus.choices)
    trigger = JsonField(
        help_text=f'e.g. {{"type": "segment_joined", "segment_id": 1}}; types: {", ".join(TRIGGERS)}.'
    )
    exit_goals = forms.MultipleChoiceField(
        choices=[(g, g.replace("_", " ")) for g in EXIT_GOALS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    steps = JsonField(help_text=STEPS_HELP)


@editor_required
def nurture_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        f"{TEMPLATES}/home.html",
        {
            "campaigns": campaigns_with_counts(),
            "segments": segments_with_sizes(),
            "templates": Template.objects.all(),
            "failures": campaign_failures(limit=10),
        },
    )


@editor_required
@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, segment_id: int | None = None) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=segment_id) if segment_id else None
    initial = {"name": segment.name, "kind": segment.kind, "condition": segment.condition} if segment else {}
    form = SegmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            segment = segment_save(segment=segment, values=form.cleaned_data, actor=_user(request))
        except NurtureError as err:
            _errors(form, err)
        else:
            messages.success(request, f"Saved {segment.name}.")
            return redirect("web:nurture_segment", segment_id=segment.pk)
    members = segment_members(segment=segment, visible=lead_visible(viewer=_user(request))) if segment else []
    return render(
        request, f"{TEMPLATES}/segment.html", {"form": form, "segment": segment, "members": members}
    )


@editor_required
@require_POST
def segment_add(request: HttpRequest, segment_id: int) -> HttpResponse:
    """Bulk add to a static list: emails or lead ids, one per line (only leads the user may see)."""
    segment = get_object_or_404(Segment, pk=segment_id)
    keys = [k.strip() for k in request.POST.get("leads", "").split() if k.strip()]
    visible = lead_visible(viewer=_user(request))
    ids = set(visible.filter(pk__in=[k for k in keys if k.isdigit()]).values_list("pk", flat=True))
    ids |= set(
        visible.filter(email_normalized__in=[k.lower() for k in keys if "@" in k]).values_list(
            "pk", flat=True
        )
    )
    try:
        added = list_add(
            segment=segment, lead_ids=ids, actor=_user(request), added_by="bulk" if len(ids) > 1 else "manual"
        )
    except NurtureError as err:
        messages.error(request, " ".join(err.errors.values()))
    else:
        messages.success(
            request, f"Added {added} lead{'s' if added != 1 else ''}; {len(keys) - len(ids)} not found."
        )
    return redirect("web:nurture_segment", segment_id=segment.pk)


@editor_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, template_id: int | None = None) -> HttpResponse:
    template = get_object_or_404(Template, pk=template_id) if template_id else None
    initial = (
        {k: getattr(template, k) for k in ("name", "channel", "subject", "html", "text")} if template else {}
    )
    form = TemplateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            template = template_save(template=template, values=form.cleaned_data, actor=_user(request))
        except NurtureError as err:
            _errors(form, err)
        else:
            messages.success(request, f"Saved {template.name}.")
            return redirect("web:nurture_template", template_id=template.pk)
    visible = lead_visible(viewer=_user(request))
    sample = None
    if template:
        sample_id = request.GET.get("lead")
        sample = (
            visible.filter(pk=sample_id).first() if sample_id and sample_id.isdigit() else None
        ) or visible.order_by("-pk").first()
    preview = template_render(template=template, lead=sample) if template and sample else None
    return render(
        request,
        f"{TEMPLATES}/template.html",
        {"form": form, "template": template, "sample": sample, "preview": preview},
    )


@editor_required
@require_POST
def template_test(request: HttpRequest, template_id: int) -> HttpResponse:
    template = get_object_or_404(Template, pk=template_id)
    lead = lead_visible(viewer=_user(request)).filter(pk=request.POST.get("lead") or 0).first()
    to = request.POST.get("to", "").strip() or _user(request).email
    if lead is None or not to:
        messages.error(request, "Choose a sample lead and an address to send the test to.")
    else:
        try:
            template_test_send(template=template, lead=lead, to=to, actor=_user(request))
        except NurtureError as err:
            messages.error(request, " ".join(err.errors.values()))
        else:
            messages.success(request, f"Sent a test to {to}.")
    return redirect("web:nurture_template", template_id=template.pk)


@editor_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, campaign_id: int | None = None) -> HttpResponse:
    campaign = get_object_or_404(NurtureCampaign, pk=campaign_id) if campaign_id else None
    initial: dict[str, Any] = (
        {
            "name": campaign.name,
            "status": campaign.status,
            "trigger": campaign.trigger,
            "exit_goals": campaign.exit_goals,
            "steps": campaign.steps,
        }
        if campaign
        else {"trigger": {"type": "manual"}, "steps": [], "status": CampaignStatus.DRAFT}
    )
    form = CampaignForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_save(campaign=campaign, values=form.cleaned_data, actor=_user(request))
        except NurtureError as err:
            _errors(form, err)
        else:
            messages.success(request, f"Saved {campaign.name}.")
            return redirect("web:nurture_campaign", campaign_id=campaign.pk)
    stats = campaign_stats(campaign=campaign) if campaign else None
    chart = (
        {
            "labels": [f"{s.number}. {s.label}" for s in stats.steps],
            "series": {
                name: [getattr(s, name) for s in stats.steps]
                for name in ("sent", "opened", "clicked", "replied", "unsubscribed")
            },
        }
        if stats
        else None
    )
    return render(
        request,
        f"{TEMPLATES}/campaign.html",
        {
            "form": form,
            "campaign": campaign,
            "stats": stats,
            "totals": stats.totals() if stats else {},
            "chart": chart,
            "failures": campaign_failures(campaign=campaign) if campaign else [],
            "segments": Segment.objects.all(),
            "templates": Template.objects.all(),
            "steps_json": json.dumps(campaign.steps, indent=2) if campaign else "[]",
        },
    )


@editor_required
@require_POST
def campaign_enroll(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Manual or bulk enrollment: every visible member of a segment, or leads by id/email."""
    campaign = get_object_or_404(NurtureCampaign, pk=campaign_id)
    visible = lead_visible(viewer=_user(request))
    leads: Any = Lead.objects.none()
    if segment_id := request.POST.get("segment"):
        leads = visible.filter(segment_memberships__segment_id=segment_id)
    elif keys := request.POST.get("leads", "").split():
        leads = visible.filter(pk__in=[k for k in keys if k.isdigit()]) | visible.filter(
            email_normalized__in=[k.lower() for k in keys if "@" in k]
        )
    count = leads_enroll(
        campaign=campaign, lead_ids=leads.values_list("pk", flat=True), reason=f"Enrolled by {_user(request)}"
    )
    messages.success(request, f"Enrolled {count} lead{'s' if count != 1 else ''}.")
    return redirect("web:nurture_campaign", campaign_id=campaign.pk)


urlpatterns: list[URLPattern] = [
    path("nurture/", nurture_home, name="nurture"),
    path("nurture/segments/new/", segment_edit, name="nurture_segment_new"),
    path("nurture/segments/<int:segment_id>/", segment_edit, name="nurture_segment"),
    path("nurture/segments/<int:segment_id>/add/", segment_add, name="nurture_segment_add"),
    path("nurture/templates/new/", template_edit, name="nurture_template_new"),
    path("nurture/templates/<int:template_id>/", template_edit, name="nurture_template"),
    path("nurture/templates/<int:template_id>/test/", template_test, name="nurture_template_test"),
    path("nurture/campaigns/new/", campaign_edit, name="nurture_campaign_new"),
    path("nurture/campaigns/<int:campaign_id>/", campaign_edit, name="nurture_campaign"),
    path("nurture/campaigns/<int:campaign_id>/enroll/", campaign_enroll, name="nurture_campaign_enroll"),
]

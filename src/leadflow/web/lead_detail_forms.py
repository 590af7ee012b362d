"""Forms of the lead detail page: one-field inline edits and the quick actions."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.db import models
from django.db.models import QuerySet

from leadflow.access.models import User
from leadflow.leads.fields import STANDARD_FIELDS, CustomFieldSpec
from leadflow.leads.models import FieldType, Lead, Stage, Status
from leadflow.web.widgets import QuickSelect

# Widgets of standard fields that are not plain text; the service validates every value.
STANDARD_WIDGET_ATTRS: dict[str, dict[str, str]] = {
    "email": {"type": "email", "autocomplete": "off"},
    "phone": {"inputmode": "tel"},
    "website": {"inputmode": "url"},
    "company_domain": {"inputmode": "url"},
    "annual_revenue": {"inputmode": "decimal", "placeholder": "e.g. 250000, 1.5M"},
    "country": {"placeholder": "ISO code or name, e.g. DE"},
    "timezone": {"placeholder": "e.g. Europe/Berlin"},
}
BOOLEAN_CHOICES = [("", "—"), ("yes", "Yes"), ("no", "No")]


@dataclass(frozen=True)
class EditableField:
    """A lead field a person may edit inline: a standard field, or a custom field ("custom.<key>")."""

    key: str
    label: str
    custom: CustomFieldSpec | None = None

    @property
    def slug(self) -> str:
        """The key made safe for HTML ids."""
        return self.key.replace(".", "-")

    def value(self, lead: Lead) -> Any:
        if self.custom is not None:
            return lead.custom.get(self.custom.key)
        return getattr(lead, self.key)

    def display(self, lead: Lead) -> str:
        """The value as people read it; "" when there is none."""
        value = self.value(lead)
        if value is None or value == "":
            return ""
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(value, Decimal):
            return f"{value:,.2f}".removesuffix(".00")
        return str(value)

    def changes(self, value: str) -> dict[str, Any]:
        """The `changes` argument of capture.services.lead_update that sets this field to `value`."""
        if self.custom is not None:
            return {"custom": {self.custom.key: value}}
        return {self.key: value}

    def form(self, lead: Lead, data: Any = None) -> forms.Form:
        """A one-field form; its input is named "value"."""
        form = forms.Form(data=data, auto_id=f"edit-{self.slug}-%s")
        widget = self._widget()
        widget.attrs["autofocus"] = True
        form.fields["value"] = forms.CharField(label=self.label, required=False, strip=False, widget=widget)
        form.initial = {"value": self._initial(lead)}
        return form

    def refuse(self, form: forms.Form, message: str) -> None:
        """Shows the service's message under the input, tied to it for screen readers."""
        form.add_error("value", message)
        form.fields["value"].widget.attrs["aria-describedby"] = f"edit-{self.slug}-error"

    def _initial(self, lead: Lead) -> str:
        value = self.value(lead)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, Decimal):
            return f"{value:f}".removesuffix(".00")
        return str(value)

    def _widget(self) -> forms.Widget:
        spec = self.custom
        if spec is None:
            model_field = Lead._meta.get_field(self.key)
            assert isinstance(model_field, models.Field)
            max_length = model_field.max_length
            attrs = {**STANDARD_WIDGET_ATTRS.get(self.key, {})}
            if max_length:
                attrs["maxlength"] = str(max_length)
            return forms.TextInput(attrs=attrs)
        if spec.field_type == FieldType.NUMBER:
            return forms.NumberInput(attrs={"step": "any"})
        if spec.field_type == FieldType.DATE:
            return forms.DateInput(attrs={"type": "date"})
        if spec.field_type == FieldType.CHOICE:
            return forms.Select(choices=[("", "—"), *((c, c) for c in spec.choices)])
        if spec.field_type == FieldType.BOOLEAN:
            return forms.Select(choices=BOOLEAN_CHOICES)
        return forms.TextInput(attrs={"maxlength": "1000"})


def _label(name: str) -> str:
    field = Lead._meta.get_field(name)
    assert isinstance(field, models.Field)
    return str(field.verbose_name).capitalize()


def editable_fields(specs: dict[str, CustomFieldSpec]) -> list[EditableField]:
    """Every standard field, then every custom field, in a stable order."""
    standard = [EditableField(key=name, label=_label(name)) for name in STANDARD_FIELDS]
    custom = [
        EditableField(key=f"custom.{key}", label=spec.label, custom=spec) for key, spec in specs.items()
    ]
    return standard + custom


def editable_field(key: str, specs: dict[str, CustomFieldSpec]) -> EditableField | None:
    return next((f for f in editable_fields(specs) if f.key == key), None)


class ActionForm(forms.Form):
    """A quick action; ids are prefixed so that several forms share one page."""

    id_prefix: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class CallForm(ActionForm):
    id_prefix = "call"
    summary = forms.CharField(
        label="Call summary",
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "Outcome and next step"}),
    )


class NoteForm(ActionForm):
    id_prefix = "note"
    body = forms.CharField(label="Note", max_length=10000, widget=forms.Textarea(attrs={"rows": 3}))


class StageForm(ActionForm):
    id_prefix = "stage"
    stage = forms.ChoiceField(label="Stage", choices=Stage.choices)
    reason = forms.CharField(label="Reason", required=False, max_length=500, help_text="Needed to move back.")


class StatusForm(ActionForm):
    id_prefix = "status"
    status = forms.ChoiceField(label="Status", choices=Status.choices)
    reason = forms.CharField(label="Reason", required=False, max_length=500)


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.username


class AssignForm(ActionForm):
    """Reassigns to someone the viewer may hand leads to; an empty choice returns it to the team pool."""

    id_prefix = "assign"
    owner = OwnerChoiceField(
        label="Owner",
        queryset=User.objects.none(),
        required=False,
        empty_label="Unassigned (team pool)",
        error_messages={"invalid_choice": "You can't hand leads to this person."},
        widget=QuickSelect,
    )
    reason = forms.CharField(label="Reason", required=False, max_length=200)

    def __init__(self, *args: Any, assignable: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner_field = self.fields["owner"]
        assert isinstance(owner_field, OwnerChoiceField)
        owner_field.queryset = assignable

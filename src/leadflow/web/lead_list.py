"""Helpers of the inbox and the lead list: filter and bulk forms, clocks, CSV export, saved views."""

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict

from leadflow.access.models import Team, User
from leadflow.leads.models import Lead, Source, Stage, Status
from leadflow.leads.selectors import DEFAULT_LEAD_ORDER, LEAD_ORDERS, LeadFilters
from leadflow.web.models import SavedView
from leadflow.web.widgets import QuickSelect

# A new lead's response clock turns late once it has waited this long since it was assigned.
RESPONSE_LATE_AFTER = timedelta(hours=1)
LEADS_PER_PAGE = 50
# At most this many leads are changed by one bulk action (a page is LEADS_PER_PAGE).
BULK_MAX_LEADS = 500

# Columns the list can be sorted by, as (sort key, header label).
SORTABLE_COLUMNS = [
    ("name", "Name"),
    ("company", "Company"),
    ("stage", "Stage"),
    ("score", "Score"),
    ("owner", "Owner"),
    ("created", "Created"),
]
# Query parameters that make up a view of the list (what a saved view keeps).
VIEW_PARAMS = (
    "q",
    "stage",
    "status",
    "owner",
    "team",
    "source",
    "score_min",
    "score_max",
    "created_from",
    "created_to",
    "sort",
)
# Filters kept under "More filters", which opens when one of them is set.
MORE_FILTERS = ("team", "source", "score_min", "score_max", "created_from", "created_to")
UNASSIGNED = "none"

CSV_COLUMNS = [
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "job_title",
    "country",
    "stage",
    "status",
    "score",
    "owner",
    "team",
    "source",
    "created_at",
]


def user_zone(user: User) -> tzinfo:
    """The user's time zone; UTC when their setting is not a known zone."""
    try:
        return ZoneInfo(user.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def end_of_today(*, zone: tzinfo, now: datetime) -> datetime:
    """The next midnight in `zone` after `now`."""
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time.min, tzinfo=zone)


@dataclass(frozen=True)
class ResponseClock:
    text: str
    late: bool


def response_clock(*, since: datetime, now: datetime) -> ResponseClock:
    """How long a lead has waited, as "12 min", "2 h 5 min" or "3 d 4 h"."""
    minutes = max(int((now - since).total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        text = f"{days} d {hours} h" if hours else f"{days} d"
    elif hours:
        text = f"{hours} h {minutes} min" if minutes else f"{hours} h"
    else:
        text = f"{minutes} min" if minutes else "<1 min"
    return ResponseClock(text=text, late=now - since > RESPONSE_LATE_AFTER)


@dataclass(frozen=True)
class LeadRow:
    """A row of the lead table, with its labels worked out once in Python (cheaper than in the template)."""

    lead: Lead
    url: str
    name: str
    stage: str
    status: str
    owner: str


_STAGE_LABELS = dict(Stage.choices)
_STATUS_LABELS = dict(Status.choices)
# Stands in for the lead id when the detail address is reversed once for a whole table.
_ID_PLACEHOLDER = "2147483647"


def lead_rows(leads: Iterable[Lead], *, detail_url: Callable[[int], str]) -> list[LeadRow]:
    """The table rows of `leads`; `detail_url` is reversed once and reused for every row."""
    before, _, after = detail_url(int(_ID_PLACEHOLDER)).partition(_ID_PLACEHOLDER)
    return [
        LeadRow(
            lead=lead,
            url=f"{before}{lead.pk}{after}",
            name=lead.display_name,
            stage=_STAGE_LABELS.get(lead.stage, lead.stage),
            status=_STATUS_LABELS.get(lead.status, lead.status),
            owner=person_label(lead.owner),
        )
        for lead in leads
    ]


def person_label(user: User | None) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.username


def _person_choices(people: Sequence[User]) -> list[tuple[str, str]]:
    return [(str(person.pk), person_label(person)) for person in people]


# Bounds that keep filter values inside what the database columns and time zones can hold.
SCORE_LIMIT = 2**31 - 1
DATE_RANGE = [MinValueValidator(date(1900, 1, 1)), MaxValueValidator(date(9000, 12, 31))]


class LeadFilterForm(forms.Form):
    """The lead list's filters and sort, read from the query string."""

    q = forms.CharField(label="Search", required=False, max_length=200)
    stage = forms.ChoiceField(
        label="Stage", required=False, choices=[("", "Any stage"), *Stage.choices], widget=QuickSelect
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Status.choices], widget=QuickSelect
    )
    owner = forms.ChoiceField(label="Owner", required=False, widget=QuickSelect)
    team = forms.TypedChoiceField(
        label="Team", required=False, coerce=int, empty_value=None, widget=QuickSelect
    )
    source = forms.TypedChoiceField(
        label="Source", required=False, coerce=int, empty_value=None, widget=QuickSelect
    )
    score_min = forms.IntegerField(
        label="Score from", required=False, min_value=-SCORE_LIMIT, max_value=SCORE_LIMIT
    )
    score_max = forms.IntegerField(
        label="Score to", required=False, min_value=-SCORE_LIMIT, max_value=SCORE_LIMIT
    )
    created_from = forms.DateField(
        label="Created from", required=False, widget=forms.DateInput({"type": "date"}), validators=DATE_RANGE
    )
    created_to = forms.DateField(
        label="Created to", required=False, widget=forms.DateInput({"type": "date"}), validators=DATE_RANGE
    )
    sort = forms.ChoiceField(
        label="Sort",
        required=False,
        choices=[(key, key) for name in LEAD_ORDERS for key in (name, f"-{name}")],
    )

    def __init__(self, data: QueryDict, *, assignable: Sequence[User]) -> None:
        super().__init__(data, label_suffix="")
        self.fields["q"].widget = forms.TextInput({"type": "search", "placeholder": "Name, email or company"})
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)
        owner.choices = [("", "Anyone"), (UNASSIGNED, "Unassigned"), *_person_choices(assignable)]
        team = self.fields["team"]
        assert isinstance(team, forms.ChoiceField)
        team.choices = [
            ("", "Any team"),
            *((str(pk), name) for pk, name in Team.objects.values_list("pk", "name")),
        ]
        source = self.fields["source"]
        assert isinstance(source, forms.ChoiceField)
        source.choices = [
            ("", "Any source"),
            *((str(pk), name) for pk, name in Source.objects.values_list("pk", "name")),
        ]

    @property
    def order(self) -> str:
        """The valid sort asked for, else the default."""
        return self.cleaned_data.get("sort") or DEFAULT_LEAD_ORDER

    def lead_filters(self, *, zone: tzinfo) -> LeadFilters:
        """The valid filters as LeadFilters (invalid ones are left out); dates are days in `zone`."""
        data = self.cleaned_data
        owner = data.get("owner") or ""
        created_from: date | None = data.get("created_from")
        created_to: date | None = data.get("created_to")
        return LeadFilters(
            stage=data.get("stage") or None,
            status=data.get("status") or None,
            owner_id=int(owner) if owner not in {"", UNASSIGNED} else None,
            unassigned=owner == UNASSIGNED,
            team_id=data.get("team"),
            source_id=data.get("source"),
            created_from=datetime.combine(created_from, time.min, tzinfo=zone) if created_from else None,
            created_to=(
                datetime.combine(created_to + timedelta(days=1), time.min, tzinfo=zone)
                if created_to
                else None
            ),
            score_min=data.get("score_min"),
            score_max=data.get("score_max"),
            q=data.get("q") or None,
        )

    def problems(self) -> list[str]:
        """One line per filter that was left out, for the message above the results."""
        return [
            f"{self.fields[name].label}: {' '.join(str(error) for error in errors)} This filter was left out."
            for name, errors in self.errors.items()
        ]


def view_querystring(params: QueryDict) -> str:
    """The filters and sort of a request as a query string, without the page cursor."""
    return urlencode([(name, params[name]) for name in VIEW_PARAMS if params.get(name, "").strip()])


class BulkAction(forms.Form):
    """What to do with the selected leads."""

    ASSIGN, STAGE, STATUS, NOTE, EXPORT = "assign", "stage", "status", "note", "export"

    action = forms.ChoiceField(
        choices=[(ASSIGN, "Assign"), (STAGE, "Stage"), (STATUS, "Status"), (NOTE, "Note"), (EXPORT, "Export")]
    )
    owner = forms.ChoiceField(label="Assign to", required=False, widget=QuickSelect)
    stage = forms.ChoiceField(
        label="Stage", required=False, choices=[("", "Choose a stage"), *Stage.choices], widget=QuickSelect
    )
    reason = forms.CharField(
        label="Reason", required=False, max_length=500, help_text="Needed for a step back in the funnel."
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Choose a status"), *Status.choices], widget=QuickSelect
    )
    note = forms.CharField(label="Note", required=False, max_length=10000)

    def __init__(self, data: QueryDict | None = None, *, assignable: Sequence[User]) -> None:
        super().__init__(data, prefix="bulk", label_suffix="")
        self.people = {str(person.pk): person for person in assignable}
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)
        owner.choices = [("", "Choose a person"), *_person_choices(assignable)]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        action = data.get("action")
        required = {self.ASSIGN: "owner", self.STAGE: "stage", self.STATUS: "status", self.NOTE: "note"}
        needed = required.get(str(action))
        if needed and not data.get(needed):
            self.add_error(needed, "This is needed for the chosen action.")
        return data

    @property
    def new_owner(self) -> User:
        return self.people[self.cleaned_data["owner"]]


# The largest id a database key can hold; anything larger cannot be a lead.
_MAX_ID = 2**63 - 1


def selected_ids(values: Iterable[str]) -> tuple[list[int], int]:
    """(distinct lead ids, how many selections were not ids at all) from posted checkbox values."""
    ids: dict[int, None] = {}
    malformed = 0
    for value in values:
        if value.isascii() and value.isdigit() and 0 < int(value) <= _MAX_ID:
            ids[int(value)] = None
        else:
            malformed += 1
    return list(ids), malformed


@dataclass
class BulkOutcome:
    changed: list[Lead] = field(default_factory=list)
    errors: list[tuple[Lead, str]] = field(default_factory=list)


def bulk_apply(leads: Iterable[Lead], change: Callable[[Lead], object]) -> BulkOutcome:
    """Runs `change` on each lead on its own, keeping going past a lead it refuses (a ValueError)."""
    outcome = BulkOutcome()
    for lead in leads:
        try:
            change(lead)
        except ValueError as err:
            outcome.errors.append((lead, str(err)))
        else:
            outcome.changed.append(lead)
    return outcome


class _Echo:
    """A file-like object that hands back what is written, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


# A cell starting like a formula is read as one by spreadsheets; such cells get a leading quote.
_FORMULA_STARTS = ("=", "@", "\t", "\r")
_NUMBER_CHARACTERS = set("0123456789 ()-.+")


def _csv_safe(value: object) -> object:
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_FORMULA_STARTS) or (value[0] in "+-" and not set(value) <= _NUMBER_CHARACTERS):
        return "'" + value
    return value


def lead_csv_lines(leads: Iterable[Lead]) -> Iterator[str]:
    """The CSV export, a line at a time: a header, then one row per lead."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for lead in leads:
        row = [
            lead.pk,
            lead.first_name,
            lead.last_name,
            lead.email,
            lead.phone,
            lead.company,
            lead.job_title,
            lead.country,
            lead.stage,
            lead.status,
            lead.score,
            person_label(lead.owner),
            lead.team.name if lead.team else "",
            lead.source.name if lead.source else "",
            lead.created_at.isoformat(),
        ]
        yield writer.writerow([_csv_safe(value) for value in row])


class SavedViewError(ValueError):
    """A view that cannot be saved; str(err) says why."""


def saved_view_save(*, owner: User, name: str, querystring: str, shared: bool) -> tuple[SavedView, bool]:
    """Saves the filters under `name` for `owner`, replacing their view of the same name.

    Returns the view and whether it was created.
    """
    name = name.strip()
    if not name:
        raise SavedViewError("Give the view a name.")
    if len(name) > 100:
        raise SavedViewError("The name is too long (100 characters at most).")
    cleaned = view_querystring(QueryDict(querystring))
    if len(cleaned) > 2000:
        raise SavedViewError("These filters are too long to save.")
    try:
        with transaction.atomic():
            return SavedView.objects.update_or_create(
                owner=owner, name=name, defaults={"querystring": cleaned, "shared": shared}
            )
    except IntegrityError:  # saved twice at the same moment: the other save won
        return SavedView.objects.get(owner=owner, name=name), False


def saved_view_delete(*, saved_view_id: int, actor: User) -> SavedView | None:
    """Deletes one of `actor`'s own views; None when they have no view with that id."""
    saved_view = SavedView.objects.filter(pk=saved_view_id, owner=actor).first()
    if saved_view is not None:
        saved_view.delete()
    return saved_view


def saved_views_for(*, user: User) -> QuerySet[SavedView]:
    """`user`'s own views and everyone's shared views, with their owners."""
    return SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")

"""Forms of the user management screens, and the email that lets a person choose their password."""

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.http import HttpRequest

from leadflow.access.models import Role, Team, User
from leadflow.access.services import timezone_names


class TimezoneField(forms.CharField):
    """An IANA time zone name such as Europe/Paris."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("initial", "UTC")
        kwargs.setdefault("label", "Time zone")
        kwargs.setdefault("help_text", "An IANA name such as Europe/Paris or America/New_York.")
        super().__init__(max_length=64, **kwargs)
        self.widget.attrs.update({"list": "timezones", "autocomplete": "off", "spellcheck": "false"})

    def clean(self, value: Any) -> str:
        name: str = super().clean(value).strip()
        if name not in timezone_names():
            raise forms.ValidationError(
                "%(name)s is not a time zone name; pick one from the list, such as Europe/Paris.",
                params={"name": name},
                code="invalid_timezone",
            )
        return name


class TeamsField(forms.ModelMultipleChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            queryset=Team.objects.order_by("name"),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text="Members receive their team's leads; a manager sees the leads of their teams.",
            **kwargs,
        )


class UserProfileForm(forms.Form):
    """What an admin may change on anyone: names, email, role, time zone, teams, taking leads."""

    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.REP)
    timezone = TimezoneField()
    teams = TeamsField()
    accepts_leads = forms.BooleanField(
        required=False,
        initial=True,
        label="Takes new leads",
        help_text="When off, routing skips this person (on holiday, full pipeline…).",
    )


class UserCreateForm(UserProfileForm):
    """A new person: either an admin sets the password, or the person chooses it from an emailed link."""

    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Used to sign in. Letters, digits and @ . + - _ only.",
    )
    password1 = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Leave both password fields blank to email the person a link to choose their own.",
    )
    password2 = forms.CharField(
        label="Repeat the password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    field_order = ["username", "first_name", "last_name", "email", "role", "timezone", "teams"]

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("Someone already has this username.", code="duplicate_username")
        return username

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password, repeated = data.get("password1"), data.get("password2")
        if password or repeated:
            if password != repeated:
                self.add_error("password2", "The two passwords differ.")
            else:
                person = User(
                    username=data.get("username", ""),
                    email=data.get("email", ""),
                    first_name=data.get("first_name", ""),
                    last_name=data.get("last_name", ""),
                )
                try:
                    validate_password(password or "", person)
                except forms.ValidationError as err:
                    self.add_error("password1", err)
        elif "email" in data and not data["email"]:
            self.add_error("email", "Give an email address to send the password link to, or set a password.")
        return data


class SinglePersonPasswordResetForm(PasswordResetForm):
    """Django's password reset email, sent to one given person rather than to an address's owners."""

    def __init__(self, user: User) -> None:
        super().__init__(data={"email": user.email})
        self.person = user

    def get_users(self, email: str) -> Iterator[User]:
        yield self.person


def password_link_send(*, user: User, request: HttpRequest, welcome: bool) -> None:
    """Emails `user` a link to choose a password: a welcome for a new person, else a reset notice."""
    form = SinglePersonPasswordResetForm(user)
    form.is_valid()
    form.save(
        request=request,
        use_https=request.is_secure(),
        subject_template_name="web/users/password_link_subject.txt",
        email_template_name="web/users/password_link_email.txt",
        extra_email_context={"purpose": "welcome" if welcome else "reset"},
    )

"""`leadflow user create`: add a person who works leads."""

from argparse import ArgumentParser
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import IntegrityError

from leadflow.access.models import Role, Team, User
from leadflow.access.services import user_create


class Command(BaseCommand):
    help = "Create users."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create}")
        create = actions.add_parser("create", help="Create a user with a role and optional team memberships.")
        create.add_argument("--username", required=True)
        create.add_argument("--password", required=True)
        create.add_argument("--role", required=True, choices=Role.values)
        create.add_argument("--email", default="")
        create.add_argument("--first-name", default="")
        create.add_argument("--last-name", default="")
        create.add_argument(
            "--team",
            dest="teams",
            action="append",
            default=[],
            help="A team to join, by name; repeat for several.",
        )

    def handle(
        self,
        *args: Any,
        username: str,
        password: str,
        role: str,
        email: str,
        first_name: str,
        last_name: str,
        teams: list[str],
        **options: Any,
    ) -> None:
        if User.objects.filter(username=username).exists():
            raise CommandError(f"A user called {username!r} already exists.")
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise CommandError(f"{email!r} is not a valid email address.") from None
        found = {team.name: team for team in Team.objects.filter(name__in=teams)}
        if unknown := [name for name in teams if name not in found]:
            known = ", ".join(Team.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"Unknown team(s): {', '.join(unknown)}. Teams: {known}.")
        try:
            validate_password(
                password, User(username=username, email=email, first_name=first_name, last_name=last_name)
            )
        except ValidationError as err:
            raise CommandError("Password rejected: " + " ".join(err.messages)) from None
        try:
            user = user_create(
                username=username,
                password=password,
                role=role,
                email=email,
                first_name=first_name,
                last_name=last_name,
                teams=[found[name] for name in dict.fromkeys(teams)],
            )
        except (ValueError, IntegrityError) as err:
            raise CommandError(f"Could not create {username!r}: {err}") from None
        joined = f", member of {', '.join(dict.fromkeys(teams))}" if teams else ""
        self.stdout.write(f"Created user {user.username} ({user.get_role_display()}{joined}).")

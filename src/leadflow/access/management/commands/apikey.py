"""`leadflow apikey create|list|revoke`: bearer keys for the REST API."""

from argparse import ArgumentParser
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leadflow.access.models import ApiKey, ApiScope, User
from leadflow.access.services import api_key_create, api_key_revoke


class Command(BaseCommand):
    help = "Create, list and revoke API keys."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = actions.add_parser("create", help="Issue a key; it is printed once, alone on the last line.")
        create.add_argument("--name", required=True, help="What the key is for, e.g. 'Website form'.")
        create.add_argument(
            "--scope",
            dest="scopes",
            action="append",
            required=True,
            choices=ApiScope.values,
            help="A scope the key holds; repeat for several.",
        )
        create.add_argument("--user", help="Username: the key then sees only what this user sees.")
        actions.add_parser("list", help="Show every key (never the secret).")
        revoke = actions.add_parser("revoke", help="Stop a key from authenticating.")
        revoke.add_argument("prefix", help="The key's prefix, as shown by `leadflow apikey list`.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "create":
            self.create_key(name=options["name"], scopes=options["scopes"], username=options["user"])
        elif action == "list":
            self.list_keys()
        else:
            self.revoke_key(prefix=options["prefix"])

    def create_key(self, *, name: str, scopes: list[str], username: str | None) -> None:
        user = None
        if username is not None:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user is called {username!r}.")
        try:
            issued = api_key_create(name=name, scopes=scopes, user=user)
        except ValueError as err:
            raise CommandError(str(err)) from None
        key = issued.api_key
        bound = f", acting as {user.username}" if user else ""
        self.stdout.write(
            f"Created API key {key.name!r} (prefix {key.prefix}, scopes {', '.join(key.scopes)}{bound})."
        )
        self.stdout.write("Store the key now; it is not shown again:")
        self.stdout.write(issued.secret)

    def list_keys(self) -> None:
        keys = ApiKey.objects.select_related("user").order_by("created_at", "pk")
        rows = [("NAME", "PREFIX", "SCOPES", "USER", "LAST USED", "REVOKED")]
        rows += [
            (
                key.name,
                key.prefix,
                ",".join(key.scopes),
                key.user.username if key.user else "-",
                _when(key.last_used_at, "never"),
                _when(key.revoked_at, "no"),
            )
            for key in keys
        ]
        if len(rows) == 1:
            self.stdout.write("No API keys yet; create one with `leadflow apikey create`.")
            return
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )

    def revoke_key(self, *, prefix: str) -> None:
        try:
            key = api_key_revoke(prefix=prefix)
        except ValueError as err:
            raise CommandError(str(err)) from None
        self.stdout.write(
            f"Revoked API key {key.name!r} (prefix {key.prefix}) at {_when(key.revoked_at, '')}."
        )


def _when(moment: datetime | None, never: str) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else never

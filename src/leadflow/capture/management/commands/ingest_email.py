"""`leadflow ingest-email PATH`: emails from a maildir, an mbox, .eml files, or IMAP routes (--poll)."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from leadflow.capture.email_intake import IngestSummary, emails_ingest_path, route_poll, routes_poll_enqueue
from leadflow.capture.models import InboundRoute


class Command(BaseCommand):
    help = (
        "Turn emails into leads or timeline activities: a maildir, an mbox file, an .eml file or a folder "
        "of them; --poll reads the IMAP mailbox of every active inbound route once; --schedule starts the "
        "worker's polling task."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", nargs="?", help="maildir, mbox, .eml file or folder")
        parser.add_argument("--route", help="Inbound address whose source the leads get (default: by To).")
        parser.add_argument("--poll", action="store_true", help="Poll every active IMAP route once, now.")
        parser.add_argument("--schedule", action="store_true", help="Queue the recurring IMAP poll tasks.")

    def handle(self, *args: Any, path: str | None, route: str | None, **options: Any) -> None:
        if options["schedule"]:
            self.stdout.write(f"Queued the poll of {routes_poll_enqueue()} IMAP route(s).")
            return
        if options["poll"]:
            total = IngestSummary()
            for route_id in (
                InboundRoute.objects.filter(is_active=True).exclude(imap_host="").values_list("pk", flat=True)
            ):
                summary = route_poll(route_id=route_id)
                total.leads += summary.leads
                total.activities += summary.activities
                total.rejected += summary.rejected
                total.reasons += summary.reasons
            self._report(total)
            return
        if not path:
            raise CommandError("Give a PATH, --poll or --schedule.")
        inbound = None
        if route:
            inbound = InboundRoute.objects.filter(address__iexact=route).first()
            if inbound is None:
                raise CommandError(f"No inbound route {route}.")
        try:
            summary = emails_ingest_path(path=Path(path), route=inbound)
        except FileNotFoundError as err:
            raise CommandError(f"No such file or folder: {err}") from err
        self._report(summary)

    def _report(self, summary: IngestSummary) -> None:
        self.stdout.write(
            f"{summary.leads} lead(s), {summary.activities} timeline activit(ies), "
            f"{summary.rejected} rejected."
        )
        for reason in summary.reasons[:50]:
            self.stdout.write(f"  rejected {reason}")

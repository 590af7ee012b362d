"""Fixtures for the web UI: a small organisation with every role, and signed-in clients."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client

from leadflow.access.models import Team, User
from leadflow.access.services import team_create, team_member_add
from leadflow.capture.services import lead_capture
from leadflow.leads.models import Lead
from leadflow.routing.services import lead_assign


@dataclass
class Org:
    """Two teams. East: manager Mia, reps Ann and Bob. West: rep Cal. Plus marketing Meg and admin Ada.

    Leads: ann_lead (Ann), bob_lead (Bob), east_pool (East, unassigned), cal_lead (Cal), west_pool (West).
    """

    east: Team
    west: Team
    admin: User
    marketing: User
    manager: User
    ann: User
    bob: User
    cal: User
    ann_lead: Lead
    bob_lead: Lead
    east_pool: Lead
    cal_lead: Lead
    west_pool: Lead


@pytest.fixture
def org(make_user: Callable[..., User]) -> Org:
    east = team_create(name="East", is_default=True)
    west = team_create(name="West")
    manager = make_user("mia", role="manager", first_name="Mia")
    east.manager = manager
    east.save()
    ann = make_user("ann", team=east, first_name="Ann")
    bob = make_user("bob", team=east, first_name="Bob")
    cal = make_user("cal", team=west, first_name="Cal")
    admin = make_user("ada", role="admin", first_name="Ada")
    marketing = make_user("meg", role="marketing", first_name="Meg")

    def lead(email: str, owner: User | None, team: Team) -> Lead:
        captured = lead_capture(
            payload={"email": email, "first_name": email.split("@", maxsplit=1)[0].title(), "company": "Acme"}
        ).lead
        assert captured is not None
        captured = lead_assign(lead=captured, owner=owner, actor=None, reason="test set-up")
        captured.team = team
        captured.save(update_fields=["team"])
        return captured

    for member in (ann, bob):  # capture assigns round robin; start from a known state
        team_member_add(team=east, user=member)
    return Org(
        east=east,
        west=west,
        admin=admin,
        marketing=marketing,
        manager=manager,
        ann=ann,
        bob=bob,
        cal=cal,
        ann_lead=lead("annlead@example.com", ann, east),
        bob_lead=lead("boblead@example.com", bob, east),
        east_pool=lead("eastpool@example.com", None, east),
        cal_lead=lead("callead@example.com", cal, west),
        west_pool=lead("westpool@example.com", None, west),
    )


@pytest.fixture
def login(client: Client) -> Callable[[User], Client]:
    """Signs a user in on a fresh client."""

    def sign_in(user: User) -> Client:
        signed_in = Client()
        signed_in.force_login(user)
        return signed_in

    return sign_in

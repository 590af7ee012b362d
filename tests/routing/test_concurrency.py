"""Routing under concurrent captures on PostgreSQL: no lead assigned twice, round robin fair within one."""

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection

from leadflow.access.models import Team, User
from leadflow.access.services import team_create, team_member_add
from leadflow.capture.services import lead_capture, leads_capture_bulk
from leadflow.leads.models import Activity, ActivityKind, Lead
from leadflow.routing.services import routing_rule_create

THREADS = 8
PER_THREAD = 12


def run_in_threads(work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def target(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as err:  # reported by the test
            errors.append(err)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.postgres_only
@pytest.mark.parametrize("with_rule", [False, True])
def test_parallel_captures_assign_each_lead_once_and_fairly(
    transactional_db: None, make_user: Callable[..., User], with_rule: bool
) -> None:
    default = team_create(name="Inbound", is_default=True)
    emea = team_create(name="EMEA")
    for i in range(4):
        team_member_add(team=default, user=make_user(f"in{i}"))
    for i in range(3):
        team_member_add(team=emea, user=make_user(f"eu{i}"))
    if with_rule:
        routing_rule_create(
            name="DE",
            condition={"field": "country", "op": "eq", "value": "DE"},
            target="team",
            target_team_id=emea.pk,
        )

    def work(index: int) -> None:
        for n in range(PER_THREAD // 3):
            lead_capture(payload={"email": f"t{index}-{n}@x.example", "country": "DE" if n % 2 else "FR"})
        leads_capture_bulk(
            payloads=[
                {"email": f"b{index}-{n}@x.example", "country": "DE" if n % 2 else "FR"}
                for n in range(PER_THREAD - PER_THREAD // 3)
            ]
        )

    assert run_in_threads(work) == []

    leads = list(Lead.objects.all())
    assert len(leads) == THREADS * PER_THREAD
    assert all(lead.owner_id is not None for lead in leads)
    assignments = Counter(
        Activity.objects.filter(kind=ActivityKind.ASSIGNMENT).values_list("lead_id", flat=True)
    )
    assert set(assignments) == {lead.pk for lead in leads}
    assert set(assignments.values()) == {1}, "no lead is assigned twice"
    for team in (default, emea) if with_rule else (default,):
        per_rep = Counter(lead.owner_id for lead in leads if lead.team_id == team.pk)
        members = set(team.members.values_list("pk", flat=True))
        assert set(per_rep) == members
        assert max(per_rep.values()) - min(per_rep.values()) <= 1, per_rep
    assert Team.objects.count() == 2

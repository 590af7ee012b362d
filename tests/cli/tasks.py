"""A task for the worker tests; worker processes started from the repository root can import it."""

from django_tasks import task


@task()
def add(a: int, b: int) -> int:
    return a + b

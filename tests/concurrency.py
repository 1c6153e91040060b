"""Run callables at the same moment, each in its own thread and DB connection."""

import threading
from collections.abc import Callable

from django.db import connection

from shop.core.errors import DomainError


def race(tasks: list[Callable]) -> list:
    """Start every task at once; each outcome is its result, the code of the
    DomainError it raised, or any other exception (which a test then reports)."""
    barrier = threading.Barrier(len(tasks))
    outcomes: list = [None] * len(tasks)

    def run(index: int, task: Callable) -> None:
        barrier.wait()
        try:
            outcomes[index] = task()
        except DomainError as error:
            outcomes[index] = error.code
        except Exception as error:
            outcomes[index] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(index, task))
        for index, task in enumerate(tasks)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes

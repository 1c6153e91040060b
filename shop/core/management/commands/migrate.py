"""Django's migrate, which first says in one sentence when the database is missing
or does not answer (instead of a pool timeout's traceback)."""

from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate

from shop.core.database import database_problem


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        problem = database_problem(options["database"])
        if problem is not None:
            raise CommandError(problem)
        return super().handle(*args, **options)

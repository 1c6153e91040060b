"""manage.py catalog_cache_clear: drop every cached catalog answer (the response
cache), e.g. after changing data behind the shop's back in a way the triggers
cannot see (restoring a backup into a running shop)."""

from django.core.management.base import BaseCommand

from shop.catalog.cache_tags import invalidate_all
from shop.core.management.commands.persisted_queries import shared_redis_required


class Command(BaseCommand):
    help = "Drop every cached catalog answer (all servers sharing this Redis)."

    def handle(self, *args, **options) -> None:
        shared_redis_required("The response cache")
        invalidate_all()
        self.stdout.write("Every cached catalog answer is dropped.")

"""Fill the demo catalog (idempotent); --products N adds a synthetic catalog."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from shop.catalog.demo import (
    SYNTHETIC_PREFIX,
    demo_catalog_load,
    synthetic_catalog_load,
)
from shop.catalog.models import Product
from shop.reviews.demo import demo_reviews_load

ADMIN_EMAIL = "admin@example.com"


class Command(BaseCommand):
    help = (
        "Create the demo catalog, its demo reviews and the staff user "
        "admin@example.com where missing. With --products N, also grow a "
        "synthetic catalog to N products (3 variants each) for benchmarks."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--products",
            type=int,
            default=0,
            help="Grow the synthetic catalog to this many products.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=2000, help="Products per transaction."
        )

    def handle(self, *args, products: int, batch_size: int, **options) -> None:
        created = demo_catalog_load()
        self.stdout.write(
            "Demo catalog: "
            + ", ".join(f"{count} {name} created" for name, count in created.items())
        )
        self.stdout.write(f"Demo reviews: {demo_reviews_load()} created")
        self._ensure_admin()
        if products > 0:
            with tqdm(total=products, unit="product", desc="Synthetic catalog") as bar:
                bar.update(self._existing_synthetic())
                made = synthetic_catalog_load(
                    products=products, batch_size=batch_size, progress=bar.update
                )
            self.stdout.write(f"Synthetic catalog: {made} products created.")

    def _existing_synthetic(self) -> int:
        return Product.objects.filter(slug__startswith=SYNTHETIC_PREFIX).count()

    def _ensure_admin(self) -> None:
        users = get_user_model().objects
        if users.filter(email=ADMIN_EMAIL).exists():
            return
        password = os.environ.get("DEMO_ADMIN_PASSWORD")
        users.create_superuser(
            ADMIN_EMAIL, password or (generated := secrets.token_urlsafe(12))
        )
        if password:
            self.stdout.write(
                f"Staff user {ADMIN_EMAIL} created (DEMO_ADMIN_PASSWORD)."
            )
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Staff user {ADMIN_EMAIL} created with password {generated} "
                    "(shown once; set DEMO_ADMIN_PASSWORD to choose it)."
                )
            )

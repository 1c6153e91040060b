"""Fill the demo catalog (idempotent); --products N adds a synthetic catalog."""

import os

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from shop.catalog.models import Product
from shop.demo.accounts import demo_admin_ensure
from shop.demo.catalog import (
    SYNTHETIC_PREFIX,
    demo_catalog_load,
    synthetic_catalog_load,
)
from shop.demo.promotions import demo_promotions_load
from shop.demo.reviews import demo_reviews_load
from shop.demo.shipping import demo_shipping_load


class Command(BaseCommand):
    help = (
        "Create the demo catalog, its demo reviews, shipping zones and tax rates, "
        "and the staff user "
        "admin@example.com where missing (DEMO_ADMIN_PASSWORD sets its password, "
        "also later). With --if-empty, leave a catalog that has products alone. "
        "With --products N, also grow a synthetic catalog to N products (3 "
        "variants each) for benchmarks."
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
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Seed only a catalog without any product (what staff deleted "
            "stays deleted).",
        )
        parser.add_argument(
            "--no-admin",
            action="store_true",
            help="Leave the staff user alone (scripts/dev makes sure of it itself).",
        )

    def handle(
        self,
        *args,
        products: int,
        batch_size: int,
        if_empty: bool,
        no_admin: bool,
        **options,
    ) -> None:
        if if_empty and Product.objects.exists():
            self.stdout.write(
                f"Demo catalog: kept ({Product.objects.count()} products)."
            )
        else:
            created = demo_catalog_load()
            self.stdout.write(
                "Demo catalog: "
                + ", ".join(
                    f"{count} {name} created" for name, count in created.items()
                )
            )
            self.stdout.write(f"Demo reviews: {demo_reviews_load()} created")
            shipping = demo_shipping_load()
            self.stdout.write(
                "Demo shipping and taxes: "
                + ", ".join(
                    f"{count} {name} created" for name, count in shipping.items()
                )
            )
            promotions = demo_promotions_load()
            self.stdout.write(
                "Demo promotions: "
                + ", ".join(
                    f"{count} {name} created" for name, count in promotions.items()
                )
            )
        if not no_admin:
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
        admin = demo_admin_ensure(password=os.environ.get("DEMO_ADMIN_PASSWORD"))
        if admin.generated_password:
            self.stdout.write(
                self.style.WARNING(
                    f"Staff user {admin.email} created with password "
                    f"{admin.generated_password} (shown once; set "
                    "DEMO_ADMIN_PASSWORD to choose it, or run: python manage.py "
                    f"changepassword {admin.email})."
                )
            )
        elif admin.created:
            self.stdout.write(
                f"Staff user {admin.email} created (DEMO_ADMIN_PASSWORD)."
            )
        elif admin.password_from_setting:
            self.stdout.write(
                f"Staff user {admin.email}: password DEMO_ADMIN_PASSWORD."
            )

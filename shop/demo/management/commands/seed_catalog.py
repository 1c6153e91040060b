"""Generate a large catalog for benchmarks: manage.py seed_catalog --products N."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shop.demo.bench_catalog import (
    catalog_seed,
    catalog_seed_wipe,
    generated_products,
)


class Command(BaseCommand):
    help = (
        "Grow the generated catalog (products whose slug starts with 'gen-') to N "
        "products over a category tree, with 1 to 6 variants each (Color, Size, "
        "Storage, Memory), searchable names and descriptions and realistic stock. "
        "Deterministic from --seed; does nothing when N products are already there. "
        "--fresh deletes the generated products first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, required=True)
        parser.add_argument(
            "--seed",
            type=int,
            default=1,
            help="Makes the catalog reproducible (default 1). Products already "
            "generated keep the seed they were made with: add --fresh to change it.",
        )
        parser.add_argument(
            "--fresh",
            action="store_true",
            help="Delete the generated products (and their variants, reviews and "
            "attribute values) before generating.",
        )

    def handle(self, *args, products: int, seed: int, fresh: bool, **options):
        if products < 0:
            raise CommandError("--products must be 0 or more.")
        if fresh:
            wiped = catalog_seed_wipe()
            self.stdout.write(f"Generated catalog: {wiped} products deleted.")
        existing = generated_products().count()
        if existing > products:
            raise CommandError(
                f"{existing} generated products exist, more than --products "
                f"{products}: add --fresh to start again."
            )
        result = catalog_seed(products=products, seed=seed)
        if not result.created:
            self.stdout.write(
                f"Generated catalog: kept ({result.existing} products already)."
            )
            return
        self.stdout.write(
            f"Generated catalog: {result.created} products and {result.variants} "
            f"variants created in {result.seconds:.1f} s "
            f"({result.existing + result.created} in all)."
        )

"""A large generated catalog for benchmarks and profiling (``manage.py seed_catalog``).

Products spread over a category tree of about a hundred leaves, each with 1 to 6
variants carrying the admin-defined Color, Size, Storage and Memory values (Brand
and Material on the product), varied searchable names and descriptions, realistic
prices and stock (some sold out). Everything follows from ``--seed`` and the
product's number, so a run is reproducible and can be grown later.

Rows are written with PostgreSQL's COPY (plain INSERTs elsewhere), then every
denormalised column is computed by the catalog's own
``product_denormalised_refresh``, so the data is exactly what the services would
have left.
"""

import itertools
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, models, transaction
from django.utils.text import slugify

from shop.catalog.cache_tags import changed_everything
from shop.catalog.models import (
    AssignedAttribute,
    Attribute,
    AttributeValue,
    Category,
    Product,
    ProductVariant,
)
from shop.catalog.selectors import SEARCH_CONFIG
from shop.catalog.services import product_denormalised_refresh

SLUG_PREFIX = "gen-"
SKU_PREFIX = "G"
BATCH = 10_000  # products per COPY round (and per refresh UPDATE)

# ---------------------------------------------------------------- attributes

# slug: (name, sort order, values in display order). The demo catalog defines the
# same attributes with fewer values; get-or-create by slug shares them.
ATTRIBUTES = {
    "brand": (
        "Brand",
        0,
        [
            "Lumen",
            "Northwind",
            "Kestrel",
            "Orbit",
            "Fjord & Co.",
            "Alder",
            "Basalt",
            "Cobalt Works",
            "Driftwood",
            "Ember",
            "Fernhill",
            "Granite Peak",
            "Harbor",
            "Ironbark",
            "Juniper",
            "Kite",
            "Larkspur",
            "Meridian",
            "Nimbus",
            "Oakridge",
            "Pinecrest",
            "Quarry",
            "Redwood",
            "Saltmarsh",
            "Tidewater",
        ],
    ),
    "color": (
        "Color",
        1,
        [
            "Black",
            "White",
            "Blue",
            "Green",
            "Red",
            "Graphite",
            "Sand",
            "Navy",
            "Grey",
            "Olive",
            "Burgundy",
            "Beige",
            "Pink",
            "Yellow",
            "Orange",
            "Purple",
            "Teal",
            "Brown",
            "Silver",
            "Gold",
        ],
    ),
    "storage": ("Storage", 2, ["64 GB", "128 GB", "256 GB", "512 GB", "1 TB", "2 TB"]),
    "memory": ("Memory", 3, ["8 GB", "16 GB", "32 GB", "64 GB"]),
    "size": ("Size", 4, ["XS", "S", "M", "L", "XL", "XXL"]),
    "material": (
        "Material",
        5,
        [
            "Organic cotton",
            "Recycled polyester",
            "Merino wool",
            "Linen",
            "Nylon",
            "Leather",
            "Bamboo",
            "Stainless steel",
            "Aluminium",
            "Oak",
        ],
    ),
}

# ---------------------------------------------------------------- category tree


@dataclass(frozen=True)
class Kind:
    """How the products of a leaf category look."""

    nouns: tuple[str, ...]
    price: tuple[int, int]  # base price range, whole units
    axes: tuple[str, ...]  # variant attributes (cross product, at most 6 variants)
    material: bool = False  # a product-level Material value
    weight: int = 1  # share of the catalog compared with other leaves


APPAREL = ("color", "size")
DEVICE = ("color", "storage")
COMPUTER = ("memory", "storage")
COLOURED = ("color",)

# Department > section > leaf: kind. Slugs are the path joined with "-".
TREE: dict[str, dict[str, dict[str, Kind]]] = {
    "Clothing": {
        "Men": {
            "T-shirts": Kind(
                ("T-shirt", "Tee", "Crew Tee"), (15, 60), APPAREL, True, 5
            ),
            "Shirts": Kind(
                ("Shirt", "Oxford Shirt", "Overshirt"), (30, 120), APPAREL, True, 3
            ),
            "Hoodies": Kind(
                ("Hoodie", "Zip Hoodie", "Sweatshirt"), (40, 130), APPAREL, True, 3
            ),
            "Jackets": Kind(
                ("Jacket", "Parka", "Shell Jacket", "Bomber"),
                (80, 450),
                APPAREL,
                True,
                3,
            ),
            "Trousers": Kind(
                ("Chinos", "Trousers", "Joggers", "Jeans"), (40, 160), APPAREL, True, 3
            ),
            "Knitwear": Kind(
                ("Sweater", "Cardigan", "Jumper"), (50, 220), APPAREL, True, 2
            ),
        },
        "Women": {
            "T-shirts": Kind(
                ("T-shirt", "Tee", "Tank Top"), (15, 60), APPAREL, True, 5
            ),
            "Dresses": Kind(
                ("Dress", "Midi Dress", "Shirt Dress"), (40, 260), APPAREL, True, 4
            ),
            "Hoodies": Kind(
                ("Hoodie", "Sweatshirt", "Crop Hoodie"), (40, 130), APPAREL, True, 3
            ),
            "Jackets": Kind(
                ("Jacket", "Trench Coat", "Puffer", "Blazer"),
                (80, 480),
                APPAREL,
                True,
                3,
            ),
            "Trousers": Kind(
                ("Trousers", "Leggings", "Wide-leg Pants", "Jeans"),
                (35, 160),
                APPAREL,
                True,
                3,
            ),
            "Knitwear": Kind(
                ("Sweater", "Cardigan", "Turtleneck"), (50, 240), APPAREL, True, 2
            ),
        },
        "Kids": {
            "T-shirts": Kind(("Kids Tee", "Kids T-shirt"), (8, 30), APPAREL, True, 2),
            "Outerwear": Kind(
                ("Kids Jacket", "Rain Jacket", "Snowsuit"), (30, 140), APPAREL, True, 2
            ),
        },
        "Shoes": {
            "Running": Kind(
                ("Running Shoe", "Trail Runner", "Racer"), (70, 220), APPAREL, False, 3
            ),
            "Boots": Kind(
                ("Boot", "Chelsea Boot", "Hiking Boot"), (90, 300), APPAREL, True, 2
            ),
            "Sneakers": Kind(
                ("Sneaker", "Low Top", "High Top"), (50, 180), APPAREL, False, 3
            ),
        },
        "Accessories": {
            "Hats": Kind(("Beanie", "Cap", "Bucket Hat"), (12, 60), APPAREL, True, 2),
            "Socks": Kind(
                ("Socks", "Hiking Socks", "Ankle Socks"), (6, 25), APPAREL, True, 2
            ),
            "Belts": Kind(("Belt", "Webbing Belt"), (20, 90), APPAREL, True, 1),
        },
    },
    "Electronics": {
        "Phones": {
            "Smartphones": Kind(
                ("Phone", "Smartphone", "Phone Pro", "Phone Mini"),
                (199, 1599),
                DEVICE,
                False,
                3,
            ),
            "Phone Cases": Kind(
                ("Case", "Folio Case", "Rugged Case", "Clear Case"),
                (9, 79),
                COLOURED,
                True,
                4,
            ),
            "Chargers": Kind(
                ("Charger", "Wireless Pad", "Car Charger", "Power Bank"),
                (12, 120),
                COLOURED,
                False,
                3,
            ),
        },
        "Computers": {
            "Laptops": Kind(
                ("Laptop", "Notebook", "Ultrabook", "Workstation"),
                (399, 3499),
                COMPUTER,
                False,
                3,
            ),
            "Tablets": Kind(
                ("Tablet", "Slate", "Drawing Tablet"), (149, 1299), DEVICE, False, 2
            ),
            "Monitors": Kind(
                ("Monitor", "4K Monitor", "Ultrawide Monitor"),
                (129, 1499),
                COLOURED,
                False,
                2,
            ),
            "Keyboards": Kind(
                ("Keyboard", "Mechanical Keyboard", "Keyboard Folio"),
                (25, 220),
                COLOURED,
                False,
                2,
            ),
            "Mice": Kind(
                ("Mouse", "Trackball", "Trackpad"), (15, 130), COLOURED, False, 2
            ),
            "Storage": Kind(
                ("SSD", "Portable Drive", "Memory Card"),
                (25, 400),
                ("storage",),
                False,
                2,
            ),
        },
        "Audio": {
            "Headphones": Kind(
                ("Headphones", "Studio Headphones", "Over-ear Headphones"),
                (49, 499),
                COLOURED,
                False,
                3,
            ),
            "Earbuds": Kind(
                ("Earbuds", "Sport Earbuds", "Buds Pro"), (29, 299), COLOURED, False, 3
            ),
            "Speakers": Kind(
                ("Speaker", "Pocket Speaker", "Soundbar", "Smart Speaker"),
                (29, 899),
                COLOURED,
                False,
                2,
            ),
        },
        "Cameras": {
            "Digital Cameras": Kind(
                ("Camera", "Mirrorless Camera", "Action Camera"),
                (199, 2999),
                COLOURED,
                False,
                2,
            ),
            "Lenses": Kind(
                ("Lens", "Prime Lens", "Zoom Lens"), (149, 1999), (), False, 1
            ),
            "Camera Bags": Kind(
                ("Camera Bag", "Sling", "Camera Backpack"), (39, 249), COLOURED, True, 1
            ),
        },
        "Wearables": {
            "Smartwatches": Kind(
                ("Watch", "Smartwatch", "Sport Watch"), (99, 799), DEVICE, False, 2
            ),
            "Fitness Trackers": Kind(
                ("Fitness Band", "Tracker"), (29, 199), COLOURED, False, 2
            ),
        },
    },
    "Home": {
        "Kitchen": {
            "Kettles": Kind(
                ("Kettle", "Gooseneck Kettle", "Travel Kettle"),
                (25, 180),
                COLOURED,
                True,
                2,
            ),
            "Blenders": Kind(
                ("Blender", "Hand Blender", "Smoothie Maker"),
                (30, 400),
                COLOURED,
                False,
                2,
            ),
            "Cookware": Kind(
                ("Frying Pan", "Saucepan", "Dutch Oven", "Wok"),
                (20, 300),
                COLOURED,
                True,
                3,
            ),
            "Mugs": Kind(("Mug", "Travel Mug", "Tumbler"), (8, 45), COLOURED, True, 3),
        },
        "Furniture": {
            "Chairs": Kind(
                ("Chair", "Office Chair", "Lounge Chair", "Stool"),
                (49, 1200),
                COLOURED,
                True,
                2,
            ),
            "Desks": Kind(
                ("Desk", "Standing Desk", "Writing Desk"), (99, 1400), COLOURED, True, 2
            ),
            "Shelving": Kind(
                ("Shelf", "Bookcase", "Wall Shelf"), (29, 600), COLOURED, True, 2
            ),
        },
        "Lighting": {
            "Lamps": Kind(
                ("Lamp", "Desk Lamp", "Floor Lamp", "Reading Light"),
                (19, 450),
                COLOURED,
                True,
                3,
            ),
        },
        "Bedding": {
            "Blankets": Kind(
                ("Blanket", "Throw", "Quilt"), (25, 260), APPAREL, True, 2
            ),
            "Pillows": Kind(("Pillow", "Cushion"), (12, 120), APPAREL, True, 2),
        },
    },
    "Outdoor": {
        "Camping": {
            "Tents": Kind(("Tent", "Tarp", "Bivy"), (69, 900), COLOURED, True, 2),
            "Sleeping Bags": Kind(
                ("Sleeping Bag", "Sleeping Mat", "Quilt"), (39, 500), APPAREL, True, 2
            ),
            "Stoves": Kind(("Stove", "Camp Stove", "Cook Set"), (25, 220), (), True, 1),
        },
        "Bags": {
            "Backpacks": Kind(
                ("Backpack", "Daypack", "Rucksack", "Commuter Pack"),
                (39, 320),
                COLOURED,
                True,
                4,
            ),
            "Duffels": Kind(
                ("Duffel", "Weekender", "Travel Bag"), (49, 300), COLOURED, True, 2
            ),
        },
        "Hydration": {
            "Bottles": Kind(
                ("Bottle", "Insulated Bottle", "Flask"), (12, 60), COLOURED, True, 3
            ),
        },
        "Cycling": {
            "Helmets": Kind(("Helmet", "Bike Helmet"), (39, 260), APPAREL, False, 2),
            "Bike Lights": Kind(
                ("Bike Light", "Rear Light", "Headlamp"), (12, 140), (), False, 2
            ),
        },
    },
}

# ---------------------------------------------------------------- vocabulary

ADJECTIVES = [
    "Swift", "Quiet", "Bright", "Urban", "Alpine", "Coastal", "Classic", "Modern",
    "Compact", "Rugged", "Soft", "Light", "Bold", "Everyday", "Studio", "Travel",
    "Field", "Midnight", "Solar", "Arctic", "Summit", "Harbour", "Canyon", "Meadow",
    "Nordic", "Pacific", "Heritage", "Essential", "Signature", "Trail", "Storm",
    "Breeze", "Cedar", "Aurora", "Horizon", "Glacier", "Prairie", "Tundra", "Lunar",
    "Ember", "Velvet", "Feather", "Granite", "Willow", "Falcon", "Comet", "Pioneer",
    "Metro", "Vista", "Nomad",
]  # fmt: skip
FEATURES = [
    "waterproof", "breathable", "lightweight", "recycled", "durable", "wireless",
    "foldable", "insulated", "stretch", "organic", "quick-dry", "noise-cancelling",
    "rechargeable", "adjustable", "ergonomic", "packable", "washable", "windproof",
    "reflective", "modular", "magnetic", "shockproof", "dust-resistant", "heated",
    "ventilated", "padded", "seamless", "stackable", "dishwasher-safe", "cordless",
    "low-profile", "high-visibility", "fast-charging", "bluetooth", "anti-slip",
    "thermal", "ultralight", "heavyweight", "oversized", "slim-fit", "relaxed-fit",
    "handmade", "vintage", "minimalist", "premium", "compostable", "hypoallergenic",
    "water-resistant", "long-lasting", "lockable",
]  # fmt: skip
USES = [
    "the daily commute", "long weekends away", "early morning runs", "rainy city days",
    "mountain trails", "the home office", "slow Sunday mornings", "festival season",
    "winter camping", "the school run", "late-night editing", "summer road trips",
    "the gym", "small kitchens", "shared studios", "ferry crossings", "cold offices",
    "backcountry tours", "weekend markets", "long-haul flights",
]  # fmt: skip
DETAILS = [
    "Taped seams keep the weather out.",
    "A two-year warranty and free repairs.",
    "Made in a fair-trade certified factory.",
    "Ships in plastic-free packaging.",
    "Tested for a thousand cycles before it leaves the workshop.",
    "Replacement parts are sold separately for ten years.",
    "A lifetime guarantee on the stitching.",
    "Certified carbon-neutral from factory to doorstep.",
    "Machine washable at thirty degrees.",
    "Charges over USB-C in under two hours.",
    "Pairs with two devices at once.",
    "Dyed without harmful chemicals.",
    "Rated IP67 against dust and water.",
    "Folds flat into its own pocket.",
    "Backed by a 100-night trial.",
    "The finish darkens beautifully with age.",
]  # fmt: skip
COLLECTIONS = ["", "", "", "", "Pro", "Max", "Lite", "Mini", "Plus", "Air", "Edge", "X"]

# (attribute slug, value name): added to the base price
SURCHARGE = {
    ("storage", "128 GB"): 40,
    ("storage", "256 GB"): 100,
    ("storage", "512 GB"): 220,
    ("storage", "1 TB"): 400,
    ("storage", "2 TB"): 700,
    ("memory", "16 GB"): 150,
    ("memory", "32 GB"): 400,
    ("memory", "64 GB"): 900,
    ("size", "XXL"): 5,
}

# ---------------------------------------------------------------- generation

VARIANT_COUNTS = range(1, 7)
VARIANT_COUNT_CUMULATIVE = list(itertools.accumulate((20, 18, 22, 16, 10, 14)))
_NOT_SLUG = re.compile(r"[^a-z0-9]+")

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_SECONDS = 3 * 365 * 24 * 3600


@dataclass
class Leaf:
    id: int
    path: str
    kind: Kind


@dataclass
class Catalog:
    """The ids the generated rows refer to."""

    leaves: list[Leaf]
    cum_weights: list[int]
    values: dict[str, list[tuple[int, int, str]]]  # slug -> [(value id, attr id, name)]


def catalog_structure_ensure() -> Catalog:
    """Create the attributes, their values and the category tree where missing."""
    values: dict[str, list[tuple[int, int, str]]] = {}
    for slug, (name, order, names) in ATTRIBUTES.items():
        attribute, _ = Attribute.objects.get_or_create(
            slug=slug, defaults={"name": name, "sort_order": order}
        )
        existing = {v.slug: v for v in attribute.values.all()}
        values[slug] = []
        for position, value_name in enumerate(names):
            value = existing.get(slugify(value_name))
            if value is None:
                value = AttributeValue.objects.create(
                    attribute=attribute,
                    slug=slugify(value_name),
                    name=value_name,
                    sort_order=position,
                )
            values[slug].append((value.pk, attribute.pk, value.name))

    leaves = []
    for department, sections in TREE.items():
        root = _category(department, slugify(department), None)
        for section, kinds in sections.items():
            middle = _category(section, f"{root.slug}-{slugify(section)}", root)
            for leaf_name, kind in kinds.items():
                leaf = _category(
                    leaf_name, f"{middle.slug}-{slugify(leaf_name)}", middle
                )
                leaves.append(Leaf(leaf.pk, f"{department} > {section}", kind))
    weights = list(itertools.accumulate(leaf.kind.weight for leaf in leaves))
    return Catalog(leaves, weights, values)


def _category(name: str, slug: str, parent: Category | None) -> Category:
    category, _ = Category.objects.get_or_create(
        slug=slug, defaults={"name": name, "parent": parent}
    )
    return category


@dataclass
class Rows:
    products: list[tuple] = field(default_factory=list)
    variants: list[list] = field(default_factory=list)
    assignments: list[list] = field(default_factory=list)


def _stock(rng: random.Random) -> int:
    """Mostly healthy, some running low, about one in eight sold out."""
    roll = rng.random()
    if roll < 0.12:
        return 0
    if roll < 0.30:
        return rng.randint(1, 10)
    return rng.randint(11, 250)


def _product_rows(
    n: int, seed: int, catalog: Catalog, product_id: int, rows: Rows
) -> None:
    """Append product ``n``'s rows; variant ids are left for the caller."""
    rng = random.Random(seed * 1_000_003 + n)
    leaf = rng.choices(catalog.leaves, cum_weights=catalog.cum_weights)[0]
    kind = leaf.kind
    values = catalog.values
    brand = rng.choice(values["brand"])
    noun = rng.choice(kind.nouns)
    adjective = rng.choice(ADJECTIVES)
    collection = rng.choice(COLLECTIONS)
    material = rng.choice(values["material"]) if kind.material else None
    features = rng.sample(FEATURES, 3)
    name = " ".join(
        part
        for part in (brand[2], adjective, noun, collection, str(rng.randint(1, 9)))
        if part
    )
    description = (
        f"The {name} is a {features[0]}, {features[1]} {noun.lower()} "
        + (f"in {material[2].lower()} " if material else "")
        + f"made for {rng.choice(USES)}. "
        + f"{features[2].capitalize()} where it counts. "
        + " ".join(rng.sample(DETAILS, 2))
        + f" Part of the {leaf.path} range."
    )
    created = EPOCH - timedelta(seconds=rng.randrange(SPAN_SECONDS))
    published = rng.random() >= 0.02
    rows.assignments.append([product_id, None, brand[1], brand[0]])
    if material:
        rows.assignments.append([product_id, None, material[1], material[0]])
    product_values = {brand[0]} | ({material[0]} if material else set())

    # Variants: a cross product of a few values per axis, at most six.
    count = rng.choices(VARIANT_COUNTS, cum_weights=VARIANT_COUNT_CUMULATIVE)[0]
    axes = [values[axis] for axis in kind.axes]
    combos: list[tuple] = [()]
    if axes:
        first = axes[0]
        wide = count if len(axes) == 1 else rng.randint(1, min(count, 3))
        first_take = min(len(first), wide)
        chosen = [sorted(rng.sample(first, first_take), key=first.index)]
        for pool in axes[1:]:
            # sizes and capacities: a contiguous run, as shops stock them
            take = min(len(pool), -(-count // first_take))
            start = rng.randrange(len(pool) - take + 1)
            chosen.append(pool[start : start + take])
        for axis in chosen:
            combos = [combo + (value,) for combo in combos for value in axis]
        combos = combos[:count]

    base = rng.randint(*kind.price)
    cents = rng.choice((Decimal("0.00"), Decimal("0.99"), Decimal("0.50")))
    sold_out = rng.random() < 0.05
    prices, skus = [], []
    for position, combo in enumerate(combos):
        surcharge = sum(
            SURCHARGE.get((axis, value[2]), 0)
            for axis, value in zip(kind.axes, combo, strict=False)
        )
        price = Decimal(base + surcharge) + cents
        sku = f"{SKU_PREFIX}{n:07d}-{position + 1}"
        prices.append(price)
        skus.append(sku)
        variant = len(rows.variants)  # its id is filled in once reserved
        rows.variants.append(
            [
                None,
                product_id,
                sku,
                " / ".join(v[2] for v in combo) or name,
                price,
                0 if sold_out else _stock(rng),
                position,
                created,
                created,
                # attribute_value_ids (PostgreSQL), as migration 0004's triggers
                # compute it: its own and its product's values, sorted
                sorted({v[0] for v in combo} | product_values),
            ]
        )
        for value in combo:
            rows.assignments.append([None, variant, value[1], value[0]])

    rows.products.append(
        (
            product_id,
            leaf.id,
            name,
            f"{SLUG_PREFIX}{n:07d}-{_NOT_SLUG.sub('-', name.lower()).strip('-')}",
            description,
            published,
            created,
            created,
            min(prices),
            max(prices),
            " ".join(skus),
        )
    )


# What goes into the staging table; the search vector is computed from it in SQL.
PRODUCT_COLUMNS = (
    "id",
    "category_id",
    "name",
    "slug",
    "description",
    "is_published",
    "created_at",
    "updated_at",
    "price_min",
    "price_max",
)
VARIANT_COLUMNS = (
    "id",
    "product_id",
    "sku",
    "name",
    "price",
    "quantity_available",
    "sort_order",
    "created_at",
    "updated_at",
)
ASSIGNMENT_COLUMNS = ("product_id", "variant_id", "attribute_id", "value_id")


def generated_products() -> models.QuerySet[Product]:
    """The products seed_catalog made."""
    return Product.objects.filter(slug__startswith=SLUG_PREFIX)


@dataclass
class SeedResult:
    created: int
    existing: int
    variants: int
    seconds: float


def catalog_seed(
    *,
    products: int,
    seed: int = 1,
    progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Grow the generated catalog to ``products`` products (idempotent).

    Products already generated are kept (they are numbered, so a later run only
    adds the missing numbers, with the given seed). Every denormalised column is
    filled as ``product_denormalised_refresh`` fills it (tests hold them equal),
    and the tables are analysed.
    """
    started = time.monotonic()
    if generated_products().count() >= products:  # the usual case: nothing to do
        return SeedResult(0, products, 0, time.monotonic() - started)
    with transaction.atomic():
        _lock_seeding()
        existing = generated_products().count()  # again, under the lock
        if existing >= products:
            return SeedResult(0, existing, 0, time.monotonic() - started)
        catalog = catalog_structure_ensure()
        variants_made = 0
        # The triggers are off while loading (and COPY goes around the write
        # watcher): every cached answer goes on commit.
        changed_everything()
        with _bulk_loading(rebuild_indexes=products - existing >= existing):
            for first in range(existing, products, BATCH):
                numbers = range(first, min(first + BATCH, products))
                variants_made += _batch_insert(numbers, seed, catalog)
                if progress is not None:
                    progress(len(numbers))
    _analyze()
    return SeedResult(
        products - existing, existing, variants_made, time.monotonic() - started
    )


def _batch_insert(numbers: range, seed: int, catalog: Catalog) -> int:
    """Insert the products numbered ``numbers``; returns how many variants."""
    product_ids = _reserve_ids(Product, len(numbers))
    rows = Rows()
    for n, product_id in zip(numbers, product_ids, strict=True):
        _product_rows(n, seed, catalog, product_id, rows)
    variant_ids = _reserve_ids(ProductVariant, len(rows.variants))
    for variant, variant_id in zip(rows.variants, variant_ids, strict=True):
        variant[0] = variant_id
    for assignment in rows.assignments:
        if assignment[1] is not None:
            assignment[1] = variant_ids[assignment[1]]
    _insert_products(rows.products)
    if connection.vendor == "postgresql":
        _insert(
            ProductVariant, (*VARIANT_COLUMNS, "attribute_value_ids"), rows.variants
        )
    else:
        _insert(ProductVariant, VARIANT_COLUMNS, [row[:-1] for row in rows.variants])
    _insert(AssignedAttribute, ASSIGNMENT_COLUMNS, rows.assignments)
    if connection.vendor != "postgresql":
        product_denormalised_refresh(product_ids=product_ids)
    return len(rows.variants)


# pg_advisory_xact_lock key: two seeding runs at once would both add the same numbers.
SEED_LOCK = 0x5EED_CA7A
SEEDED_TABLES = (Product, ProductVariant, AssignedAttribute)
TRIGGERED_TABLES = ("catalog_productvariant", "catalog_assignedattribute")


def _lock_seeding() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEED_LOCK])
            # Generated data: a crash may lose this run, never corrupt anything.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@contextmanager
def _bulk_loading(*, rebuild_indexes: bool) -> Iterator[None]:
    """Load the seeded tables as pg_restore does. Their foreign keys are checked
    once over the whole tables at the end instead of row by row at commit (the
    row-by-row checks were a third of the time), and when the tables at least
    double (``rebuild_indexes``) their plain indexes are built at the end
    instead of grown row by row (a GIN index especially). Constraints and
    indexes are dropped and re-created with their own definitions in the
    caller's transaction, so nobody ever sees them missing (other sessions wait
    on the tables meanwhile). The tables' triggers are off meanwhile too: the
    generated rows carry what they would compute."""
    if connection.vendor != "postgresql":
        yield
        return
    tables = [model._meta.db_table for model in SEEDED_TABLES]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = ANY(%s::regclass[])",
            [tables],
        )
        keys = cursor.fetchall()
        indexes = []
        if rebuild_indexes:
            # Plain indexes only: unique ones back constraints and the checks.
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i "
                "LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid "
                "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique "
                "AND NOT i.indisprimary AND c.oid IS NULL",
                [tables],
            )
            indexes = cursor.fetchall()
        # Checks still pending (rows written earlier in this transaction) would
        # forbid the ALTER TABLE: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, name, _ in keys:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        # The value-array triggers (migration 0004) would recompute every seeded
        # variant again; the rows come with their arrays already.
        for table in TRIGGERED_TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        for _, definition in indexes:
            cursor.execute(definition)
    # Statistics first: planned with the empty tables' estimates, each check is
    # a nested loop over the whole table (minutes instead of a second).
    _analyze()
    with connection.cursor() as cursor:
        for table, name, definition in keys:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for table in TRIGGERED_TABLES:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's constraints' own


def catalog_seed_wipe() -> int:
    """Delete the generated products with their variants, attribute values and
    reviews (order lines and stock adjustments keep their copies and lose the
    link). Categories and attributes stay. Returns how many products went."""
    products = generated_products()
    with transaction.atomic():
        _lock_seeding()
        count = _null_or_delete(Product, products)
    _analyze()
    return count


def _null_or_delete(model: type[models.Model], rows: models.QuerySet) -> int:
    """Delete ``rows`` in bulk, doing first what each foreign key to them says
    (CASCADE deletes, SET_NULL unlinks), without loading a single object."""
    for relation in model._meta.related_objects:
        if not relation.one_to_many and not relation.one_to_one:
            continue
        foreign_key = relation.field
        related = relation.related_model._default_manager.filter(
            **{f"{foreign_key.name}__in": rows.values("pk")}
        )
        if foreign_key.remote_field.on_delete is models.CASCADE:
            _null_or_delete(relation.related_model, related)
        elif foreign_key.remote_field.on_delete is models.SET_NULL:
            related.update(**{foreign_key.name: None})
        else:
            raise RuntimeError(
                f"Cannot wipe: {foreign_key} is {foreign_key.remote_field.on_delete}"
            )
    sql, params = rows.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {model._meta.db_table} WHERE id IN ({sql})",  # noqa: S608
            params,
        )
        return cursor.rowcount


# The search vector exactly as product_denormalised_refresh computes it, from the
# staged name, description and space-joined SKUs (in variant order).
_SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector(%(config)s::regconfig, COALESCE(name, '')), 'A') || "
    "setweight(to_tsvector(%(config)s::regconfig, COALESCE(skus, '')), 'A') || "
    "setweight(to_tsvector(%(config)s::regconfig, COALESCE(description, '')), 'C')"
)


def _insert_products(rows: list[tuple]) -> None:
    """Products with every denormalised column. PostgreSQL: staged by COPY in a
    temporary table, then one INSERT that computes the search vector, so each
    product row is written once."""
    if connection.vendor != "postgresql":
        _insert(
            Product,
            (*PRODUCT_COLUMNS, "review_count", "rating_total"),
            [(*row[:-1], 0, 0) for row in rows],
        )
        return
    columns = ", ".join(PRODUCT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE seed_product ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {columns}, ''::text AS skus FROM catalog_product WITH NO DATA"
        )
        with cursor.copy(f"COPY seed_product ({columns}, skus) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO catalog_product ({columns}, search_vector, "  # noqa: S608
            f"review_count, rating_total) SELECT {columns}, {_SEARCH_VECTOR_SQL}, "
            "0, 0 FROM seed_product",
            {"config": SEARCH_CONFIG},
        )
        cursor.execute("DROP TABLE seed_product")


def _reserve_ids(model: type[models.Model], count: int) -> list[int]:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                "FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))


def _insert(model: type[models.Model], columns: Sequence[str], rows: Iterable) -> None:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                list(rows),
            )


def _analyze() -> None:
    """Fresh statistics; outside a transaction also a VACUUM, so the benchmark
    meets the tables as autovacuum would leave them (visibility map set, dead rows
    of a --fresh gone) rather than as a bulk load left them."""
    if connection.vendor != "postgresql":
        return
    tables = "catalog_product, catalog_productvariant, catalog_assignedattribute"
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute(f"ANALYZE {tables}")
        else:
            cursor.execute(f"VACUUM (ANALYZE) {tables}")

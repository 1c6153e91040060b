"""The demo catalog and the synthetic catalog used by benchmarks.

Both loaders are idempotent: running them again changes nothing that is already there.
"""

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.utils.text import slugify

from shop.catalog.models import (
    AssignedAttribute,
    Attribute,
    AttributeValue,
    Category,
    Product,
    ProductVariant,
)
from shop.catalog.services import product_denormalised_refresh

# ---------------------------------------------------------------- the demo catalog

CATEGORIES = {
    # slug: (name, parent slug)
    "phones": ("Phones", None),
    "computers": ("Computers", None),
    "laptops": ("Laptops", "computers"),
    "tablets": ("Tablets", "computers"),
    "clothing": ("Clothing", None),
    "t-shirts": ("T-shirts", "clothing"),
    "hoodies": ("Hoodies", "clothing"),
    "jackets": ("Jackets", "clothing"),
    "accessories": ("Accessories", None),
    "audio": ("Audio", "accessories"),
    "chargers-cables": ("Chargers & cables", "accessories"),
    "cases": ("Cases", "accessories"),
}

ATTRIBUTES = {
    "brand": ("Brand", ["Lumen", "Northwind", "Kestrel", "Orbit", "Fjord & Co."]),
    "color": (
        "Color",
        ["Black", "White", "Blue", "Green", "Red", "Graphite", "Sand", "Navy"],
    ),
    "storage": ("Storage", ["128 GB", "256 GB", "512 GB", "1 TB"]),
    "memory": ("Memory", ["8 GB", "16 GB", "32 GB"]),
    "size": ("Size", ["XS", "S", "M", "L", "XL"]),
    "material": ("Material", ["Organic cotton", "Recycled polyester", "Merino wool"]),
}


@dataclass
class DemoProduct:
    name: str
    category: str
    brand: str
    base_price: str
    description: str
    # attribute slug -> value names; variants are their cross product
    axes: dict[str, list[str]] = field(default_factory=dict)
    # value name -> price added to base_price
    surcharge: dict[str, str] = field(default_factory=dict)
    material: str | None = None


PHONE = "A {brand} phone with an all-day battery, a bright OLED screen and a camera "
LAPTOP = "A {brand} laptop with a backlit keyboard, a 1080p webcam and "
SHIRT = "Cut from {material}, pre-washed so it keeps its shape. "

DEMO_PRODUCTS = [
    DemoProduct(
        "Lumen X2",
        "phones",
        "Lumen",
        "899.00",
        PHONE + "that handles low light.",
        {"color": ["Black", "White", "Blue"], "storage": ["128 GB", "256 GB"]},
        {"256 GB": "100.00"},
    ),
    DemoProduct(
        "Lumen X2 Pro",
        "phones",
        "Lumen",
        "1099.00",
        PHONE + "with a 5x periscope zoom.",
        {"color": ["Graphite", "Sand"], "storage": ["256 GB", "512 GB", "1 TB"]},
        {"512 GB": "200.00", "1 TB": "400.00"},
    ),
    DemoProduct(
        "Northwind Pixelle 8",
        "phones",
        "Northwind",
        "699.00",
        PHONE + "and seven years of updates.",
        {"color": ["Black", "Green"], "storage": ["128 GB", "256 GB"]},
        {"256 GB": "60.00"},
    ),
    DemoProduct(
        "Northwind Pixelle 8a",
        "phones",
        "Northwind",
        "499.00",
        PHONE + "at a friendly price.",
        {"color": ["Black", "Blue", "Red"], "storage": ["128 GB"]},
    ),
    DemoProduct(
        "Kestrel One",
        "phones",
        "Kestrel",
        "599.00",
        PHONE + "in a compact, one-hand size.",
        {"color": ["White", "Black"], "storage": ["128 GB", "256 GB"]},
        {"256 GB": "70.00"},
    ),
    DemoProduct(
        "Orbit Fold",
        "phones",
        "Orbit",
        "1799.00",
        PHONE + "that unfolds into a 7.6-inch tablet.",
        {"color": ["Graphite", "Green"], "storage": ["256 GB", "512 GB"]},
        {"512 GB": "120.00"},
    ),
    DemoProduct(
        "Lumen Book Air 13",
        "laptops",
        "Lumen",
        "1199.00",
        LAPTOP + "18 hours of battery in 1.2 kg.",
        {"memory": ["8 GB", "16 GB"], "storage": ["256 GB", "512 GB"]},
        {"16 GB": "200.00", "512 GB": "200.00"},
    ),
    DemoProduct(
        "Lumen Book Pro 16",
        "laptops",
        "Lumen",
        "2499.00",
        LAPTOP + "a 120 Hz mini-LED screen.",
        {"memory": ["16 GB", "32 GB"], "storage": ["512 GB", "1 TB"]},
        {"32 GB": "400.00", "1 TB": "200.00"},
    ),
    DemoProduct(
        "Northwind Chromebook 14",
        "laptops",
        "Northwind",
        "449.00",
        LAPTOP + "a matte 14-inch screen for school and travel.",
        {"memory": ["8 GB"], "storage": ["128 GB"]},
    ),
    DemoProduct(
        "Kestrel Workstation 15",
        "laptops",
        "Kestrel",
        "1899.00",
        LAPTOP + "a discrete GPU and two Thunderbolt ports.",
        {"memory": ["16 GB", "32 GB"], "storage": ["1 TB"]},
        {"32 GB": "350.00"},
    ),
    DemoProduct(
        "Lumen Slate 11",
        "tablets",
        "Lumen",
        "599.00",
        "An 11-inch tablet with pencil support and a laminated screen.",
        {"color": ["Graphite", "Blue"], "storage": ["128 GB", "256 GB"]},
        {"256 GB": "100.00"},
    ),
    DemoProduct(
        "Orbit Tab S",
        "tablets",
        "Orbit",
        "379.00",
        "A light 10-inch tablet for reading, video and the kids' homework.",
        {"color": ["Sand"], "storage": ["128 GB", "256 GB"]},
        {"256 GB": "60.00"},
    ),
    DemoProduct(
        "Everyday Crew Tee",
        "t-shirts",
        "Fjord & Co.",
        "24.00",
        SHIRT + "The T-shirt you reach for first.",
        {"size": ["S", "M", "L", "XL"], "color": ["White", "Black"]},
        material="Organic cotton",
    ),
    DemoProduct(
        "Heavyweight Pocket Tee",
        "t-shirts",
        "Fjord & Co.",
        "32.00",
        SHIRT + "A boxy fit in 240 gsm jersey, with a chest pocket.",
        {"size": ["S", "M", "L", "XL"], "color": ["Sand", "Navy"]},
        material="Organic cotton",
    ),
    DemoProduct(
        "Trail Merino Tee",
        "t-shirts",
        "Kestrel",
        "65.00",
        SHIRT + "Wicks sweat and stays fresh for days on the trail.",
        {"size": ["S", "M", "L"], "color": ["Graphite", "Green"]},
        material="Merino wool",
    ),
    DemoProduct(
        "Graphic Tee: Night Shift",
        "t-shirts",
        "Orbit",
        "29.00",
        SHIRT + "A screen-printed moon over the city.",
        {"size": ["S", "M", "L", "XL"]},
        material="Organic cotton",
    ),
    DemoProduct(
        "Loopback Hoodie",
        "hoodies",
        "Fjord & Co.",
        "79.00",
        SHIRT + "Loopback French terry, a lined hood and ribbed cuffs.",
        {"size": ["S", "M", "L", "XL"], "color": ["Navy", "Graphite"]},
        material="Organic cotton",
    ),
    DemoProduct(
        "Zip Hoodie",
        "hoodies",
        "Fjord & Co.",
        "89.00",
        SHIRT + "A two-way zip and deep hand pockets.",
        {"size": ["M", "L", "XL"], "color": ["Black"]},
        material="Recycled polyester",
    ),
    DemoProduct(
        "Fleece Pullover",
        "hoodies",
        "Kestrel",
        "99.00",
        SHIRT + "Warm grid fleece for cold mornings.",
        {"size": ["S", "M", "L"], "color": ["Green", "Sand"]},
        material="Recycled polyester",
    ),
    DemoProduct(
        "Storm Shell Jacket",
        "jackets",
        "Kestrel",
        "249.00",
        "A three-layer waterproof shell with taped seams and pit zips.",
        {"size": ["S", "M", "L", "XL"], "color": ["Red", "Black"]},
        material="Recycled polyester",
    ),
    DemoProduct(
        "Down Puffer",
        "jackets",
        "Fjord & Co.",
        "299.00",
        "Responsibly sourced 700-fill down in a packable shell.",
        {"size": ["S", "M", "L"], "color": ["Navy", "Black"]},
        material="Recycled polyester",
    ),
    DemoProduct(
        "Wind Anorak",
        "jackets",
        "Orbit",
        "139.00",
        "A light half-zip pullover that blocks wind and drizzle.",
        {"size": ["M", "L"], "color": ["Sand"]},
        material="Recycled polyester",
    ),
    DemoProduct(
        "Lumen Buds Pro",
        "audio",
        "Lumen",
        "249.00",
        "Noise-cancelling earbuds with 30 hours of battery in the case.",
        {"color": ["White", "Black"]},
    ),
    DemoProduct(
        "Northwind Studio Headphones",
        "audio",
        "Northwind",
        "349.00",
        "Over-ear headphones with adaptive noise cancelling and multipoint pairing.",
        {"color": ["Black", "Sand", "Navy"]},
    ),
    DemoProduct(
        "Orbit Pocket Speaker",
        "audio",
        "Orbit",
        "59.00",
        "A waterproof speaker that clips onto a bag.",
        {"color": ["Red", "Blue", "Black"]},
    ),
    DemoProduct(
        "Kestrel Sport Earbuds",
        "audio",
        "Kestrel",
        "129.00",
        "Earbuds with wing tips that stay put on a run.",
        {"color": ["Green"]},
    ),
    DemoProduct(
        "65 W GaN Charger",
        "chargers-cables",
        "Orbit",
        "49.00",
        "Charges a laptop and a phone at once from a charger the size of a plum.",
        {"color": ["White", "Black"]},
    ),
    DemoProduct(
        "30 W USB-C Charger",
        "chargers-cables",
        "Lumen",
        "29.00",
        "Fast-charges a phone to 50% in half an hour.",
    ),
    DemoProduct(
        "Braided USB-C Cable 2 m",
        "chargers-cables",
        "Northwind",
        "19.00",
        "A 240 W, 40 Gbps cable that survives the bottom of a bag.",
        {"color": ["Black", "White", "Red"]},
    ),
    DemoProduct(
        "MagSafe-style Wireless Pad",
        "chargers-cables",
        "Orbit",
        "39.00",
        "A magnetic 15 W charging pad with a non-slip base.",
    ),
    DemoProduct(
        "Power Bank 20 000 mAh",
        "chargers-cables",
        "Kestrel",
        "69.00",
        "Two full phone charges and a laptop top-up, with a USB-C in and out.",
        {"color": ["Black", "Sand"]},
    ),
    DemoProduct(
        "Car Charger Duo",
        "chargers-cables",
        "Northwind",
        "25.00",
        "Two USB-C ports in a flush-fit car charger.",
    ),
    DemoProduct(
        "Lumen X2 Silicone Case",
        "cases",
        "Lumen",
        "49.00",
        "Soft-touch silicone with a microfibre lining.",
        {"color": ["Black", "Blue", "Red", "Sand"]},
    ),
    DemoProduct(
        "Lumen X2 Pro Leather Case",
        "cases",
        "Lumen",
        "69.00",
        "Vegetable-tanned leather that patinas with use.",
        {"color": ["Sand", "Black"]},
    ),
    DemoProduct(
        "Pixelle 8 Clear Case",
        "cases",
        "Northwind",
        "29.00",
        "A clear case that does not yellow, with raised camera edges.",
    ),
    DemoProduct(
        "Rugged Case for Kestrel One",
        "cases",
        "Kestrel",
        "39.00",
        "Drop-tested to 3 m, with a built-in kickstand.",
        {"color": ["Black", "Green"]},
    ),
    DemoProduct(
        'Laptop Sleeve 14"',
        "cases",
        "Fjord & Co.",
        "45.00",
        "A felt sleeve with a magnetic flap and a pocket for the charger.",
        {"color": ["Graphite", "Sand"]},
        material="Merino wool",
    ),
    DemoProduct(
        "Slate 11 Keyboard Folio",
        "cases",
        "Lumen",
        "179.00",
        "A backlit keyboard and trackpad that fold into a cover.",
        {"color": ["Graphite"]},
    ),
    DemoProduct(
        "Tablet Stand",
        "accessories",
        "Orbit",
        "35.00",
        "An aluminium stand that folds flat, for tablets and phones.",
    ),
    DemoProduct(
        "Screen Cleaning Kit",
        "accessories",
        "Northwind",
        "12.00",
        "A spray and two microfibre cloths. Safe on coated screens.",
    ),
]


def _stock(rng: random.Random) -> int:
    """Mostly healthy stock, some running low (2 to 10), some sold out."""
    roll = rng.random()
    if roll < 0.10:
        return 0
    if roll < 0.30:
        return rng.randint(2, 10)
    return rng.randint(11, 120)


def _sku_part(text: str) -> str:
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    return cleaned[:4] or "X"


@transaction.atomic
def demo_catalog_load() -> dict[str, int]:
    """Create the demo catalog where missing; returns how many rows were created."""
    created = {
        "categories": 0,
        "attributes": 0,
        "products": 0,
        "variants": 0,
        "images": 0,
    }
    categories = {}
    for slug, (name, parent_slug) in CATEGORIES.items():
        categories[slug], new = Category.objects.get_or_create(
            slug=slug,
            defaults={"name": name, "parent": categories.get(parent_slug)},
        )
        created["categories"] += new

    values: dict[tuple[str, str], AttributeValue] = {}
    for position, (slug, (name, value_names)) in enumerate(ATTRIBUTES.items()):
        attribute, new = Attribute.objects.get_or_create(
            slug=slug, defaults={"name": name, "sort_order": position}
        )
        created["attributes"] += new
        for order, value_name in enumerate(value_names):
            values[slug, value_name], _ = AttributeValue.objects.get_or_create(
                attribute=attribute,
                slug=slugify(value_name),
                defaults={"name": value_name, "sort_order": order},
            )

    rng = random.Random(20261126)
    touched = []
    for spec in DEMO_PRODUCTS:
        product, new = Product.objects.get_or_create(
            slug=slugify(spec.name),
            defaults={
                "name": spec.name,
                "category": categories[spec.category],
                "description": spec.description.format(
                    brand=spec.brand, material=(spec.material or "").lower()
                ),
            },
        )
        if not new:
            continue
        created["products"] += 1
        touched.append(product.pk)
        product_values = [values["brand", spec.brand]]
        if spec.material:
            product_values.append(values["material", spec.material])
        _assign(product_values, product=product)

        axes = list(spec.axes.items())
        combinations = (
            itertools.product(*(names for _, names in axes)) if axes else [()]
        )
        by_color: dict[str, list[ProductVariant]] = {}
        for position, combination in enumerate(combinations):
            price = Decimal(spec.base_price) + sum(
                (Decimal(spec.surcharge.get(name, "0")) for name in combination),
                Decimal("0"),
            )
            sku = "-".join(
                [_sku_part(spec.brand), _sku_part(product.slug), f"{product.pk:03d}"]
                + [_sku_part(name) for name in combination]
            )
            variant = ProductVariant.objects.create(
                product=product,
                sku=sku,
                name=" / ".join(combination) or spec.name,
                price=price,
                quantity_available=_stock(rng),
                sort_order=position,
            )
            created["variants"] += 1
            _assign(
                [
                    values[slug, name]
                    for (slug, _), name in zip(axes, combination, strict=True)
                ],
                variant=variant,
            )
            for (slug, _), name in zip(axes, combination, strict=True):
                if slug == "color":
                    by_color.setdefault(name, []).append(variant)
        created["images"] += _demo_images(product, by_color)
    product_denormalised_refresh(product_ids=touched)
    return created


def _demo_images(product: Product, by_color: dict[str, list[ProductVariant]]) -> int:
    """A picture of the product, and one per colour showing that colour's
    variants (drawn with Pillow: shapes and the product's name)."""
    from shop.catalog.media import demo_image, media_create

    # Renditions are made when first asked for (shop.catalog.views.media_file).
    media_create(
        product=product,
        upload=demo_image(product.name),
        alt=product.name,
        renditions=False,
    )
    for color, variants in by_color.items():
        media_create(
            product=product,
            upload=demo_image(product.name, color),
            alt=f"{product.name} in {color.lower()}",
            variant_ids=[variant.pk for variant in variants],
            renditions=False,
        )
    return 1 + len(by_color)


def _assign(values: Iterable[AttributeValue], **owner) -> None:
    AssignedAttribute.objects.bulk_create(
        AssignedAttribute(**owner, attribute_id=value.attribute_id, value=value)
        for value in values
    )


# ---------------------------------------------------------------- synthetic catalog

SYNTHETIC_PREFIX = "synthetic-"
_ADJECTIVES = [
    "Swift",
    "Quiet",
    "Bright",
    "Urban",
    "Alpine",
    "Coastal",
    "Classic",
    "Modern",
    "Compact",
    "Rugged",
    "Soft",
    "Light",
    "Bold",
    "Everyday",
    "Studio",
    "Travel",
    "Field",
    "Midnight",
    "Solar",
    "Arctic",
]
_NOUNS = [
    "Runner",
    "Jacket",
    "Backpack",
    "Lamp",
    "Speaker",
    "Kettle",
    "Bottle",
    "Notebook",
    "Chair",
    "Desk",
    "Watch",
    "Camera",
    "Blender",
    "Headset",
    "Monitor",
    "Keyboard",
    "Mouse",
    "Tent",
    "Blanket",
    "Mug",
]
_WORDS = [
    "durable",
    "light",
    "recycled",
    "waterproof",
    "quiet",
    "fast",
    "warm",
    "modular",
    "compact",
    "premium",
    "wireless",
    "washable",
    "foldable",
    "adjustable",
    "ergonomic",
]


def synthetic_catalog_load(
    *,
    products: int,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Grow the synthetic catalog to ``products`` products with 3 variants each.

    For benchmarks. Products are named ``synthetic-<n>``; existing ones are kept, so
    running it again only adds what is missing. Returns how many were created.
    """
    demo_catalog_load()  # categories and attributes to hang them on
    leaf_ids = list(
        Category.objects.filter(children__isnull=True).values_list("id", flat=True)
    )
    colors = list(AttributeValue.objects.filter(attribute__slug="color"))
    sizes = list(AttributeValue.objects.filter(attribute__slug="size"))
    brands = list(AttributeValue.objects.filter(attribute__slug="brand"))
    start = Product.objects.filter(slug__startswith=SYNTHETIC_PREFIX).count()
    created = 0
    for first in range(start, products, batch_size):
        numbers = range(first, min(first + batch_size, products))
        with transaction.atomic():
            rows = Product.objects.bulk_create(
                _synthetic_product(n, leaf_ids[n % len(leaf_ids)]) for n in numbers
            )
            variants = ProductVariant.objects.bulk_create(
                ProductVariant(
                    product=product,
                    sku=f"SYN-{n:07d}-{i}",
                    name=f"{colors[(n + i) % len(colors)].name} / "
                    f"{sizes[i % len(sizes)].name}",
                    price=Decimal(5 + (n * 37 + i * 11) % 995) + Decimal("0.99"),
                    quantity_available=(n + i * 7) % 40,
                    sort_order=i,
                )
                for product, n in zip(rows, numbers, strict=False)
                for i in range(3)
            )
            AssignedAttribute.objects.bulk_create(
                [
                    AssignedAttribute(
                        product=product, attribute_id=brand.attribute_id, value=brand
                    )
                    for product, n in zip(rows, numbers, strict=False)
                    for brand in [brands[n % len(brands)]]
                ]
                + [
                    AssignedAttribute(
                        variant=variant, attribute_id=value.attribute_id, value=value
                    )
                    for index, variant in enumerate(variants)
                    for value in (
                        colors[(index // 3 + index % 3) % len(colors)],
                        sizes[(index % 3) % len(sizes)],
                    )
                ]
            )
            product_denormalised_refresh(product_ids=[p.pk for p in rows])
        created += len(rows)
        if progress is not None:
            progress(len(rows))
    if created and connection.vendor == "postgresql":
        # Fresh statistics, or the planner keeps its empty-table plans for a while.
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE catalog_product, catalog_productvariant, "
                "catalog_assignedattribute"
            )
    return created


def _synthetic_product(n: int, category_id: int) -> Product:
    name = (
        f"{_ADJECTIVES[n % len(_ADJECTIVES)]} "
        f"{_NOUNS[(n // len(_ADJECTIVES)) % len(_NOUNS)]} {n}"
    )
    words = " ".join(_WORDS[(n + k * 3) % len(_WORDS)] for k in range(4))
    return Product(
        name=name,
        slug=f"{SYNTHETIC_PREFIX}{n}",
        category_id=category_id,
        description=f"A {words} {name.lower()} for every day.",
    )

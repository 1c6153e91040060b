"""seed_demo: a realistic, idempotent demo catalog and a synthetic one."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from shop.accounts.models import User
from shop.catalog.models import AssignedAttribute, Category, Product, ProductVariant
from shop.demo.catalog import synthetic_catalog_load
from shop.reviews.models import Review
from shop.shipping.models import ShippingMethod, ShippingZone
from shop.taxes.models import TaxRate

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return (
        Category.objects.count(),
        Product.objects.count(),
        ProductVariant.objects.count(),
        AssignedAttribute.objects.count(),
        User.objects.count(),
        Review.objects.count(),
        ShippingMethod.objects.count(),
        TaxRate.objects.count(),
    )


def test_seed_demo_fills_a_realistic_catalog(capsys, monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    call_command("seed_demo")
    assert 35 <= Product.objects.count() <= 45
    assert 120 <= ProductVariant.objects.count() <= 180
    stock = list(ProductVariant.objects.values_list("quantity_available", flat=True))
    assert any(q == 0 for q in stock)
    assert any(2 <= q <= 10 for q in stock)
    # every product priced and searchable, phones with colour x storage
    assert not Product.objects.filter(price_min__isnull=True).exists()
    assert not Product.objects.filter(search_vector__isnull=True).exists()
    phone = Product.objects.get(slug="lumen-x2")
    assert phone.variants.count() == 6
    assert {
        a.attribute.slug for a in phone.variants.first().assigned_attributes.all()
    } == {
        "color",
        "storage",
    }
    # a few products carry reviews by reviewers nobody can sign in as
    assert phone.review_count == 4
    assert phone.rating_average == Decimal("4.25")
    assert Product.objects.filter(review_count__gt=0).count() == 3
    reviewers = User.objects.filter(reviews__isnull=False).distinct()
    assert reviewers.count() == 5
    assert not any(reviewer.has_usable_password() for reviewer in reviewers)
    # shipping to three zones, and exactly the standard rates of four countries
    assert {
        (zone.name, method.name, method.price, method.free_above)
        for zone in ShippingZone.objects.all()
        for method in zone.methods.all()
    } >= {
        ("United Kingdom", "Standard", Decimal("4.99"), Decimal("50.00")),
        ("United Kingdom", "Express", Decimal("9.99"), None),
        ("European Union", "Standard", Decimal("9.99"), None),
        ("Rest of the world", "Express", Decimal("29.99"), None),
    }
    assert dict(TaxRate.objects.values_list("country", "rate")) == {
        "GB": Decimal("20"),
        "DE": Decimal("19"),
        "UZ": Decimal("12"),
        "US": Decimal("0"),
    }
    assert not Product.objects.exclude(tax_class=None).exists()  # all standard
    admin = User.objects.get(email="admin@example.com")
    assert admin.is_staff
    assert admin.is_superuser
    printed = capsys.readouterr().out
    password = printed.split("with password ")[1].split()[0]
    assert admin.check_password(password)


def test_seed_demo_is_idempotent(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a demo passphrase")
    call_command("seed_demo")
    before = counts()
    call_command("seed_demo")
    assert counts() == before
    assert User.objects.get(email="admin@example.com").check_password(
        "a demo passphrase"
    )


def test_synthetic_catalog_grows_to_the_asked_size():
    ticks = []
    assert synthetic_catalog_load(products=7, batch_size=3, progress=ticks.append) == 7
    assert ticks == [3, 3, 1]
    synthetic = Product.objects.filter(slug__startswith="synthetic-")
    assert synthetic.count() == 7
    assert ProductVariant.objects.filter(product__in=synthetic).count() == 21
    assert not synthetic.filter(price_min__isnull=True).exists()
    assert synthetic_catalog_load(products=9, batch_size=3) == 2
    assert synthetic.count() == 9


def test_seed_demo_products_option(capsys):
    call_command("seed_demo", "--products", "5")
    assert Product.objects.filter(slug__startswith="synthetic-").count() == 5

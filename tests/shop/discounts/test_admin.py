"""The sales and vouchers admin: pages load, a saved sale reaches the catalog,
and single-use codes are generated in bulk as CSV."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from shop.catalog.models import ProductVariant
from shop.discounts.models import Sale, Voucher, VoucherKind
from tests.admin_helpers import form_data
from tests.factories import make_product

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["sale", "voucher"])
def test_changelists_and_add_pages_load(admin_client, model):
    for view in ("changelist", "add"):
        response = admin_client.get(reverse(f"admin:discounts_{model}_{view}"))
        assert response.status_code == 200


def test_a_sale_saved_in_the_admin_reaches_the_catalog(
    admin_client, django_capture_on_commit_callbacks
):
    variant = make_product(variants=[{"price": "10.00"}]).variants.get()
    data = form_data(admin_client, reverse("admin:discounts_sale_add"))
    data.update(
        {"name": "Half off", "kind": "PERCENTAGE", "value": "50",
         "is_active": "on", "products": [str(variant.product_id)]}
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:discounts_sale_add"), data)
    assert response.status_code == 302, response.content
    assert ProductVariant.objects.get(pk=variant.pk).current_price == Decimal("5.00")

    sale = Sale.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:discounts_sale_delete", args=[sale.pk]), {"post": "yes"}
        )
    assert ProductVariant.objects.get(pk=variant.pk).current_price == Decimal("10.00")


def test_a_thousand_single_use_codes_download_as_csv(admin_client):
    template = Voucher.objects.create(
        code="SPRING", kind=VoucherKind.FIXED, value=Decimal("5.00"),
        minimum_subtotal=Decimal("20.00"), per_customer_limit=1,
    )  # fmt: skip
    url = reverse("admin:discounts_voucher_generate", args=[template.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"count": "1000", "prefix": "sp-"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1000
    codes = {row["code"] for row in rows}
    assert len(codes) == 1000
    assert all(code.startswith("SP-") and len(code) == 13 for code in codes)
    made = Voucher.objects.filter(code__in=codes)
    assert made.count() == 1000
    assert set(
        made.values_list("usage_limit", "value", "minimum_subtotal", "kind")
    ) == {(1, Decimal("5.00"), Decimal("20.00"), "FIXED")}


def test_the_generate_form_refuses_too_many(admin_client):
    template = Voucher.objects.create(code="X", kind=VoucherKind.FREE_SHIPPING)
    url = reverse("admin:discounts_voucher_generate", args=[template.pk])
    response = admin_client.post(url, {"count": "10001"})
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert Voucher.objects.count() == 1


def test_a_voucher_with_a_code_taken_in_another_case_is_refused(admin_client):
    Voucher.objects.create(code="SAVE", kind=VoucherKind.FREE_SHIPPING)
    data = form_data(admin_client, reverse("admin:discounts_voucher_add"))
    data.update({"code": "save", "kind": "FREE_SHIPPING", "is_active": "on"})
    response = admin_client.post(reverse("admin:discounts_voucher_add"), data)
    assert response.status_code == 200
    assert b"Another voucher has this code" in response.content

"""Moderation in the admin: staff hide and show reviews, and the product's rating
follows in the same transaction."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from shop.reviews.models import Review
from tests.admin_helpers import form_data
from tests.factories import UserFactory, make_product
from tests.reviews_helpers import aggregates, review

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:reviews_review_changelist"


@pytest.fixture
def product(db):
    return make_product(name="Kettle", variants=[{}])


@pytest.fixture
def reviews(product):
    return [
        review(UserFactory(email=f"r{n}@example.com"), product, rating=rating)
        for n, rating in enumerate((5, 4, 1))
    ]


def act(client: Client, action: str, reviews: list[Review]):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [r.pk for r in reviews]},
    )


def test_staff_hide_and_show_reviews(admin_client, product, reviews):
    assert act(admin_client, "hide", reviews[2:]).status_code == 302
    assert Review.objects.get(pk=reviews[2].pk).is_hidden
    assert aggregates(product) == (2, 9, Decimal("4.50"))
    act(admin_client, "hide", reviews[1:])  # one already hidden: counted once
    assert aggregates(product) == (1, 5, Decimal("5.00"))
    act(admin_client, "show", reviews)
    assert aggregates(product) == (3, 10, Decimal("3.33"))
    assert not Review.objects.filter(is_hidden=True).exists()


def test_the_change_form_hides_a_review(admin_client, product, reviews):
    url = reverse("admin:reviews_review_change", args=[reviews[0].pk])
    assert 'name="is_hidden"' in admin_client.get(url).content.decode()
    data = form_data(admin_client, url)
    assert not {"rating", "comment"} & set(data)  # read-only
    data["is_hidden"] = "on"
    assert admin_client.post(url, data).status_code == 302
    assert Review.objects.get(pk=reviews[0].pk).is_hidden
    assert aggregates(product) == (2, 5, Decimal("2.50"))
    # saved again unchanged: nothing moves twice
    assert admin_client.post(url, form_data(admin_client, url)).status_code == 302
    assert aggregates(product) == (2, 5, Decimal("2.50"))
    data = form_data(admin_client, url)
    data.pop("is_hidden")  # an unticked box is not sent
    admin_client.post(url, data)
    assert aggregates(product) == (3, 10, Decimal("3.33"))


def test_staff_delete_reviews(admin_client, product, reviews):
    delete = reverse("admin:reviews_review_delete", args=[reviews[0].pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert aggregates(product) == (2, 5, Decimal("2.50"))
    response = admin_client.post(
        reverse(CHANGELIST),
        {
            "action": "delete_selected",
            "_selected_action": [r.pk for r in reviews[1:]],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert aggregates(product) == (0, 0, None)


def test_reviews_are_not_added_by_staff(admin_client):
    assert admin_client.get(reverse("admin:reviews_review_add")).status_code == 403


def test_the_list_finds_reviews_by_author_and_product(admin_client, reviews):
    page = admin_client.get(reverse(CHANGELIST), {"q": "r1@example.com"})
    assert page.status_code == 200
    assert "r1@example.com" in page.content.decode()
    assert "r0@example.com" not in page.content.decode()


def test_staff_who_may_only_read_cannot_hide(product, reviews):
    reader = UserFactory(is_staff=True)
    reader.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="reviews", codename="view_review"
        )
    )
    client = Client()
    client.force_login(reader)
    assert client.get(reverse(CHANGELIST)).status_code == 200
    act(client, "hide", reviews)
    assert not Review.objects.filter(is_hidden=True).exists()
    assert aggregates(product) == (3, 10, Decimal("3.33"))

"""accountUpdate: the names others see on reviews."""

import pytest

from shop.accounts.models import User
from tests.factories import UserFactory, make_product
from tests.reviews_helpers import review

pytestmark = pytest.mark.django_db

UPDATE = """
mutation($first: String, $last: String) {
  accountUpdate(firstName: $first, lastName: $last) {
    user { email firstName lastName publicName }
    errors { field code message }
  }
}
"""


def test_names_show_on_reviews(gql):
    user = UserFactory(email="ada@example.com")
    product = make_product(slug="kettle", variants=[{}])
    review(user, product)
    gql.login(user)
    assert gql.ok("{ me { publicName } }") == {"me": {"publicName": "Customer"}}
    payload = gql.ok(UPDATE, {"first": "  Ada ", "last": "King  Lovelace"})
    assert payload["accountUpdate"] == {
        "user": {
            "email": "ada@example.com",
            "firstName": "Ada",
            "lastName": "King Lovelace",
            "publicName": "Ada K.",
        },
        "errors": [],
    }
    shown = gql.ok(
        '{ product(slug: "kettle") { reviews { edges { node { author } } } } }'
    )
    assert shown["product"]["reviews"]["edges"][0]["node"]["author"] == "Ada K."


def test_an_omitted_name_is_kept_and_an_empty_one_cleared(gql):
    user = UserFactory(first_name="Ada", last_name="Lovelace")
    gql.login(user)
    kept = gql.ok(UPDATE, {"first": "Grace"})["accountUpdate"]["user"]
    assert (kept["firstName"], kept["lastName"]) == ("Grace", "Lovelace")
    cleared = gql.ok(UPDATE, {"last": ""})["accountUpdate"]["user"]
    assert (cleared["lastName"], cleared["publicName"]) == ("", "Grace")
    assert User.objects.get(pk=user.pk).last_name == ""


def test_over_long_names_are_refused_and_change_nothing(gql):
    user = UserFactory(first_name="Ada", last_name="Lovelace")
    gql.login(user)
    payload = gql.ok(UPDATE, {"first": "x" * 151, "last": "y" * 151})["accountUpdate"]
    assert payload["user"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        ("firstName", "INVALID"),
        ("lastName", "INVALID"),
    ]
    saved = User.objects.get(pk=user.pk)
    assert (saved.first_name, saved.last_name) == ("Ada", "Lovelace")


def test_anonymous_is_unauthenticated(gql):
    result = gql(UPDATE, {"first": "Ada"})
    assert result.error_codes() == ["UNAUTHENTICATED"]

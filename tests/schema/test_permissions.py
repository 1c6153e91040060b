"""IsAuthenticated and IsStaff, as field extensions on any field."""

import pytest
import strawberry

from schema.permissions import IsAuthenticated, IsStaff
from shop.accounts.authentication import Authentication, anonymous
from tests.factories import UserFactory


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[IsAuthenticated])
    def mine(self) -> str:
        return "mine"

    @strawberry.field(permission_classes=[IsStaff])
    def staff_only(self) -> str:
        return "staff"


schema = strawberry.Schema(query=Query)


def run(field: str, auth: Authentication):
    return schema.execute_sync(f"{{ {field} }}", context_value={"auth": auth})


def codes(result) -> list[str]:
    return [error.extensions["code"] for error in result.errors or []]


@pytest.mark.django_db
def test_signed_in_user():
    buyer = Authentication(UserFactory())
    assert run("mine", buyer).data == {"mine": "mine"}
    refused = run("staffOnly", buyer)
    assert refused.data is None
    assert codes(refused) == ["FORBIDDEN"]


@pytest.mark.django_db
def test_staff():
    staff = Authentication(UserFactory(is_staff=True))
    assert run("staffOnly", staff).data == {"staffOnly": "staff"}
    assert run("mine", staff).data == {"mine": "mine"}


@pytest.mark.parametrize("field", ["mine", "staffOnly"])
def test_anonymous_is_unauthenticated_and_told_why(field):
    plain = run(field, anonymous())
    assert codes(plain) == ["UNAUTHENTICATED"]
    assert "Sign in first" in plain.errors[0].message
    expired = run(field, anonymous("The access token has expired: refresh it."))
    assert codes(expired) == ["UNAUTHENTICATED"]
    assert expired.errors[0].message == "The access token has expired: refresh it."

"""Account reads."""

import strawberry
import strawberry_django
from strawberry.types import Info

from schema.accounts.types import UserType
from schema.context import current_user
from shop.accounts.selectors import user_list


@strawberry.type
class AccountQuery:
    @strawberry_django.field(description="The signed-in user; null when anonymous.")
    def me(self, info: Info) -> UserType | None:
        user = current_user(info)
        return user_list(user=user).filter(pk=user.pk) if user.pk else None

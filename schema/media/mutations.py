"""Staff add and delete product images (catalog.change_product)."""

from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from graphql import GraphQLError
from strawberry.file_uploads import Upload
from strawberry.permission import BasePermission
from strawberry.types import Info

from schema.errors import UserError, user_errors
from schema.ids import node_pk
from schema.permissions import FORBIDDEN, signed_in_user
from shop.catalog import media as services
from shop.catalog.errors import CatalogError, ErrorCode
from shop.catalog.models import Product
from shop.core.permissions import staff_may

if TYPE_CHECKING:
    from schema.catalog.types import ProductType

PERMISSION = "catalog.change_product"


class MayChangeProducts(BasePermission):
    """Signed-in staff holding catalog.change_product (UNAUTHENTICATED without a
    valid token, FORBIDDEN without the permission)."""

    message = "Only staff who may change products may do this."
    error_extensions = {"code": FORBIDDEN}

    def has_permission(self, source, info: Info, **kwargs) -> bool:
        user = signed_in_user(info)
        if not staff_may(user, PERMISSION):
            raise GraphQLError(self.message, extensions={"code": FORBIDDEN})
        return True


@strawberry.type(
    name="ProductMediaPayload",
    description="The product after an image was added or deleted, or why not.",
)
class ProductMediaPayload:
    product_id: strawberry.Private[int | None] = None
    errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why nothing changed."
    )

    @strawberry_django.field(
        description="The product, with its images; null on errors."
    )
    def product(
        self, info: Info
    ) -> Annotated["ProductType", strawberry.lazy("schema.catalog.types")] | None:
        if self.product_id is None:
            return None
        return Product.objects.filter(pk=self.product_id)


@strawberry.type
class MediaMutation:
    @strawberry.mutation(
        description="Add an image to a product, last in its order (a GraphQL "
        "multipart request, as apollo-upload-client sends it, with its "
        "Apollo-Require-Preflight header). The file's content decides: JPEG, PNG, "
        "WEBP or AVIF, within the byte and pixel caps; metadata is stripped. "
        "variantIds: the product's variants it shows.",
        permission_classes=[MayChangeProducts],
    )
    def product_media_create(
        self,
        info: Info,
        product_id: strawberry.ID,
        image: Upload,
        alt: str | None = None,
        variant_ids: list[strawberry.ID] | None = None,
    ) -> ProductMediaPayload:
        try:
            pk = node_pk(product_id, "Product", field="productId", error=CatalogError)
            variants = [
                node_pk(
                    v, "ProductVariant", field=f"variantIds.{i}", error=CatalogError
                )
                for i, v in enumerate(variant_ids or [])
            ]
            media = services.media_create_by_id(
                product_id=pk, upload=image, alt=alt or "", variant_ids=variants
            )
        except CatalogError as error:
            return ProductMediaPayload(errors=user_errors(error))
        return ProductMediaPayload(product_id=media.product_id)

    @strawberry.mutation(
        description="Delete a product image (Image.id).",
        permission_classes=[MayChangeProducts],
    )
    def product_media_delete(
        self, info: Info, id: strawberry.ID
    ) -> ProductMediaPayload:
        try:
            product = services.media_delete(
                media_id=node_pk(id, "Image", error=CatalogError)
            )
            if product is None:
                raise CatalogError(ErrorCode.NOT_FOUND, "No such image.", field="id")
        except CatalogError as error:
            return ProductMediaPayload(errors=user_errors(error))
        return ProductMediaPayload(product_id=product.pk)

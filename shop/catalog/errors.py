from shop.core.errors import DomainError, ErrorCode

__all__ = ["CatalogError", "ErrorCode"]


class CatalogError(DomainError):
    """A catalog rule refused the request (bad filter, unknown attribute value...)."""

from shop.core.errors import DomainError, ErrorCode

__all__ = ["CartError", "CartUnavailable", "ErrorCode"]


class CartError(DomainError):
    """A cart rule refused the request (stock, quantities, a bad token...)."""


class CartUnavailable(Exception):
    """Redis, where carts live, does not answer."""

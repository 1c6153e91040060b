"""The error vocabulary shared by every domain app."""

from enum import StrEnum


class ErrorCode(StrEnum):
    """Business error codes; the values are the contract's ErrorCode enum."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    CART_EMPTY = "CART_EMPTY"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_TOKEN = "INVALID_TOKEN"
    INVALID_STATUS = "INVALID_STATUS"
    PAYMENT_ERROR = "PAYMENT_ERROR"
    THROTTLED = "THROTTLED"


class DomainError(Exception):
    """A business rule refused the request; carries what the caller must show.

    Services raise it (or a subclass); interfaces turn it into their own error shape.
    Several problems can travel together in ``errors``.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        errors: "list[DomainError] | None" = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.errors = errors or [self]

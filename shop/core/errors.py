"""The error vocabulary shared by every domain app."""

from enum import StrEnum

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

EMAIL_MAX_LENGTH = 254


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
    SHIPPING_UNAVAILABLE = "SHIPPING_UNAVAILABLE"
    VOUCHER_INVALID = "VOUCHER_INVALID"
    VOUCHER_EXPIRED = "VOUCHER_EXPIRED"
    VOUCHER_USED_UP = "VOUCHER_USED_UP"
    VOUCHER_NOT_APPLICABLE = "VOUCHER_NOT_APPLICABLE"


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

    @classmethod
    def collected(cls, problems: "list[DomainError]") -> "DomainError":
        """One error carrying several problems (the first one leads)."""
        errors = [error for problem in problems for error in problem.errors]
        first = errors[0]
        return cls(first.code, first.message, field=first.field, errors=errors)

    @classmethod
    def raise_any(cls, problems: "list[DomainError]") -> None:
        """Raise every problem at once, if there is any."""
        if problems:
            raise cls.collected(problems)


def email_checked(email: str | None, error: type[DomainError]) -> str:
    """A stripped, lower-cased, valid email address; ``error`` REQUIRED or INVALID
    (field "email") otherwise."""
    email = (email or "").strip().lower()
    if not email:
        raise error(ErrorCode.REQUIRED, "Enter an email address.", field="email")
    try:
        if len(email) > EMAIL_MAX_LENGTH:
            raise ValidationError("too long")
        validate_email(email)
    except ValidationError as invalid:
        raise error(
            ErrorCode.INVALID, "Enter a valid email address.", field="email"
        ) from invalid
    return email

"""Field schemas, validators and WTForms classes; imports nothing of kjflow's own."""

from forms.validators import (
    FieldError,
    check_id_number,
    check_password,
    check_phone,
    check_uscc,
    format_wan,
    parse_wan,
)

__all__ = [
    "FieldError", "check_id_number", "check_password", "check_phone", "check_uscc",
    "format_wan", "parse_wan",
]

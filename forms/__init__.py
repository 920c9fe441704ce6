"""Field schemas, validators and WTForms classes; imports nothing of kjflow's own."""

from forms.schema import (
    FIELD_TYPES,
    SchemaError,
    required_missing,
    schema_fingerprint,
    to_input,
    validate,
    validate_schema,
)
from forms.validators import (
    FieldError,
    check_id_number,
    check_line,
    check_password,
    check_phone,
    check_uscc,
    format_wan,
    format_wan_exact,
    has_line_break,
    parse_id,
    parse_wan,
)

__all__ = [
    "FIELD_TYPES", "FieldError", "SchemaError", "check_id_number", "check_line", "check_password",
    "check_phone", "check_uscc", "format_wan", "format_wan_exact", "has_line_break", "parse_id",
    "parse_wan",
    "required_missing", "schema_fingerprint", "to_input", "validate", "validate_schema",
]

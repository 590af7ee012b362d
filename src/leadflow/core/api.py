"""The one shape of a 422 answer: a list of {loc, msg, type}, the same as schema validation gives."""

from collections.abc import Mapping

from ninja.errors import ValidationError


def unprocessable(errors: Mapping[str, str], *, location: str = "body") -> ValidationError:
    """A 422 with one message per field; dotted names ("custom.size") become nested locations."""
    return ValidationError(
        [
            {"loc": [location, *name.split(".")], "msg": msg, "type": "value_error"}
            for name, msg in errors.items()
        ]
    )

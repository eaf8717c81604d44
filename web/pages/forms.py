"""Form input checked against the domain's models, refused in the reader's words: each bad field
named as the form names it ("Sức chứa: hãy ghi một số nguyên"), never pydantic's English."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from booking.errors import InvalidRequest
from booking.messages import Items, Message, Term, message

Model = TypeVar("Model", bound=BaseModel)

# What the forms' fields are called on the pages (message ids of the catalogues).
FIELD_WORDS = {
    "id": "Short id",
    "site_id": "Site",
    "kind": "Kind",
    "name": "Name",
    "name_en": "Name (English)",
    "description": "Description",
    "capacity": "Capacity",
    "slot_minutes": "Slot",
    "min_minutes": "Shortest",
    "max_minutes": "Longest",
    "lead_minutes": "Book ahead at least",
    "max_days_ahead": "Days ahead at most",
    "buffer_minutes": "Gap between bookings",
    "training_id": "Training",
    "quota_group": "Quota group",
    "valid_days": "Valid for days (empty: no expiry)",
    "monthly_price_vnd": "Monthly price (VND)",
    "period": "Period",
    "max_hours": "Hours booked",
    "max_bookings": "Bookings",
    "max_future_bookings": "Upcoming bookings at once",
    "max_runtime_hours": "Machine runtime hours",
    "email": "E-mail",
    "password": "Password",
    "role": "Role",
    "plan_id": "Plan",
    "card_uid": "Card UID",
    "language": "Language",
    "sites": "Sites",
    "timezone": "Time zone",
    "holiday_country": "Public holidays of (country code)",
    "address": "Address",
    "opening_hours": "Opening hours",
}


def problem_of(error: Mapping[str, Any]) -> Message:
    """One field's refusal in words: the field as the page names it, and what is wrong with it."""
    location = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
    field = Term(FIELD_WORDS.get(location[0], location[0])) if location else Term("This value")
    kind = str(error.get("type", ""))
    limit = (error.get("ctx") or {}).get("ge", (error.get("ctx") or {}).get("gt"))
    top = (error.get("ctx") or {}).get("le", (error.get("ctx") or {}).get("lt"))
    longest = (error.get("ctx") or {}).get("max_length")
    if kind == "missing" or (kind == "string_too_short" and (error.get("ctx") or {}).get("min_length") == 1):
        return message("{field}: fill this in", field=field)
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return message("{field}: write a whole number", field=field)
    if kind in ("float_parsing", "float_type", "decimal_parsing"):
        return message("{field}: write a number", field=field)
    if kind in ("greater_than_equal", "greater_than") and isinstance(limit, int | float):
        return message("{field}: at least {limit}", field=field, limit=limit)
    if kind in ("less_than_equal", "less_than") and isinstance(top, int | float):
        return message("{field}: at most {limit}", field=field, limit=top)
    if kind == "string_too_long" and isinstance(longest, int):
        return message("{field}: at most {limit} characters", field=field, limit=longest)
    if kind == "string_too_short":
        return message("{field}: too short", field=field)
    if (
        kind == "string_pattern_mismatch"
        and location
        and location[0] in ("id", "site_id", "quota_group", "plan_id")
    ):
        return message("{field}: lower-case letters, digits and dashes only (like laser-2)", field=field)
    if kind == "enum":
        return message("{field}: choose one of the list", field=field)
    return message("{field}: this value cannot be used", field=field)


def validated(model: type[Model], data: dict[str, Any]) -> Model:
    """The form's values as the model, or InvalidRequest naming each bad field in the reader's words."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = tuple(problem_of(error) for error in exc.errors()[:5])
        raise InvalidRequest("{problems}", problems=Items(problems)) from exc

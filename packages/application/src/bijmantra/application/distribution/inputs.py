"""Request bodies of the distribution API: bounded msgspec Structs, decoded once, strictly."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import msgspec
from bijmantra.application.json_input import check_shape, refuse_nul, unreadable
from bijmantra.domain.distribution.agreements import AgreementType
from bijmantra.domain.distribution.model import PartnerType, Purpose
from bijmantra.kernel import FieldError, NotFound, ValidationFailed
from bijmantra.kernel.lifecycle import StateMachine

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Text = Annotated[str, msgspec.Meta(max_length=4000)]
Ref = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Number = str | int  # decimals travel as strings (or integers), never floats
MAX_BODY = 1 << 20


class ContactIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Name
    email: Annotated[str, msgspec.Meta(max_length=320)]
    role: Short = "contact"
    phone: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class PartnerIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Name
    country: Annotated[str, msgspec.Meta(max_length=2)]
    type: PartnerType
    contacts: Annotated[list[ContactIn], msgspec.Meta(max_length=20)]
    address: Text = ""


class ItemIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    quantity: Number
    units: Short
    germplasm_id: Ref | None = None
    seed_lot_id: Ref | None = None


class SeedRequestIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    partner_id: Ref
    purpose: Purpose
    items: Annotated[list[ItemIn], msgspec.Meta(max_length=200)]
    notes: Text = ""


class ProviderIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: Name
    email: Annotated[str, msgspec.Meta(max_length=320)]
    country: Annotated[str, msgspec.Meta(max_length=2)]


class AgreementIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    type: AgreementType
    partner_id: Ref
    provider: ProviderIn
    material: Annotated[list[Ref], msgspec.Meta(min_length=1, max_length=1000)]
    template_version: Short | None = None
    valid_until: date | None = None
    request_id: Ref | None = None


class SignIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    party_role: Short
    document_sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


class DispatchLineIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    seed_lot_id: Ref
    amount: Number
    units: Short | None = None


class DispatchIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    request_id: Ref
    lines: Annotated[list[DispatchLineIn], msgspec.Meta(min_length=1, max_length=200)]


class InvoiceLineIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    description: Name
    quantity: Number
    unit_price: Number
    tax_rate: Number = "0"


class InvoiceIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    partner_id: Ref
    currency: Annotated[str, msgspec.Meta(max_length=3)]
    lines: Annotated[list[InvoiceLineIn], msgspec.Meta(min_length=1, max_length=500)]
    dispatch_id: Ref | None = None


class LinesIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    lines: Annotated[list[InvoiceLineIn], msgspec.Meta(min_length=1, max_length=500)]


class ActionIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    action: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    reason: Text = ""
    tracking: Annotated[str, msgspec.Meta(max_length=200)] = ""


T = TypeVar("T")


def decode(body: bytes, kind: type[T]) -> T:
    """One strict decode: a wrong field is a 422 naming it, a body that is not JSON a 400."""
    if len(body) > MAX_BODY:
        raise ValidationFailed("Request body too large", [FieldError("body", f"<= {MAX_BODY}")])
    check_shape(body)  # nesting depth, before the decoder recurses
    try:
        decoded = msgspec.json.decode(body, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        where = str(exc).rpartition("at `")[2].rstrip("`") if "at `" in str(exc) else "body"
        raise ValidationFailed("Invalid request body", [FieldError(where, str(exc))]) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise unreadable(exc, "JSON") from None
    refuse_nul(body, decoded)
    return decoded


E = TypeVar("E", bound=StrEnum)


def choice(value: str, choices: type[E], field: str, what: str = "") -> E:
    """``value`` as one of ``choices``: anything else is a 422 "Unknown <what>" at ``field``
    naming every allowed value (a status, an action, a document kind)."""
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(c.value for c in choices)
        raise ValidationFailed(f"Unknown {what or field}", [FieldError(field, allowed)]) from None


def record_id(value: str, what: str) -> str:
    """Distribution ids are UUIDs; anything else cannot exist, so it is a 404, not a 500."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise NotFound(f"{what} {value!r} not found") from None


def reference(value: str, where: str) -> str:
    """An id named in a body: malformed is a 400 (the caller wrote it)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValidationFailed("Invalid id", [FieldError(where, "not a UUID")]) from None


def to_builtins(value: Any) -> Any:
    """The JSON form of a typed value, exactly as stored and served (tuples become lists)."""
    return msgspec.json.decode(msgspec.json.encode(value))


def lifecycle_document(
    record: Any, lifecycle: StateMachine[Any, Any], **computed: Any
) -> dict[str, Any]:
    """A record with a lifecycle as the API shows it: its stored fields, what the server
    computes from them (never taken from clients), and the actions its status allows next."""
    allowed = [action.value for action in lifecycle.allowed(record.status)]
    return {**to_builtins(record), **computed, "allowed": allowed}


def from_document(document: dict[str, Any], kind: type[T]) -> T:
    return msgspec.convert(document, kind, strict=False)

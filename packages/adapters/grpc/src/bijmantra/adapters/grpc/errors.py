"""One codec for errors crossing gRPC: status code from the kernel table, details as JSON."""

from __future__ import annotations

from typing import NoReturn

import msgspec
from bijmantra.kernel import BijmantraError, FieldError, Unavailable
from bijmantra.kernel.errors import GRPC_STATUS_NAMES, ErrorCode, error_for

import grpc

DETAILS_KEY = "bijmantra-error-bin"


class _Details(msgspec.Struct):
    code: str
    message: str
    details: list[tuple[str, str]]


_STATUS_TO_CODE = {name: code for code, name in GRPC_STATUS_NAMES.items()}


def rpc_error_metadata(error: BijmantraError) -> tuple[tuple[str, bytes], ...]:
    payload = _Details(
        error.code.value, error.message, [(d.location, d.message) for d in error.details]
    )
    return ((DETAILS_KEY, msgspec.json.encode(payload)),)


async def abort_with(context: grpc.aio.ServicerContext, error: BijmantraError) -> NoReturn:
    context.set_trailing_metadata(rpc_error_metadata(error))
    await context.abort(grpc.StatusCode[GRPC_STATUS_NAMES[error.code]], error.message)
    raise AssertionError("abort() raises")  # pragma: no cover


def error_from_rpc(exc: grpc.aio.AioRpcError) -> BijmantraError:
    """Rebuild the typed error a servicer raised; transport failures become ``unavailable``."""
    for key, value in exc.trailing_metadata() or ():
        if key == DETAILS_KEY:
            decoded = msgspec.json.decode(value, type=_Details)
            return error_for(
                decoded.code, decoded.message, [FieldError(*d) for d in decoded.details]
            )
    code = _STATUS_TO_CODE.get(exc.code().name)
    if code is None or code is ErrorCode.UNAVAILABLE:
        return Unavailable(f"upstream service unavailable ({exc.code().name})")
    return error_for(code, exc.details() or code.value)

"""Telemetry in (batches from a device, by its credential) and out (history, environment)."""

from __future__ import annotations

import csv
import hmac
import io
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from bijmantra.application.json_input import decode_body
from bijmantra.application.security import authorize
from bijmantra.application.sensors.credentials import CREDENTIAL_PREFIX, parse_secret
from bijmantra.application.sensors.documents import (
    ReadingBody,
    TelemetryBody,
    WholeTelemetryBody,
)
from bijmantra.application.sensors.enrolment import READ, device_event
from bijmantra.application.sensors.ports import SensorsUnitOfWorkFactory, StudyPlaces
from bijmantra.domain import DomainEvent
from bijmantra.domain.sensors import (
    DEFAULT_GDD_BASE,
    MAX_BATCH,
    MAX_POINTS,
    DayWeather,
    EnrolmentState,
    MetricSummary,
    ReadingLike,
    Resolution,
    Window,
    columns,
    environment,
    sort_batch,
    summarize,
    within_history,
)
from bijmantra.kernel import (
    Clock,
    FieldError,
    NotFound,
    Principal,
    SystemClock,
    TenantId,
    Unauthorized,
    Unprocessable,
    ValidationFailed,
)

MAX_ENVIRONMENT_DAYS = 3660
MAX_GDD_BASE = 100.0  # degrees C either way
TEMPERATURE, RAINFALL = "air_temperature", "rainfall"
_reading = msgspec.json.Decoder(ReadingBody)
_whole_batch = msgspec.json.Decoder(WholeTelemetryBody)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def _parse_items(raw: list[msgspec.Raw]) -> list[ReadingLike | str]:
    """For each item, its reading or why it does not parse (item by item, to name each)."""
    items: list[ReadingLike | str] = []
    for item in raw:
        try:
            items.append(_reading.decode(item))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            items.append(f"malformed reading: {exc}")
        except UnicodeDecodeError as exc:  # the envelope passes raw items through unchecked
            items.append(f"malformed reading: invalid UTF-8 at byte {exc.start}")
    return items


def _parse_batch(body: bytes) -> Sequence[ReadingLike | str]:
    """A batch's items. One decoding pass when every item parses (a device's usual batch);
    otherwise the envelope first, then item by item. The size is checked either way."""
    try:
        whole = _whole_batch.decode(body).readings
    # Not UTF-8, or nested past the decoder's depth: the checked path below says which (400).
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        batch: TelemetryBody = decode_body(body, TelemetryBody, "telemetry batch")
        _check_size(len(batch.readings))
        return _parse_items(batch.readings)
    _check_size(len(whole))
    return whole


def _check_size(count: int) -> None:
    if not 0 < count <= MAX_BATCH:
        raise ValidationFailed(
            f"A batch holds 1 to {MAX_BATCH} readings",
            [FieldError("readings", f"{count} given")],
        )


@dataclass
class IngestTelemetry:
    uow: SensorsUnitOfWorkFactory
    clock: Clock = field(default_factory=SystemClock)

    async def __call__(self, credential: str, body: bytes) -> dict[str, Any]:
        """Store a batch's good items once each; report every bad item by index and reason.

        The first valid reading commissions a claimed device. A batch with no good item
        changes nothing and is refused (422) with the same per-item details."""
        secret = parse_secret(credential, CREDENTIAL_PREFIX)
        return await self._ingest(secret.tenant_id, secret.device_id, body, secret.hash)

    async def from_connected_device(
        self,
        tenant_id: TenantId,
        device_id: str,
        body: bytes,
        turn: AbstractAsyncContextManager[None] | None = None,
    ) -> dict[str, Any]:
        """A batch from an MQTT connection the listener authenticated with the device's
        credential (the topic names tenant and device; NATS lets it publish on no other).
        The device must still hold a credential: revoking it stops a live connection too.

        ``turn`` is held around the transaction only: the bridge decodes the next batches
        while this one is stored, and still commits one device's batches in order."""
        items = _parse_batch(body)
        async with turn or nullcontext():
            return await self._store(tenant_id, device_id, lambda: items, None)

    async def _ingest(
        self, tenant_id: TenantId, device_id: str, body: bytes, credential_hash: str | None
    ) -> dict[str, Any]:
        """The credential is checked before the body is parsed: a caller without a valid
        one gets 401 and costs one row read, not the decoding of up to 4 MiB."""
        return await self._store(tenant_id, device_id, lambda: _parse_batch(body), credential_hash)

    async def _store(
        self,
        tenant_id: TenantId,
        device_id: str,
        parsed: Callable[[], Sequence[ReadingLike | str]],
        credential_hash: str | None,
    ) -> dict[str, Any]:
        now = self.clock.now()
        async with self.uow(tenant_id) as uow:
            found = await uow.sensors.device_for_batch(device_id)
            if found is None:
                raise Unauthorized("Device credential not valid")
            device, profile, followed = found
            if device.credential_hash is None:
                raise Unauthorized("Device credential not valid")
            if credential_hash is not None and not hmac.compare_digest(
                credential_hash, device.credential_hash
            ):
                raise Unauthorized("Device credential not valid")
            items = parsed()
            sorted_batch = sort_batch(profile, items, now)
            rejected = [{"index": e.index, "reason": e.reason} for e in sorted_batch.errors]
            if not sorted_batch.good:
                raise Unprocessable(
                    "No reading in the batch can be stored",
                    [
                        FieldError(f"readings[{e.index}]", e.reason)
                        for e in sorted_batch.errors[:100]
                    ],
                )
            was = device.state
            device = device.accepts_readings(device.credential_hash, now)
            stored = await uow.sensors.store_readings(device.device_id, sorted_batch.good)
            device = device.seen(now)
            await uow.sensors.save_device(device)
            if was is not EnrolmentState.COMMISSIONED:
                uow.record(device_event(device, "commissioned", None, at=now))
            uow.record(
                _received(
                    device.tenant_id, device.device_id, sorted_batch.good, stored, followed, now
                )
            )
            await uow.commit()
        accepted = len(items) - len(rejected)  # a repeat within the batch too: every item counts
        return {
            "deviceId": device.device_id,
            "accepted": accepted,
            "stored": stored,
            "duplicates": accepted - stored,
            "rejected": rejected,
        }


def _rfc3339(times: list[datetime]) -> list[str]:
    """The times as RFC 3339 strings, by msgspec's C encoder (isoformat() per reading cost
    as much as storing the batch)."""
    return list(msgspec.json.decode(msgspec.json.encode(times), type=list[str]))


def _received(
    tenant_id: TenantId,
    device_id: str,
    good: tuple[ReadingLike, ...],
    stored: int,
    followed: frozenset[str],
    at: datetime,
) -> DomainEvent:
    """``sensors.telemetry.received``: per metric a summary of the batch (count, span,
    extremes, newest reading), and the readings themselves, columnar, only of the metrics a
    threshold or rate rule of the device follows (ADR 0304). A device without such rules
    sends a batch of 5,000 as a few hundred bytes to the relay, the audit trail, the worker
    and the live feed instead of ~250 kB."""
    data: dict[str, Any] = {
        "deviceId": device_id,
        "stored": stored,
        "series": [_summary(s) for s in summarize(good)],
    }
    if followed:
        metrics, times, values = columns([r for r in good if r.metric in followed])
        data["readings"] = {"metrics": metrics, "times": _rfc3339(times), "values": values}
    return DomainEvent(
        type="sensors.telemetry.received",
        tenant_id=tenant_id,
        aggregate_id=device_id,
        data=data,
        occurred_at=at,
    )


def _summary(summary: MetricSummary) -> dict[str, Any]:
    first, last = _rfc3339([summary.first, summary.last])
    return {
        "metric": summary.metric,
        "count": summary.count,
        "first": first,
        "last": last,
        "minimum": summary.minimum,
        "maximum": summary.maximum,
        "lastValue": summary.last_value,
    }


def _window(start: str, end: str, resolution: str) -> Window:
    try:
        res = Resolution(resolution or "raw")
    except ValueError:
        raise ValidationFailed(
            "Unknown resolution", [FieldError("resolution", "raw, 1m, 1h or 1d")]
        ) from None
    try:
        first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError:
        raise ValidationFailed(
            "from and to must be ISO 8601 times", [FieldError("from", "not a time")]
        ) from None
    return Window.of(first, last, res)


@dataclass
class ReadHistory:
    uow: SensorsUnitOfWorkFactory

    async def __call__(
        self,
        principal: Principal,
        device_id: str,
        metric: str,
        start: str,
        end: str,
        resolution: str,
    ) -> dict[str, Any]:
        """Raw readings, or per bucket min/max/mean/count with empty buckets as gaps."""
        authorize(principal, READ)
        window = _window(start, end, resolution)
        async with self.uow(principal.tenant_id) as uow:
            found = await uow.sensors.device_and_profile(device_id)
            if found is None:
                raise NotFound(f"Device {device_id} not found")
            spec = found[1].metric(metric)
            if spec is None:
                raise ValidationFailed("Unknown metric", [FieldError("metric", "not in profile")])
            if window.resolution is Resolution.RAW:
                rows = await uow.sensors.raw(device_id, metric, window, MAX_POINTS + 1)
                if len(rows) > MAX_POINTS:
                    raise ValidationFailed(
                        f"More than {MAX_POINTS} raw readings: choose a resolution",
                        [FieldError("resolution", "range too long for raw")],
                    )
                points: list[dict[str, Any]] | msgspec.Raw = [
                    {"time": r.at.isoformat(), "value": r.value} for r in rows
                ]
            else:
                points = msgspec.Raw(await uow.sensors.series(device_id, metric, window))
        return {
            "deviceId": device_id,
            "metric": metric,
            "unit": spec.unit,
            "resolution": window.resolution.value,
            "from": window.start.isoformat(),
            "to": window.end.isoformat(),
            "points": points,
        }


def history_csv(history: dict[str, Any]) -> str:
    """The same history as CSV; a gap is a row with empty value cells."""
    if isinstance(history["points"], msgspec.Raw):
        history = {**history, "points": msgspec.json.decode(history["points"])}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if history["resolution"] == "raw":
        writer.writerow(["time", "value"])
        writer.writerows([p["time"], p["value"]] for p in history["points"])
    else:
        writer.writerow(["time", "min", "max", "mean", "count"])
        for p in history["points"]:
            cells = [p["min"], p["max"], p["mean"]]
            writer.writerow([p["time"], *("" if c is None else c for c in cells), p["count"]])
    return out.getvalue()


@dataclass
class StudyEnvironment:
    uow: SensorsUnitOfWorkFactory
    places: StudyPlaces

    async def __call__(
        self, principal: Principal, study_db_id: str, start: str, end: str, gdd_base: str
    ) -> dict[str, Any]:
        """Daily min/max/mean temperature, GDD and cumulative rainfall over the study's dates
        (or ``from``/``to``), from the devices placed in the study or at its location."""
        authorize(principal, READ)
        place = await self.places(principal, study_db_id)
        try:
            first = date.fromisoformat(start) if start else place.start
            last = date.fromisoformat(end) if end else place.end
            base = float(gdd_base) if gdd_base else DEFAULT_GDD_BASE
            if not -MAX_GDD_BASE <= base <= MAX_GDD_BASE:  # NaN and infinities too
                raise ValueError(gdd_base)
        except ValueError:
            raise ValidationFailed(
                "from/to must be dates and gddBase a number", [FieldError("query", "malformed")]
            ) from None
        if first is None or last is None:
            raise ValidationFailed(
                "The study has no start/end date: give from and to", [FieldError("from", "missing")]
            )
        if not 0 <= (last - first).days < MAX_ENVIRONMENT_DAYS:
            raise ValidationFailed("from..to must span 1 to 3660 days", [FieldError("to", "range")])
        within_history(_midnight(first), _midnight(last))
        async with self.uow(principal.tenant_id) as uow:
            devices = await uow.sensors.devices_placed(study_db_id, place.location_db_id)
            ids = [d.device_id for d in devices]
            temps = await uow.sensors.daily(ids, TEMPERATURE, first, last)
            rain = await uow.sensors.daily(ids, RAINFALL, first, last)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        weather = {
            d: DayWeather(
                temps[d].minimum if d in temps else None,
                temps[d].maximum if d in temps else None,
                temps[d].mean if d in temps else None,
                rain[d].total if d in rain else None,
            )
            for d in days
        }
        rows = environment(days, weather, gdd_base=base)
        return {
            "studyDbId": study_db_id,
            "deviceIds": ids,
            "gddBase": base,
            "days": [
                {
                    "date": r.day.isoformat(),
                    "tMin": r.t_min,
                    "tMax": r.t_max,
                    "tMean": r.t_mean,
                    "gdd": r.gdd,
                    "cumulativeGdd": r.cumulative_gdd,
                    "rainfall": r.rain,
                    "cumulativeRainfall": r.cumulative_rain,
                }
                for r in rows
            ],
        }

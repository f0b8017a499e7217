"""Chaos: domain-api SIGKILLed in a burst of writes, NATS stopped and restarted in another.

After recovery every committed write has exactly one event in the stream and exactly one
effect in each consumer (the audit trail in domain-api, the crop projection in the
analytics-worker), and writes that rolled back left no event anywhere.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator

import httpx
import nats.errors
import psycopg
import pytest
from bijmantra.adapters.nats import connect
from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, DevStack, running_stack
from bijmantra.testkit.servers import LocalNats, wait_for_port

pytestmark = [pytest.mark.e2e]
WRITES = 120
CONCURRENCY = 8
SETTLE = 120.0  # seconds to wait for redeliveries before a missing effect counts as lost


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("chaos")) as stack:
        yield stack


async def burst(
    stack: DevStack, crop: str, disruption: Callable[[], Awaitable[None]]
) -> dict[str, int]:
    """POST ``WRITES`` single-germplasm writes from ``CONCURRENCY`` clients.

    The disruption starts once a third are done and writes go on meanwhile; the last third
    waits until the disruption is over (and the stack is ready), so the burst spans
    before, during and after. Returns name -> HTTP status (0: no HTTP answer)."""
    await asyncio.to_thread(stack.wait_ready, 120)
    token = stack.login()
    outcomes: dict[str, int] = {}
    failures: dict[str, str] = {}
    names = iter(enumerate(f"{crop}-{n}" for n in range(WRITES)))
    started, recovered = asyncio.Event(), asyncio.Event()

    async def writer(client: httpx.AsyncClient) -> None:
        for n, name in names:
            if n >= 2 * WRITES // 3:
                await recovered.wait()
            body = [
                {"germplasmName": name, "germplasmPUI": f"doi:chaos/{name}", "commonCropName": crop}
            ]
            try:
                response = await client.post("/brapi/v2/germplasm", json=body)
                outcomes[name] = response.status_code
                if response.status_code != 200:
                    failures[name] = response.text[:300]
            except httpx.HTTPError as exc:
                outcomes[name] = 0
                failures[name] = repr(exc)
            if len(outcomes) >= WRITES // 3:
                started.set()

    async def disrupt() -> None:
        await started.wait()
        await disruption()
        await asyncio.to_thread(stack.wait_ready, 120)
        recovered.set()

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30, headers=headers) as client:
        await asyncio.gather(disrupt(), *(writer(client) for _ in range(CONCURRENCY)))
    if failures:
        print(f"{len(failures)} writes failed, e.g. {list(failures.items())[:3]}")
    return outcomes


def after_recovery(outcomes: dict[str, int], crop: str) -> list[int]:
    return [outcomes[f"{crop}-{n}"] for n in range(2 * WRITES // 3, WRITES)]


def committed_ids(stack: DevStack, crop: str) -> dict[str, str]:
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        rows = conn.execute(
            "SELECT db_id, document->>'germplasmName' FROM domain.resources "
            "WHERE entity = 'germplasm' AND tenant_id = %s AND document->>'commonCropName' = %s",
            (DEMO_ORGANIZATION_ID, crop),
        ).fetchall()
    return {db_id: name for db_id, name in rows}


def effects(stack: DevStack, crop: str) -> tuple[Counter[str], Counter[str], int, Counter[str]]:
    """Per germplasm id: audit entries, analytics processed events; crop count; outbox rows."""
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        audit = Counter(
            r[0]
            for r in conn.execute(
                "SELECT subject FROM domain.audit_log WHERE tenant_id = %s "
                "AND event_type = 'germplasm.created' "
                "AND convert_from(envelope, 'UTF8')::jsonb #>> '{data,commonCropName}' = %s",
                (DEMO_ORGANIZATION_ID, crop),
            )
        )
        processed = Counter(
            r[0]
            for r in conn.execute(
                "SELECT p.subject FROM analytics.processed_events p JOIN domain.resources g "
                "ON g.tenant_id = p.tenant_id AND g.db_id = p.subject "
                "WHERE p.consumer = 'analytics-germplasm' AND g.document->>'commonCropName' = %s",
                (crop,),
            )
        )
        count = conn.execute(
            "SELECT coalesce(sum(germplasm_count), 0) FROM analytics.crop_germplasm_counts "
            "WHERE tenant_id = %s AND common_crop_name = %s",
            (DEMO_ORGANIZATION_ID, crop),
        ).fetchone()
        outbox = Counter(
            r[0]
            for r in conn.execute(
                "SELECT aggregate_id FROM domain.outbox WHERE tenant_id = %s "
                "AND convert_from(envelope, 'UTF8')::jsonb #>> '{data,commonCropName}' = %s",
                (DEMO_ORGANIZATION_ID, crop),
            )
        )
    assert count is not None
    return audit, processed, int(count[0]), outbox


async def stream_events(stack: DevStack, crop: str) -> Counter[tuple[str, str]]:
    """(event id, subject) of every germplasm.created of ``crop`` stored in the stream."""
    nc = await connect(stack.nats_url, name="chaos-check")
    js = nc.jetstream()
    subscription = await js.subscribe("bijmantra.events.germplasm.created", ordered_consumer=True)
    seen: Counter[tuple[str, str]] = Counter()
    while True:
        try:
            message = await subscription.next_msg(timeout=2)
        except nats.errors.TimeoutError:
            break
        event = json.loads(message.data)
        if event["data"].get("commonCropName") == crop:
            seen[(event["id"], event["subject"])] += 1
        if message.metadata.num_pending == 0:
            break
    await nc.close()
    return seen


async def assert_exactly_once(stack: DevStack, crop: str, outcomes: dict[str, int]) -> None:
    committed = committed_ids(stack, crop)
    acknowledged = {name for name, status in outcomes.items() if status == 200}
    assert acknowledged <= set(committed.values()), "every acknowledged write is committed"
    deadline = time.monotonic() + SETTLE
    while True:
        audit, processed, count, outbox = effects(stack, crop)
        if (
            set(audit) == set(processed) == set(committed) and count == len(committed)
        ) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    expected = Counter(committed.keys())
    assert outbox == expected, "one outbox event per committed write, none for rolled-back ones"
    assert audit == expected, "the audit trail recorded each committed write exactly once"
    assert processed == expected, "the analytics-worker processed each committed write exactly once"
    assert count == len(committed), "the projection counted each committed write exactly once"
    stored = await stream_events(stack, crop)
    assert all(n == 1 for n in stored.values()), "no event is stored twice in the stream"
    assert Counter(subject for _, subject in stored) == expected
    with psycopg.connect(stack.database.owner_url) as conn:
        unpublished = conn.execute(
            "SELECT count(*) FROM domain.outbox WHERE published_at IS NULL "
            "AND convert_from(envelope, 'UTF8')::jsonb #>> '{data,commonCropName}' = %s",
            (crop,),
        ).fetchone()
    assert unpublished == (0,)
    headers = {"Authorization": f"Bearer {stack.login()}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60, headers=headers) as client:
        verdict = (await client.get("/api/v1/audit/verify")).json()["data"]
    assert verdict["valid"] is True, verdict  # the hash chain holds across the kill (ADR 0336)
    assert verdict["entries_checked"] == verdict["head_position"]


async def test_sigkill_of_domain_api_mid_burst_loses_and_duplicates_nothing(
    stack: DevStack,
) -> None:
    crop = f"KillCrop{uuid.uuid4().hex[:6]}"

    async def kill_and_restart() -> None:
        process = stack.services["domain-api"]
        process.send_signal(signal.SIGKILL)
        process.wait()
        await asyncio.sleep(1)  # writes keep arriving while it is down
        restarted = stack.start_service("domain-api")
        await asyncio.to_thread(
            wait_for_port, stack.ports.domain_api, timeout=60, process=restarted
        )

    outcomes = await burst(stack, crop, kill_and_restart)
    assert len(committed_ids(stack, crop)) < WRITES, "the kill made some writes fail"
    assert set(after_recovery(outcomes, crop)) == {200}, "the restarted domain-api serves again"
    await assert_exactly_once(stack, crop, outcomes)


async def test_nats_outage_mid_burst_loses_and_duplicates_nothing(stack: DevStack) -> None:
    crop = f"OutageCrop{uuid.uuid4().hex[:6]}"
    nats_server = stack.local_server(LocalNats)

    async def stop_and_restart() -> None:
        await asyncio.to_thread(nats_server.stop)
        await asyncio.sleep(3)  # writes commit to the outbox while NATS is away
        await asyncio.to_thread(nats_server.start)

    outcomes = await burst(stack, crop, stop_and_restart)
    assert Counter(outcomes.values()) == {200: WRITES}, "writes do not need NATS"
    await assert_exactly_once(stack, crop, outcomes)


# A deferred constraint trigger, made by the test as the owner, holds one germplasm's COMMIT
# for a few seconds: long enough to SIGKILL domain-api while it waits for the answer.
_SLOW_COMMIT = """
CREATE FUNCTION domain.test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.document->>'germplasmName' = '{name}' THEN PERFORM pg_sleep(4); END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON domain.resources
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION domain.test_slow_commit();
"""


async def test_a_keyed_write_whose_answer_a_kill_lost_is_not_run_again(stack: DevStack) -> None:
    """ADR 0336: domain-api is SIGKILLed after PostgreSQL took the COMMIT and before its
    answer. The gateway answers 503 and frees the key (5xx are not kept). Before, the
    client's retry with the same key and body, sent to the restarted domain-api, stored a
    second germplasm; now the write's own transaction recorded the key, and the retry is
    409 (and stays so), with one row and one event."""
    assert stack.database is not None
    await asyncio.to_thread(stack.wait_ready, 120)
    name = f"keyed-{uuid.uuid4().hex[:8]}"
    crop = f"KeyedCrop{uuid.uuid4().hex[:6]}"
    body = [{"germplasmName": name, "germplasmPUI": f"doi:keyed/{name}", "commonCropName": crop}]
    headers = {"Authorization": f"Bearer {stack.login()}", "Idempotency-Key": f"k-{name}"}
    with psycopg.connect(stack.database.owner_url, autocommit=True) as conn:
        conn.execute(_SLOW_COMMIT.replace("{name}", name))
    try:
        async with httpx.AsyncClient(
            base_url=stack.gateway_url, timeout=60, headers=headers
        ) as client:
            first = asyncio.create_task(client.post("/brapi/v2/germplasm", json=body))
            await asyncio.sleep(1.5)  # the write waits on its COMMIT now
            process = stack.services["domain-api"]
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait)
            assert (await first).status_code == 503
            await asyncio.sleep(3)  # the COMMIT finishes without its session
            restarted = stack.start_service("domain-api")
            await asyncio.to_thread(
                wait_for_port, stack.ports.domain_api, timeout=60, process=restarted
            )
            await asyncio.to_thread(stack.wait_ready, 120)
            retries = [await client.post("/brapi/v2/germplasm", json=body) for _ in range(2)]
    finally:
        with psycopg.connect(stack.database.owner_url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER test_slow_commit ON domain.resources")
            conn.execute("DROP FUNCTION domain.test_slow_commit()")
    assert [r.status_code for r in retries] == [409, 409], [r.text for r in retries]
    assert "already applied" in retries[0].text
    assert list(committed_ids(stack, crop).values()) == [name]
    await assert_exactly_once(stack, crop, {name: 200})

"""Composition root of the analytics-worker."""

from __future__ import annotations

import asyncio
import contextlib

from bijmantra.adapters.nats import DurableConsumer, connect, ensure_stream
from bijmantra.adapters.postgres import create_engine
from bijmantra.analytics_worker.config import Settings
from bijmantra.analytics_worker.handlers import GERMPLASM_CONSUMER, GermplasmProjection
from bijmantra.analytics_worker.health import serve_health
from bijmantra.observability import get_logger

log = get_logger(__name__)


async def run(settings: Settings, stop: asyncio.Event) -> None:
    engine = create_engine(settings.database_url, pool_size=4)
    nc = await connect(settings.nats_url, name="analytics-worker")
    js = nc.jetstream()
    await ensure_stream(js)
    consumers = [
        DurableConsumer(
            js,
            durable=GERMPLASM_CONSUMER,
            filter_subject="bijmantra.events.germplasm.>",
            handler=GermplasmProjection(engine),
        )
    ]
    health = await serve_health(
        settings.health_port, lambda: nc.is_connected and all(c.ready.is_set() for c in consumers)
    )
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    log.info("analytics-worker consuming", consumers=[c.durable for c in consumers])
    await stop.wait()
    log.info("analytics-worker draining")
    for consumer in consumers:
        consumer.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    health.close()
    await nc.drain()
    await engine.dispose()

"""NATS JetStream adapter: the event stream, a batching publisher and durable consumers."""

from bijmantra.adapters.nats.consumer import DurableConsumer, Handler, JetStreamSubscriptions
from bijmantra.adapters.nats.publisher import JetStreamPublisher
from bijmantra.adapters.nats.stream import EVENTS_STREAM, EVENTS_SUBJECTS, connect, ensure_stream
from bijmantra.adapters.nats.stream_follower import JetStreamEventFeed

__all__ = [
    "EVENTS_STREAM",
    "EVENTS_SUBJECTS",
    "DurableConsumer",
    "Handler",
    "JetStreamEventFeed",
    "JetStreamPublisher",
    "JetStreamSubscriptions",
    "connect",
    "ensure_stream",
]

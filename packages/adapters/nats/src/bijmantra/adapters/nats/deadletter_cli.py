"""``bijmantra-deadletters list|replay``: a consumer's dead letters, and sending them back to
that consumer alone (ADR 0370).

``list CONSUMER`` prints a page of dead letters (stream sequence, original subject, event id
and type, organization, reason, time, deliveries) oldest first, and ``next_after`` for the
next page (``--after``). ``replay CONSUMER --seq N`` (or ``--all``) publishes each to
``bijmantra.replay.CONSUMER`` with its original envelope and headers, which only that durable
follows, and deletes the dead letter once the stream has the replay. Output is JSON; a refusal
(unknown consumer or sequence, a message that is no dead letter of CONSUMER) exits 2; NATS
unreachable or failing exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
from collections.abc import Sequence

from bijmantra.adapters.nats.deadletters import (
    MAX_PAGE,
    Refused,
    list_dead_letters,
    replay,
    replay_all,
)
from bijmantra.adapters.nats.stream import EVENTS_STREAM

import nats
import nats.errors


async def _quiet(error: Exception) -> None:
    """Connection errors end the command with one line, not a traceback per attempt."""


async def _run(args: argparse.Namespace) -> dict[str, object]:
    # Not the services' ``connect``: it retries for ever, and an operator wants an answer.
    nc = await nats.connect(
        args.nats_url,
        name="bijmantra-deadletters",
        connect_timeout=5,
        max_reconnect_attempts=2,
        reconnect_time_wait=0.5,
        error_cb=_quiet,
    )
    try:
        js = nc.jetstream()
        if args.command == "list":
            page = await list_dead_letters(
                js, args.consumer, after=args.after, limit=args.limit, stream=args.stream
            )
            return {
                "consumer": args.consumer,
                "dead_letters": [
                    {**dataclasses.asdict(d), "time": d.time.isoformat() if d.time else None}
                    for d in page
                ],
                "next_after": page[-1].sequence if len(page) == args.limit else None,
            }
        done = (
            await replay_all(js, args.consumer, stream=args.stream)
            if args.all
            else [await replay(js, args.consumer, args.seq, stream=args.stream)]
        )
        return {"consumer": args.consumer, "replayed": [dataclasses.asdict(r) for r in done]}
    finally:
        await nc.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bijmantra-deadletters", description=__doc__)
    parser.add_argument("--nats-url", default=os.environ.get("NATS_URL", ""))
    parser.add_argument(
        "--stream",
        default=EVENTS_STREAM,
        help=f"{EVENTS_STREAM}, or DEVICE_TELEMETRY on the device edge (its ingest user's URL)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="a page of one consumer's dead letters")
    listing.add_argument("consumer", help="the durable's name, or 'relay'")
    listing.add_argument("--after", type=int, default=0, help="stream sequence to page from")
    listing.add_argument("--limit", type=int, default=50, help=f"1..{MAX_PAGE}")
    again = commands.add_parser("replay", help="send dead letters back to their consumer only")
    again.add_argument("consumer")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--seq", type=int, help="the dead letter's stream sequence")
    which.add_argument("--all", action="store_true", help="every dead letter it has now")
    args = parser.parse_args(argv)
    if not args.nats_url:
        parser.error("--nats-url (or NATS_URL) is required")
    if args.command == "list" and not 1 <= args.limit <= MAX_PAGE:
        parser.error(f"--limit must be 1..{MAX_PAGE}")
    try:
        result = asyncio.run(_run(args))
    except Refused as error:
        parser.exit(2, f"bijmantra-deadletters: {error}\n")
    except (OSError, nats.errors.Error) as error:
        parser.exit(1, f"bijmantra-deadletters: NATS at {args.nats_url}: {error!r}\n")
    print(json.dumps(result, indent=2))

"""Real SMTP for tests and the dev stack (aiosmtpd), and reading what arrived.

``SmtpCatcher`` runs in-process (a thread) and keeps every message it receives, so a test can
wait for the invitation that a consumer sends (``servers.LocalMailCatcher`` is the dev stack's
process that writes each message into a Maildir).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from bijmantra.testkit.servers import free_port

# What a greylisting server (postgrey, its default words) answers a sender it has not yet seen.
GREYLISTED = "451 4.7.1 Greylisted, see http://postgrey.schweikert.ch/help/partner.example"


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server saw it: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        return "" if body is None else str(body.get_content())

    def links(self) -> list[str]:
        return re.findall(r"https?://\S+", self.text)

    def query_value(self, name: str) -> str:
        """The value of ``name=`` in the first link that has it (an invitation's token)."""
        for link in self.links():
            found = parse_qs(urlsplit(link).query).get(name)
            if found:
                return found[0]
        raise LookupError(f"no link with {name}= in the message")


@dataclass
class _Collector:
    received: list[ReceivedMail] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    refusals: dict[str, str] = field(default_factory=dict)  # address -> the RCPT reply
    greylisted: dict[str, int] = field(default_factory=dict)  # address -> tries still refused
    tries: list[tuple[str, str]] = field(default_factory=list)  # (address, reply code) by RCPT
    stalled: dict[str, float] = field(default_factory=dict)  # address -> seconds before a reply

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        key = address.lower()
        with self.changed:
            stall = self.stalled.get(key, 0.0)
            if stall:
                self.tries.append((key, "..."))  # no reply before the client gives up
        if stall:
            await asyncio.sleep(stall)
            return "451 4.4.1 no answer from the recipient's server"
        with self.changed:
            refusal = self.refusals.get(key)
            if refusal is None and self.greylisted.get(key, 0) > 0:
                self.greylisted[key] -= 1
                refusal = GREYLISTED
            self.tries.append((key, (refusal or "250")[:3]))
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.changed:
            self.received.append(
                ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), message)
            )
            self.changed.notify_all()
        return "250 Message accepted for delivery"


class SmtpCatcher:
    """An aiosmtpd server on a free loopback port that collects every message it accepts."""

    def __init__(self) -> None:
        self._collector = _Collector()
        self._port = free_port()
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=self._port)

    def start(self) -> SmtpCatcher:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # one INFO line per SMTP verb
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._port

    def refuse(self, address: str, reply: str | None) -> None:
        """Answer ``RCPT TO`` for ``address`` with ``reply`` (a 550 refuses it for good, a
        451 for now); None accepts it again."""
        with self._collector.changed:
            if reply is None:
                self._collector.refusals.pop(address.lower(), None)
            else:
                self._collector.refusals[address.lower()] = reply

    def greylist(self, address: str, tries: int) -> None:
        """Answer the next ``tries`` ``RCPT TO`` for ``address`` "451 greylisted", as a
        greylisting server does a new sender until its retry comes after the wait."""
        with self._collector.changed:
            self._collector.greylisted[address.lower()] = tries

    def stall(self, address: str, seconds: float) -> None:
        """Answer ``RCPT TO`` for ``address`` only after ``seconds`` (a relay verifying a
        recipient whose server does not answer): a client's timeout ends the try first.
        Its tries show as ``...``; 0 answers at once again."""
        with self._collector.changed:
            self._collector.stalled[address.lower()] = seconds

    @property
    def tries(self) -> list[tuple[str, str]]:
        """Every ``RCPT TO`` so far, in order: the address and the reply's code."""
        with self._collector.changed:
            return list(self._collector.tries)

    def tries_for(self, address: str) -> list[str]:
        """The reply codes ``address`` got, in order."""
        return [code for to, code in self.tries if to == address.lower()]

    @property
    def received(self) -> list[ReceivedMail]:
        with self._collector.changed:
            return list(self._collector.received)

    def messages_to(self, address: str) -> list[ReceivedMail]:
        wanted = address.lower()
        return [m for m in self.received if wanted in (r.lower() for r in m.rcpt_tos)]

    def wait_for(
        self, address: str, *, count: int = 1, timeout: float = 15.0
    ) -> list[ReceivedMail]:
        """Block until ``count`` messages for ``address`` arrived (a consumer sends them)."""
        deadline = time.monotonic() + timeout
        with self._collector.changed:
            while len(found := self.messages_to(address)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{count} message(s) to {address} not in after {timeout}s")
                self._collector.changed.wait(remaining)
        return found

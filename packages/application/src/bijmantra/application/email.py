"""The email port: what a use case hands over when a message must reach a person's mailbox.

Shared by identity (invitations) and anyone else who mails (reports, exports). The adapter
(``bijmantra.adapters.email.SmtpEmailSender``) speaks SMTP; ``bijmantra.testkit`` has a fake
that records what was sent and a real SMTP server for integration tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutgoingEmail:
    """One message to one recipient; ``message_id`` lets a retried send be recognised."""

    to: str
    subject: str
    text: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    message_id: str | None = None


class MailRefused(Exception):
    """The mail system refused the message for good (SMTP 5xx): sent again unchanged, it would
    be refused again. ``recipient``: the recipient's address was refused (else the message).
    It carries no words of the server's, which are not for the people the mail concerns."""

    def __init__(self, *, recipient: bool) -> None:
        super().__init__("recipient refused" if recipient else "message refused")
        self.recipient = recipient


class EmailSender(Protocol):
    async def send(self, email: OutgoingEmail) -> None:
        """Hand the message to the mail system; raise ``MailRefused`` if it refused it for
        good, any other exception if it was not accepted this time (worth another try)."""
        ...

"""``SmtpEmailSender``: builds a MIME message with the standard library and sends it with
aiosmtplib (asyncio, STARTTLS/implicit TLS, AUTH), so no use case ever blocks on a socket."""

from __future__ import annotations

import os
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
from bijmantra.application.email import MailRefused, OutgoingEmail

PERMANENT = 500  # SMTP reply codes from here on are permanent negative completions (RFC 5321)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    # "none" (local catcher / relay on loopback), "starttls" or "tls" (implicit, port 465).
    security: str = "none"
    timeout: float = 15.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SmtpSettings | None:
        """``SMTP_HOST``/``SMTP_PORT``/``SMTP_FROM``[/``SMTP_USERNAME``/``SMTP_PASSWORD``/
        ``SMTP_SECURITY``]; ``None`` when no ``SMTP_HOST`` is configured."""
        source = os.environ if env is None else env
        host = source.get("SMTP_HOST")
        if not host:
            return None
        security = source.get("SMTP_SECURITY", "none")
        if security not in {"none", "starttls", "tls"}:
            raise ValueError(f"SMTP_SECURITY must be none, starttls or tls, not {security!r}")
        default_port = {"none": 25, "starttls": 587, "tls": 465}[security]
        return cls(
            host=host,
            port=int(source.get("SMTP_PORT", default_port)),
            sender=source.get("SMTP_FROM", "Bijmantra <no-reply@bijmantra.localhost>"),
            username=source.get("SMTP_USERNAME") or None,
            password=source.get("SMTP_PASSWORD") or None,
            security=security,
        )


def build_message(email: OutgoingEmail, sender: str) -> EmailMessage:
    """The MIME message: text, an HTML alternative when given, then the attachments."""
    if "\r" in email.to or "\n" in email.to or "\r" in email.subject or "\n" in email.subject:
        raise ValueError("line breaks in a recipient or subject (header injection)")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = email.message_id or make_msgid(domain="bijmantra")
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    for attachment in email.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return message


class SmtpEmailSender:
    """One SMTP connection per message: invitations and reports are rare, and a fresh
    connection never inherits a half-broken session from an earlier failure."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, email: OutgoingEmail) -> None:
        """A permanent refusal (a 5xx reply to the recipient or the message) is
        ``MailRefused``; anything else (4xx, no connection, a timeout, our own credentials
        refused) is raised as it is, for another try."""
        settings = self._settings
        try:
            await aiosmtplib.send(
                build_message(email, settings.sender),
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password,
                use_tls=settings.security == "tls",
                start_tls=settings.security == "starttls",
                timeout=settings.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            if all(r.code >= PERMANENT for r in refused.recipients):
                raise MailRefused(recipient=True) from None
            raise
        except aiosmtplib.SMTPDataError as refused:
            if refused.code >= PERMANENT:
                raise MailRefused(recipient=False) from None
            raise

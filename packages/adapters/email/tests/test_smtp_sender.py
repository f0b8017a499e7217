"""SmtpEmailSender against a real SMTP server (aiosmtpd): what a mailbox actually receives."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from bijmantra.adapters.email import SmtpEmailSender, SmtpSettings
from bijmantra.application.email import Attachment, OutgoingEmail
from bijmantra.testkit.fakes import RecordingEmailSender
from bijmantra.testkit.mail import SmtpCatcher
from bijmantra.testkit.servers import LocalMailCatcher, free_port

pytestmark = pytest.mark.integration


def _sender(server: SmtpCatcher) -> SmtpEmailSender:
    return SmtpEmailSender(SmtpSettings(server.host, server.port, "Bijmantra <no-reply@b.test>"))


async def test_text_html_and_attachment_arrive_intact(smtp_server: SmtpCatcher) -> None:
    csv = b"name,yield\nIR64,5.2\n"
    await _sender(smtp_server).send(
        OutgoingEmail(
            to="Breeder.One@example.org",
            subject="Trial report — Kharif 2026",
            text="Plain body ✓",
            html="<p>HTML body ✓</p>",
            attachments=(Attachment("report.csv", "text/csv", csv),),
            message_id="<report-1@bijmantra>",
        )
    )
    [mail] = smtp_server.wait_for("breeder.one@example.org")
    assert mail.mail_from == "no-reply@b.test"
    assert mail.subject == "Trial report — Kharif 2026"
    assert mail.message["Message-ID"] == "<report-1@bijmantra>"
    assert mail.text.strip() == "Plain body ✓"
    html = mail.message.get_body(preferencelist=("html",))
    assert html is not None
    assert "HTML body ✓" in html.get_content()
    [part] = list(mail.message.iter_attachments())
    assert (part.get_filename(), part.get_content_type()) == ("report.csv", "text/csv")
    assert part.get_payload(decode=True) == csv


@pytest.mark.parametrize(
    "bad",
    [
        OutgoingEmail(to="a@b.test\r\nBcc: victim@c.test", subject="x", text="x"),
        OutgoingEmail(to="a@b.test", subject="x\nBcc: victim@c.test", text="x"),
    ],
)
async def test_header_injection_is_refused_and_nothing_is_sent(
    smtp_server: SmtpCatcher, bad: OutgoingEmail
) -> None:
    before = len(smtp_server.received)
    with pytest.raises(ValueError, match="header injection"):
        await _sender(smtp_server).send(bad)
    assert len(smtp_server.received) == before
    assert smtp_server.messages_to("victim@c.test") == []


async def test_an_unreachable_server_raises_rather_than_dropping_the_message() -> None:
    sender = SmtpEmailSender(SmtpSettings("127.0.0.1", free_port(), "x@b.test", timeout=2))
    with pytest.raises(OSError):  # aiosmtplib's connect error is an OSError
        await sender.send(OutgoingEmail(to="a@b.test", subject="s", text="t"))


def test_settings_from_environment() -> None:
    assert SmtpSettings.from_env({}) is None
    settings = SmtpSettings.from_env({"SMTP_HOST": "mail.test", "SMTP_SECURITY": "starttls"})
    assert settings is not None
    assert (settings.host, settings.port, settings.security) == ("mail.test", 587, "starttls")
    with pytest.raises(ValueError, match="SMTP_SECURITY"):
        SmtpSettings.from_env({"SMTP_HOST": "mail.test", "SMTP_SECURITY": "ssl3"})


async def test_the_recording_fake_keeps_messages_and_can_refuse() -> None:
    fake = RecordingEmailSender()
    fake.fail_next = 1
    message = OutgoingEmail(to="A@b.test", subject="s", text="t")
    with pytest.raises(ConnectionError):
        await fake.send(message)
    await fake.send(message)
    assert fake.to("a@b.test") == [message]


async def test_the_dev_stack_mail_catcher_writes_each_message_to_its_maildir(
    tmp_path: Path,
) -> None:
    catcher = LocalMailCatcher(tmp_path / "mail")
    catcher.start()
    try:
        await SmtpEmailSender(SmtpSettings("127.0.0.1", catcher.port, "x@b.test")).send(
            OutgoingEmail(to="dev@b.test", subject="Invitation", text="Open the link")
        )
    finally:
        catcher.stop()
    [path] = list((catcher.maildir / "new").iterdir())
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert (message["To"], message["Subject"]) == ("dev@b.test", "Invitation")

"""Email adapter: the ``EmailSender`` port over SMTP (aiosmtplib)."""

from bijmantra.adapters.email.smtp import SmtpEmailSender, SmtpSettings, build_message

__all__ = ["SmtpEmailSender", "SmtpSettings", "build_message"]

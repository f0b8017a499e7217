"""The console's Jinja environment: compiled once, and ``row.field`` on a dict read directly.

The pages render the documents domain-api answers, decoded as dicts. Jinja compiles
``row.field`` to ``getattr(row, "field")`` first and, when that raises, ``row["field"]``: an
exception per field per row, which made the invoice table's render ~4x slower than reading
the keys (ADR 0322). For a plain dict and a name that is none of dict's own attributes the
first step can only fail, so it is skipped; everything else (``d.items()``, objects,
undefined names) takes Jinja's own path and ends as it did.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bijmantra.application.distribution.service import COLLECTIONS
from bijmantra.domain.distribution.mail import (
    FAILURE_TEXT,
    RESENDABLE,
    MailFailure,
    MailStatus,
    PartnerMail,
    unreported,
)
from bijmantra.gateway.console.tables import named
from bijmantra.gateway.console.web import TEMPLATES
from jinja2 import Environment, FileSystemLoader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

DICT_ATTRIBUTES = frozenset(dir(dict))


def mail_resendable(resource: str, status: str) -> bool:
    """Whether a record of the console's ``resource`` in ``status`` may send its partner mail
    again (the domain's rule, ADR 0354): the pages offer it only then."""
    kind = COLLECTIONS.get(resource)
    return kind is not None and status in RESENDABLE[kind.value]


def mail_failure(code: str | None) -> str:
    """What a failed partner mail's reason means to the member, and what to do (ADR 0363)."""
    try:
        return FAILURE_TEXT[MailFailure(code or "")]
    except ValueError:
        return "The mailer gave up on it. Send it again later."


def mail_overdue(mail: dict[str, Any], now: datetime | None) -> bool:
    """Whether a queued mail's report is overdue at ``now``, so its writer may send it again
    (the domain's rule, ADR 0367)."""
    if now is None or mail.get("status") != MailStatus.QUEUED:
        return False
    try:
        at = datetime.fromisoformat(str(mail["at"]))
    except (KeyError, ValueError):
        return False
    return unreported(PartnerMail(MailStatus.QUEUED, at, at.date()), now)


def mail_next_try(mail: dict[str, Any] | None) -> str:
    """The words "next try at …" for a queued mail its server did not take yet (ADR 0381),
    and how many tries it did not take; "" for any other mail."""
    if not mail or mail.get("status") != MailStatus.QUEUED or not mail.get("next_try_at"):
        return ""
    tries = int(mail.get("tries") or 0)
    when = str(mail["next_try_at"])[:16].replace("T", " ")
    tried = f"{tries} {'try' if tries == 1 else 'tries'}"
    return f"next try at {when} UTC (their mail server did not take it in {tried})"


class ConsoleEnvironment(Environment):
    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The templates are the package's own files: never reloaded (Jinja otherwise stats each
    template file on every render to see whether it changed)."""
    environment = ConsoleEnvironment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, auto_reload=False
    )
    environment.filters["named"] = named
    environment.globals["mail_resendable"] = mail_resendable
    environment.globals["mail_failure"] = mail_failure
    environment.globals["mail_overdue"] = mail_overdue
    environment.globals["mail_next_try"] = mail_next_try
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))

"""Compliance: the tamper-evident audit trail built from domain events, and activity views."""

from bijmantra.application.compliance.chain import (
    GENESIS_HASH,
    AuditEntry,
    ChainHead,
    ChainProblem,
    ChainVerdict,
    chain_hash,
    next_entry,
    verify_chain,
)
from bijmantra.application.compliance.commands import AUDIT_CONSUMER, RecordAuditEntry
from bijmantra.application.compliance.dto import activity_document, entry_document
from bijmantra.application.compliance.queries import (
    ACTIVITY,
    AUDIT,
    Activity,
    ListActivity,
    ListAuditEntries,
    VerifyAuditChain,
)

__all__ = [
    "ACTIVITY",
    "AUDIT",
    "AUDIT_CONSUMER",
    "GENESIS_HASH",
    "Activity",
    "AuditEntry",
    "ChainHead",
    "ChainProblem",
    "ChainVerdict",
    "ListActivity",
    "ListAuditEntries",
    "RecordAuditEntry",
    "VerifyAuditChain",
    "activity_document",
    "chain_hash",
    "entry_document",
    "next_entry",
    "verify_chain",
]

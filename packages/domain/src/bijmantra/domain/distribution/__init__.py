"""Distribution context: partners, seed requests, material transfer agreements, dispatches
that debit seed lots, and invoices (ADR 0095)."""

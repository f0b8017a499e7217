"""The console's navigation: one line per page group. Add yours here (ADR 0060).

``permission`` hides the link from members whose roles lack it (the handler enforces it too).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    permission: str | None = None


NAV: tuple[NavItem, ...] = (
    NavItem("Dashboard", "/app"),
    NavItem("Germplasm", "/app/germplasm", "germplasm:read"),
    NavItem("Seed lots", "/app/seedlots", "germplasm:read"),
    NavItem("Programs", "/app/programs", "core:read"),
    NavItem("Studies", "/app/studies", "core:read"),
    NavItem("Locations", "/app/locations", "core:read"),
    NavItem("Genotypes", "/app/genotypes", "genotyping:read"),
    NavItem("Audit", "/app/audit", "compliance:admin"),
    NavItem("Members", "/app/members", "tenancy:admin"),
    NavItem("Export", "/app/export", "tenancy:admin"),
    NavItem("Field operations", "/app/operations", "operations:read"),
    NavItem("Devices", "/app/devices", "sensors:read"),
    NavItem("Alerts", "/app/alerts", "sensors:read"),
    NavItem("Partners", "/app/partners", "distribution:read"),
    NavItem("Seed requests", "/app/seed-requests", "distribution:read"),
    NavItem("Agreements", "/app/agreements", "distribution:read"),
    NavItem("Dispatches", "/app/dispatches", "distribution:read"),
    NavItem("Invoices", "/app/invoices", "distribution:read"),
)

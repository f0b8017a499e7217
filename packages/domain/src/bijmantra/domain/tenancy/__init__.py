"""Tenancy rules owned by the platform as a whole (where an organization's data lives)."""

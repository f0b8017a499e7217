"""Protections of the edge: rate limits and idempotent writes (ports, rules, typed values)."""

"""The gateway's protections: rate limits and ``Idempotency-Key`` as ASGI middleware (ADR 0140).

Both run after bearer authentication (they key on the verified organization and client)
and before the route handler; they live apart from the edge module so each can change alone.
"""

"""domain-api: gRPC servicers -> use cases -> PostgreSQL, plus the outbox relay."""

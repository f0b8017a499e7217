"""Console pages, one module per page group; each exports ``ROUTES`` (see ADR 0060)."""

"""gateway: the only external REST entry (BrAPI v2.1, platform API, health)."""

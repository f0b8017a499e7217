"""Redis adapter: cache, rate limiter, token and search-result stores."""

from bijmantra.adapters.redis.console_sessions import RedisConsoleSessions
from bijmantra.adapters.redis.search_results import RedisSearchResultStore

__all__ = ["RedisConsoleSessions", "RedisSearchResultStore"]

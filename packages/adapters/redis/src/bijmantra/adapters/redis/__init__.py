"""Redis adapter: cache, rate limiter, token and search-result stores."""

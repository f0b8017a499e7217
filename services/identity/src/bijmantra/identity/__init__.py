"""identity: OAuth2/OIDC endpoints (Litestar) and the internal gRPC IdentityService."""

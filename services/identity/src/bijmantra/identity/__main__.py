"""``bijmantra-identity [serve | seed-demo | rotate-keys | register-service-client ID |
register-console URI… | seed-devstack ID URI…]``."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

from bijmantra.adapters.grpc.tls import require_transport_security
from bijmantra.edge.serving import ListenerCertificate
from bijmantra.edge.serving import serve as serve_app
from bijmantra.identity.config import (
    DEMO_EMAIL,
    DEMO_ORGANIZATION_ID,
    DEMO_ORGANIZATION_NAME,
    DEMO_PASSWORD,
    DEMO_USER_ID,
    Settings,
)
from bijmantra.identity.production import administration


def serve() -> None:
    settings = Settings.from_env()
    require_transport_security(settings.tls)
    tls = settings.tls  # the gateway and the worker present certificates from the same CA
    serve_app(
        "bijmantra.identity.production:create_app",
        address=os.environ.get("IDENTITY_HOST", "0.0.0.0"),
        port=settings.port,
        tls=ListenerCertificate(tls.cert_file, tls.key_file, tls.ca_file) if tls else None,
    )


async def seed_demo() -> None:
    async with administration(Settings.from_env()) as admin:
        await admin.register_member(
            organization_id=uuid.UUID(DEMO_ORGANIZATION_ID),
            organization_name=DEMO_ORGANIZATION_NAME,
            user_id=uuid.UUID(DEMO_USER_ID),
            email=DEMO_EMAIL,
            display_name="Demo Breeder",
            password=DEMO_PASSWORD,
            roles=["admin"],
        )
    print(f"Demo organization {DEMO_ORGANIZATION_NAME} ({DEMO_ORGANIZATION_ID}); user {DEMO_EMAIL}")


async def rotate_keys() -> None:
    async with administration(Settings.from_env()) as admin:
        kid, retired = await admin.rotate_keys()
    print(f"new signing key {kid}; retired {', '.join(retired) or 'none'}")


MIN_SERVICE_SECRET = 32


async def register_service_client(client_id: str) -> None:
    """Register or re-key a platform client (analytics-worker) that acts for any organization
    as ``analysis-worker`` only. The secret comes from the environment, never argv (ps, history)."""
    from bijmantra.application.security import SERVICE_CLIENT_ROLES
    from bijmantra.application.tenancy import hash_secret

    secret = os.environ.get("SERVICE_CLIENT_SECRET", "")
    if len(secret) < MIN_SERVICE_SECRET:
        sys.exit(
            "set SERVICE_CLIENT_SECRET to a random secret of at least "
            f"{MIN_SERVICE_SECRET} characters"
        )
    async with administration(Settings.from_env()) as admin:
        await admin.register_service_client(
            client_id=client_id,
            name=f"platform service {client_id}",
            secret_hash=hash_secret(secret),
            roles=sorted(SERVICE_CLIENT_ROLES),
        )
    roles = ", ".join(sorted(SERVICE_CLIENT_ROLES))
    print(f"service client {client_id} registered (roles {roles})")


CONSOLE_CLIENT_ID = "bijmantra-console"


async def register_console(uris: list[str]) -> None:
    """Set the web console's redirect URIs: ``<gateway origin>/app/auth/callback`` (ADR 0060)."""
    allowed = ("https://", "http://127.0.0.1", "http://localhost")
    if not uris or any(not u.startswith(allowed) for u in uris):
        sys.exit("give the console's callback URLs (https, or http on loopback for development)")
    async with administration(Settings.from_env()) as admin:
        await admin.set_console_redirect_uris(CONSOLE_CLIENT_ID, uris)
    print(f"console client {CONSOLE_CLIENT_ID} redirects to {', '.join(uris)}")


async def seed_devstack(client_id: str, uris: list[str]) -> None:
    """``seed-demo``, ``register-service-client`` and ``register-console`` in one process: the
    dev stack's seed pays for one interpreter start instead of three."""
    await seed_demo()
    await register_service_client(client_id)
    await register_console(uris)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "serve":
        serve()
    elif command == "seed-demo":
        asyncio.run(seed_demo())
    elif command == "rotate-keys":
        asyncio.run(rotate_keys())
    elif command == "register-service-client" and len(sys.argv) == 3:
        asyncio.run(register_service_client(sys.argv[2]))
    elif command == "register-console" and len(sys.argv) >= 3:
        asyncio.run(register_console(sys.argv[2:]))
    elif command == "seed-devstack" and len(sys.argv) >= 4:
        asyncio.run(seed_devstack(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit(
            f"unknown command {sys.argv[1:]!r}; use 'serve', 'seed-demo', 'rotate-keys' "
            "or 'register-service-client CLIENT_ID' or 'register-console URI...' "
            "or 'seed-devstack CLIENT_ID URI...'"
        )


if __name__ == "__main__":
    main()

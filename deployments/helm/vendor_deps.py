"""Vendor chart dependencies into each chart's ``charts/`` (committed), offline.

The service charts depend on the library chart and the umbrella on the service charts, all
through ``file://`` repositories. Helm only renders what is in ``charts/``, so the packaged
dependencies are committed and ``helm template``/``helm install`` work from a checkout
with no network and no ``helm dependency build``. Run this after changing any chart; the
chart tests fail while a vendored archive differs from its source.

    uv run python deployments/helm/vendor_deps.py
"""

from __future__ import annotations

from pathlib import Path

import helm_python as helm

HELM_DIR = Path(__file__).resolve().parent
SERVICES = ("gateway", "identity", "domain-api", "analytics-worker")
# Order matters: the umbrella packages the service charts with their vendored library.
ORDER = (*SERVICES, "device-edge", "bijmantra")


def main() -> None:
    for name in ORDER:
        chart = HELM_DIR / name
        for old in (chart / "charts").glob("*.tgz"):
            old.unlink()
        helm.dependency_update(chart, skip_refresh=True)
        print("vendored", name, sorted(p.name for p in (chart / "charts").glob("*.tgz")))


if __name__ == "__main__":
    main()

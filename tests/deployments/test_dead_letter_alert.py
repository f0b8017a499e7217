"""The dead-letter alert the consumer services' charts ship (ADR 0372): opt-in, and naming
exactly the durables each service runs, so an alert fires once per consumer and no rule
misses one added later."""

from __future__ import annotations

import re

import pytest
from bijmantra.analytics_worker.documents import DOCUMENTS_CONSUMER
from bijmantra.analytics_worker.handlers import GERMPLASM_CONSUMER
from bijmantra.analytics_worker.jobs import ANALYSIS_CONSUMER
from bijmantra.application.compliance.commands import AUDIT_CONSUMER
from bijmantra.application.distribution.notifications import MAIL_CONSUMER
from bijmantra.application.operations.breeding import HARVEST_CONSUMER
from bijmantra.application.sensors.evaluation import EVALUATION_CONSUMER

from tests.deployments.test_charts import NAMESPACE, example_values, of_kind, one, render

DURABLES = {
    "domain-api": {AUDIT_CONSUMER, HARVEST_CONSUMER},
    "analytics-worker": {
        GERMPLASM_CONSUMER,
        ANALYSIS_CONSUMER,
        DOCUMENTS_CONSUMER,
        MAIL_CONSUMER,
        EVALUATION_CONSUMER,
    },
}


@pytest.mark.parametrize("chart", sorted(DURABLES))
def test_the_dead_letter_alert_names_the_services_consumers(chart: str) -> None:
    assert not of_kind(render(chart), "PrometheusRule")  # opt-in: needs the CRD
    values = example_values(chart)
    values.setdefault("metrics", {})["deadLetterAlert"] = {
        "enabled": True,
        "for": "10m",
        "severity": "critical",
        "labels": {"release": "kube-prometheus-stack"},
    }
    rule = one(render(chart, values), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == NAMESPACE
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [group] = rule["spec"]["groups"]
    [alert] = group["rules"]
    assert alert["alert"] == "BijmantraDeadLetters"
    assert (alert["for"], alert["labels"]["severity"]) == ("10m", "critical")
    expr = alert["expr"]
    assert expr.startswith("max by (namespace, consumer) (consumer_dead_letters{")
    assert expr.endswith("}) > 0")
    assert f'namespace="{NAMESPACE}"' in expr
    named = re.search(r'consumer=~"([^"]+)"', expr)
    assert named is not None
    assert set(named.group(1).split("|")) == DURABLES[chart]
    assert "{{ $labels.consumer }}" in alert["annotations"]["summary"]
    assert "bijmantra-deadletters list" in alert["annotations"]["description"]


def test_a_chart_without_consumers_has_no_dead_letter_values() -> None:
    for chart in ("gateway", "identity"):
        values = example_values(chart)
        values.setdefault("metrics", {})["deadLetterAlert"] = {
            "enabled": True,
            "for": "5m",
            "severity": "info",
        }
        with pytest.raises(Exception, match="deadLetterAlert"):
            render(chart, values)

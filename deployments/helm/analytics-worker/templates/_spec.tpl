{{/* Fixed facts about the analytics-worker process (the runtime contract), consumed by bijmantra-lib. */}}
{{- define "analytics-worker.spec" -}}
command: ["bijmantra-analytics-worker"]
ports:
  - name: http
    port: {{ .Values.port }}
    env: WORKER_HEALTH_PORT
    appProtocol: http
# The durable consumers it runs on the event stream (their dead letters, ADR 0372).
consumers: [analytics-germplasm, analysis-jobs, distribution-documents, distribution-mail, analytics-sensors]
metrics:
  port: http
  path: /metrics
probes:
  # /health/live: the event loop is alive; /health/ready: connected to NATS and the
  # durable consumer exists. There is no /health/startup: startup gates on liveness.
  type: http
  port: http
  liveness: /health/live
  readiness: /health/ready
  startup: /health/live
flows:
  ingress:
    - from: prometheus
      ports: [http]
  egress:
    - service: domain-api
      port: 50051
    # identity's token endpoint (client_credentials for the tenant a job belongs to).
    - service: identity
      port: 8001
    - external: nats
    - external: postgres
{{- end -}}

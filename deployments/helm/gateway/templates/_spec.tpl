{{/* Fixed facts about the gateway process (the runtime contract), consumed by bijmantra-lib. */}}
{{- define "gateway.spec" -}}
command: ["bijmantra-gateway"]
ports:
  - name: http
    port: {{ .Values.port }}
    env: GATEWAY_PORT
    appProtocol: http
  # /metrics listens apart from the public port (issue 17): only Prometheus reaches it.
  - name: metrics
    port: {{ .Values.metricsPort }}
    env: GATEWAY_METRICS_PORT
    appProtocol: http
metrics:
  port: metrics
  path: /metrics
probes:
  type: http
  port: http
  liveness: /health/live
  readiness: /health/ready
  startup: /health/startup
flows:
  ingress:
    - from: ingressController
      ports: [http]
    - from: prometheus
      ports: [metrics]
  egress:
    - service: identity
      port: 8001
    - service: identity
      port: 50052
    - service: domain-api
      port: 50051
    - external: redis
{{- end -}}

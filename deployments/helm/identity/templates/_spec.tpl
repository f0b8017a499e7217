{{/* Fixed facts about the identity process (the runtime contract), consumed by bijmantra-lib. */}}
{{- define "identity.spec" -}}
command: ["bijmantra-identity"]
ports:
  - name: http
    port: {{ .Values.port }}
    env: IDENTITY_PORT
    appProtocol: http
metrics:
  port: http
  path: /metrics
probes:
  type: http
  port: http
  liveness: /health/live
  readiness: /health/ready
  startup: /health/startup
signingKeys: true
flows:
  ingress:
    # External clients reach identity only through the gateway; domain-api fetches JWKS.
    - from: gateway
      ports: [http]
    - from: domain-api
      ports: [http]
    - from: prometheus
      ports: [http]
  egress:
    - external: postgres
    - external: redis
    - external: nats
{{- end -}}

{{/* Fixed facts about the domain-api process (the runtime contract), consumed by bijmantra-lib. */}}
{{- define "domain-api.spec" -}}
command: ["bijmantra-domain-api"]
ports:
  - name: grpc
    port: {{ .Values.port }}
    env: DOMAIN_API_PORT
    appProtocol: grpc
  - name: metrics
    port: {{ .Values.metricsPort }}
    env: METRICS_PORT
    appProtocol: http
metrics:
  port: metrics
  path: /metrics
probes:
  # Native Kubernetes gRPC probes against grpc.health.v1 (overall server status).
  type: grpc
  port: {{ .Values.port }}
flows:
  ingress:
    - from: gateway
      ports: [grpc]
    - from: analytics-worker
      ports: [grpc]
    - from: prometheus
      ports: [metrics]
  egress:
    - external: postgres
    - external: nats
    - external: redis
    # IdentityService (gRPC): signing keys for token verification.
    - service: identity
      port: 50052
{{- end -}}

{{/* Labels of the backup Job's pods (its NetworkPolicy selects them). */}}
{{- define "domain-api.backupLabels" -}}
app.kubernetes.io/name: {{ include "bijmantra-lib.name" . }}-backup
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: bijmantra
app.kubernetes.io/component: backup
{{- end -}}

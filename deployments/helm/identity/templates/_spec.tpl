{{/* Fixed facts about the identity process (the runtime contract), consumed by bijmantra-lib. */}}
{{- define "identity.spec" -}}
command: ["bijmantra-identity"]
ports:
  - name: http
    port: {{ .Values.port }}
    env: IDENTITY_PORT
    appProtocol: http
  # IdentityService (signing keys for token verification) and grpc.health.v1.
  - name: grpc
    port: {{ .Values.grpcPort }}
    env: IDENTITY_GRPC_PORT
    appProtocol: grpc
  # Plaintext beside the mutual-TLS ports (ADR 0176): the kubelet's probes and Prometheus
  # present no client certificate.
  - name: health
    port: {{ .Values.healthPort }}
    env: IDENTITY_HEALTH_PORT
    appProtocol: grpc
  - name: metrics
    port: {{ .Values.metricsPort }}
    env: IDENTITY_METRICS_PORT
    appProtocol: http
metrics:
  port: metrics
  path: /metrics
probes:
  # grpc.health.v1 on the health port: SERVING while the database answers (the signing
  # keys are reloaded from it), NOT_SERVING while draining.
  type: grpc
  port: {{ .Values.healthPort }}
flows:
  ingress:
    # gateway and domain-api verify tokens with keys from IdentityService (gRPC); the
    # gateway also keeps HTTP access.
    - from: gateway
      ports: [http, grpc]
    - from: domain-api
      ports: [grpc]
    # analytics-worker obtains per-tenant access tokens (client_credentials over HTTP).
    - from: analytics-worker
      ports: [http]
    - from: prometheus
      ports: [metrics]
  egress:
    - external: postgres
    - external: redis
    - external: nats
{{- end -}}

{{/* Labels of the console-client hook Job's pods (its NetworkPolicy selects them). */}}
{{- define "identity.consoleClientLabels" -}}
app.kubernetes.io/name: {{ include "bijmantra-lib.name" . }}-console-client
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: bijmantra
app.kubernetes.io/component: console-client
{{- end -}}

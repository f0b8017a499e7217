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
metrics:
  port: http
  path: /metrics
probes:
  type: http
  port: http
  liveness: /health/live
  readiness: /health/ready
  startup: /health/startup
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
      ports: [http]
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

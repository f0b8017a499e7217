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
  # grpc.health.v1 alone, plaintext: the kubelet's probes present no client certificate.
  - name: health
    port: {{ .Values.healthPort }}
    env: DOMAIN_API_HEALTH_PORT
    appProtocol: grpc
# The durable consumers it runs on the event stream (their dead letters, ADR 0372).
consumers: [compliance-audit, operations-harvest]
metrics:
  port: metrics
  path: /metrics
probes:
  # Native Kubernetes gRPC probes against grpc.health.v1 (overall server status), on the
  # plaintext health port (the gRPC port demands a client certificate, ADR 0176).
  type: grpc
  port: {{ .Values.healthPort }}
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
    {{- if .Values.deviceEdge.enabled }}
    # The device edge's client port: the auth callout and the telemetry subscriber.
    - service: device-edge
      port: {{ .Values.deviceEdge.port }}
    {{- end }}
{{- with .Values.deviceEdge }}
{{- if .enabled }}
{{- $secret := required "deviceEdge.existingSecret must name the device edge's Secret" .existingSecret }}
{{- $at := printf "%s:%d" .host (int .port) }}
# The device edge's settings: passwords and seed from its Secret, the URLs built from them
# (Kubernetes expands $(NAME) from the variables listed before).
env:
  - name: DEVICE_NATS_CALLOUT_PASSWORD
    valueFrom:
      secretKeyRef: {name: {{ $secret | quote }}, key: callout-password}
  - name: DEVICE_NATS_INGEST_PASSWORD
    valueFrom:
      secretKeyRef: {name: {{ $secret | quote }}, key: ingest-password}
  - name: DEVICE_NATS_ISSUER_SEED
    valueFrom:
      secretKeyRef: {name: {{ $secret | quote }}, key: issuer-seed}
  - name: DEVICE_NATS_CALLOUT_URL
    value: "nats://callout:$(DEVICE_NATS_CALLOUT_PASSWORD)@{{ $at }}"
  - name: DEVICE_NATS_INGEST_URL
    value: "nats://ingest:$(DEVICE_NATS_INGEST_PASSWORD)@{{ $at }}"
  - name: DEVICE_STREAM_MAX_BYTES
    value: {{ .stream.maxBytes | int64 | quote }}
  - name: DEVICE_STREAM_MAX_PER_DEVICE
    value: {{ .stream.maxPerDevice | int64 | quote }}
  - name: DEVICE_STREAM_MAX_AGE_SECONDS
    value: {{ .stream.maxAgeSeconds | int64 | quote }}
  - name: DEVICE_STREAM_MAX_BYTES_PER_ORGANIZATION
    value: {{ .stream.maxBytesPerOrganization | int64 | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Labels of the backup Job's pods (its NetworkPolicy selects them). */}}
{{- define "domain-api.backupLabels" -}}
app.kubernetes.io/name: {{ include "bijmantra-lib.name" . }}-backup
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: bijmantra
app.kubernetes.io/component: backup
{{- end -}}

{{/* Labels of the export runner's pods (its Deployment and NetworkPolicy select them). */}}
{{- define "domain-api.exportRunnerLabels" -}}
app.kubernetes.io/name: {{ include "bijmantra-lib.name" . }}-export-runner
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: bijmantra
app.kubernetes.io/component: export-runner
{{- end -}}

{{/*
A NetworkPolicy for this chart's owner-role pods (backup, export runner): nothing reaches
them; they reach DNS and PostgreSQL only. Args: top, suffix (name), labels (pod selector).
*/}}
{{- define "domain-api.ownerNetworkPolicy" -}}
{{- $np := .top.Values.networkPolicy -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "bijmantra-lib.fullname" .top | trunc 49 | trimSuffix "-" }}-{{ .suffix }}
  namespace: {{ .top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" .top | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- .labels | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress: []
  egress:
    - to:
        - {{ include "bijmantra-lib.npPeer" $np.dns | nindent 10 | trim }}
      ports:
        - protocol: UDP
          port: {{ $np.dns.port }}
        - protocol: TCP
          port: {{ $np.dns.port }}
    - ports:
        - protocol: TCP
          port: {{ $np.postgres.port }}
      {{- with $np.postgres.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

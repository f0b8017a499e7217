{{/*
Service facts ("spec") are fixed by each service chart (templates/_spec.tpl) and passed in
next to the root context:  include "bijmantra-lib.deployment" (dict "top" $ "spec" $spec)

spec:
  command: [bijmantra-gateway]
  ports: [{name, port, env, service, appProtocol}]
  metrics: {port: <port name>, path: /metrics}
  probes: {type: http|grpc, port: <name or number>, liveness: path, readiness: path, startup: path}
  flows: see _networkpolicy.tpl
  env: [EnvVar, ...]   # optional, after secretEnv (so $(NAME) may refer to those)
*/}}

{{- define "bijmantra-lib.configmap" -}}
{{- $top := .top -}}
{{- $spec := .spec -}}
{{- include "bijmantra-lib.assertNoInlineSecrets" $top -}}
{{- include "bijmantra-lib.assertProxiesBehindThePolicy" $top -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "bijmantra-lib.fullname" $top }}
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
data:
  OTEL_SERVICE_NAME: {{ include "bijmantra-lib.name" $top | quote }}
  # Services bind loopback unless told; in a pod, peers (NetworkPolicy-limited) connect.
  BIND_HOST: "0.0.0.0"
  {{- range $spec.ports }}
  {{- if .env }}
  {{ .env }}: {{ .port | toString | quote }}
  {{- end }}
  {{- end }}
  TMPDIR: "/tmp"
  {{- include "bijmantra-lib.tlsConfig" $top | nindent 2 }}
  {{- range $k, $v := (include "bijmantra-lib.config" $top | fromYaml) }}
  {{- if and (ne (toString $v) "") (not (hasKey $top.Values.secretEnv $k)) }}
  {{ $k }}: {{ $v | toString | quote }}
  {{- end }}
  {{- end }}
{{- end -}}

{{- define "bijmantra-lib.serviceaccount" -}}
{{- $top := .top -}}
{{- if $top.Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "bijmantra-lib.serviceAccountName" $top }}
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
  {{- with $top.Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end -}}
{{- end -}}

{{- define "bijmantra-lib.probe" -}}
{{- $spec := .spec -}}
{{- if eq $spec.probes.type "grpc" -}}
grpc:
  port: {{ $spec.probes.port }}
  {{- with .grpcService }}
  service: {{ . | quote }}
  {{- end }}
{{- else -}}
httpGet:
  path: {{ .path }}
  port: {{ $spec.probes.port }}
  scheme: HTTP
{{- end }}
{{ toYaml .timing }}
{{- end -}}

{{- define "bijmantra-lib.secretEnv" -}}
{{- range $name, $ref := . }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "secretEnv.%s.name is required" $name) $ref.name | quote }}
      key: {{ required (printf "secretEnv.%s.key is required" $name) $ref.key | quote }}
      {{- if hasKey $ref "optional" }}
      optional: {{ $ref.optional }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "bijmantra-lib.deployment" -}}
{{- $top := .top -}}
{{- $spec := .spec -}}
{{- $values := $top.Values -}}
{{- $scaled := or $values.autoscaling.enabled (and (hasKey $values "keda") $values.keda.enabled) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "bijmantra-lib.fullname" $top }}
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
spec:
  {{- if not $scaled }}
  replicas: {{ $values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "bijmantra-lib.selectorLabels" $top | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "bijmantra-lib.labels" $top | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "bijmantra-lib.configmap" . | sha256sum }}
        {{- if $values.metrics.scrapeAnnotations }}
        {{- $metricsPort := 0 }}
        {{- range $spec.ports }}{{ if eq .name $spec.metrics.port }}{{ $metricsPort = .port }}{{ end }}{{ end }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $metricsPort | toString | quote }}
        prometheus.io/path: {{ $spec.metrics.path | quote }}
        {{- end }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "bijmantra-lib.serviceAccountName" $top }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with (include "bijmantra-lib.imagePullSecrets" $top | trim) }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- with $values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "bijmantra-lib.podSecurityContext" $top | nindent 8 }}
      containers:
        - name: {{ include "bijmantra-lib.name" $top }}
          image: {{ include "bijmantra-lib.image" $top | quote }}
          imagePullPolicy: {{ $values.image.pullPolicy }}
          command:
            {{- toYaml $spec.command | nindent 12 }}
          ports:
            {{- range $spec.ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "bijmantra-lib.fullname" $top }}
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: OTEL_RESOURCE_ATTRIBUTES
              value: "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),service.version={{ include "bijmantra-lib.imageTag" $top }}"
            {{- with (include "bijmantra-lib.secretEnv" $values.secretEnv | trim) }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $spec.env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          startupProbe:
            {{- include "bijmantra-lib.probe" (dict "spec" $spec "path" $spec.probes.startup "timing" $values.probes.startup "grpcService" $spec.probes.grpcService) | nindent 12 }}
          livenessProbe:
            {{- include "bijmantra-lib.probe" (dict "spec" $spec "path" $spec.probes.liveness "timing" $values.probes.liveness "grpcService" $spec.probes.grpcService) | nindent 12 }}
          readinessProbe:
            {{- include "bijmantra-lib.probe" (dict "spec" $spec "path" $spec.probes.readiness "timing" $values.probes.readiness "grpcService" $spec.probes.grpcService) | nindent 12 }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- include "bijmantra-lib.containerSecurityContext" $top | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with (include "bijmantra-lib.tlsVolumeMount" $top | trim) }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $values.tmpDir.sizeLimit }}
        {{- with (include "bijmantra-lib.tlsVolume" $top | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml $values.topologySpreadConstraints | nindent 8 }}
      {{- else }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "bijmantra-lib.selectorLabels" $top | nindent 14 }}
      {{- end }}
{{- end -}}

{{- define "bijmantra-lib.service" -}}
{{- $top := .top -}}
{{- $spec := .spec -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "bijmantra-lib.fullname" $top }}
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
  {{- with $top.Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $top.Values.service.type }}
  selector:
    {{- include "bijmantra-lib.selectorLabels" $top | nindent 4 }}
  ports:
    {{- range $spec.ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
      {{- with .appProtocol }}
      appProtocol: {{ . }}
      {{- end }}
    {{- end }}
{{- end -}}

{{/* Prometheus Operator: scrape the metrics port through the Service (opt-in; needs the CRD). */}}
{{- define "bijmantra-lib.servicemonitor" -}}
{{- $top := .top -}}
{{- $spec := .spec -}}
{{- $sm := $top.Values.metrics.serviceMonitor -}}
{{- if $sm.enabled -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "bijmantra-lib.fullname" $top }}
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "bijmantra-lib.selectorLabels" $top | nindent 6 }}
  namespaceSelector:
    matchNames: [{{ $top.Release.Namespace | quote }}]
  endpoints:
    - port: {{ $spec.metrics.port }}
      path: {{ $spec.metrics.path }}
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
{{- end -}}
{{- end -}}

{{/* Prometheus Operator: alert while one of this service's consumers holds dead letters
     (ADR 0372; opt-in; needs the CRD). The spec names the consumers: each series is the
     server's count, reported alike by every replica, hence max. */}}
{{- define "bijmantra-lib.deadletteralert" -}}
{{- $top := .top -}}
{{- $spec := .spec -}}
{{- $alert := $top.Values.metrics.deadLetterAlert -}}
{{- if $alert.enabled -}}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "bijmantra-lib.fullname" $top }}-dead-letters
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
    {{- with $alert.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    - name: {{ include "bijmantra-lib.fullname" $top }}.dead-letters
      rules:
        - alert: BijmantraDeadLetters
          expr: >-
            max by (namespace, consumer) (consumer_dead_letters{namespace={{ $top.Release.Namespace | quote }},
            consumer=~{{ join "|" $spec.consumers | quote }}}) > 0
          for: {{ $alert.for }}
          labels:
            severity: {{ $alert.severity }}
          annotations:
            summary: {{ `"{{ $labels.consumer }} holds {{ $value }} dead letters"` }}
            description: {{ `"Events the {{ $labels.consumer }} consumer could not handle are set aside; nothing retries them. Why: consumer_dead_lettered_total by reason. List them with bijmantra-deadletters list {{ $labels.consumer }}, fix the cause, then replay (docs/operations.md, Dead letters)."` }}
{{- end -}}
{{- end -}}

{{- define "bijmantra-lib.hpa" -}}
{{- $top := .top -}}
{{- $a := $top.Values.autoscaling -}}
{{- if $a.enabled -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "bijmantra-lib.fullname" $top }}
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "bijmantra-lib.fullname" $top }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
    {{- with $a.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
      policies:
        - type: Percent
          value: 50
          periodSeconds: 60
{{- end -}}
{{- end -}}

{{- define "bijmantra-lib.pdb" -}}
{{- $top := .top -}}
{{- $p := $top.Values.podDisruptionBudget -}}
{{- if $p.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "bijmantra-lib.fullname" $top }}
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
spec:
  {{- if hasKey $p "minAvailable" }}
  minAvailable: {{ $p.minAvailable }}
  {{- else }}
  maxUnavailable: {{ default 1 $p.maxUnavailable }}
  {{- end }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "bijmantra-lib.selectorLabels" $top | nindent 6 }}
{{- end -}}
{{- end -}}

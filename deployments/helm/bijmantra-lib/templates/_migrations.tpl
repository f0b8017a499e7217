{{/*
Migration Job as a pre-install,pre-upgrade hook: `bijmantra-migrate` runs Alembic
`upgrade head` as the owner role (DATABASE_OWNER_URL from an existing Secret). It runs
before any of the release's workloads are created or upgraded; a failure aborts the release.

Hook resources cannot rely on the release's own ServiceAccount/ConfigMap (they do not exist
yet on first install), so the Job is self-contained. When NetworkPolicies are enabled a
hook NetworkPolicy (lower weight, created first) lets the Job reach DNS and PostgreSQL only.
*/}}

{{- define "bijmantra-lib.migrationLabels" -}}
app.kubernetes.io/name: {{ include "bijmantra-lib.name" . }}-migrate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: bijmantra
app.kubernetes.io/component: migrations
{{- end -}}

{{- define "bijmantra-lib.migrationJob" -}}
{{- $top := .top -}}
{{- $m := $top.Values.migrations -}}
{{- if $m.enabled -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "bijmantra-lib.fullname" $top | trunc 52 | trimSuffix "-" }}-migrate
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $m.backoffLimit }}
  activeDeadlineSeconds: {{ $m.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        {{- include "bijmantra-lib.migrationLabels" $top | nindent 8 }}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with $m.serviceAccountName }}
      serviceAccountName: {{ . }}
      {{- end }}
      {{- with (include "bijmantra-lib.imagePullSecrets" $top | trim) }}
      {{- . | nindent 6 }}
      {{- end }}
      securityContext:
        {{- include "bijmantra-lib.podSecurityContext" $top | nindent 8 }}
      containers:
        - name: migrate
          image: {{ include "bijmantra-lib.image" $top | quote }}
          imagePullPolicy: {{ $top.Values.image.pullPolicy }}
          command: ["bijmantra-migrate"]
          env:
            - name: TMPDIR
              value: /tmp
            - name: LOG_LEVEL
              value: {{ default "INFO" (include "bijmantra-lib.config" $top | fromYaml).LOG_LEVEL | quote }}
            - name: OTEL_SERVICE_NAME
              value: {{ include "bijmantra-lib.name" $top }}-migrate
            {{- include "bijmantra-lib.secretEnv" $m.secretEnv | nindent 12 }}
          resources:
            {{- toYaml $m.resources | nindent 12 }}
          securityContext:
            {{- include "bijmantra-lib.containerSecurityContext" $top | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
{{- end -}}
{{- end -}}

{{- define "bijmantra-lib.migrationNetworkPolicy" -}}
{{- $top := .top -}}
{{- if $top.Values.migrations.enabled -}}
{{- include "bijmantra-lib.hookNetworkPolicy" (dict "top" $top "suffix" "migrate" "hooks" "pre-install,pre-upgrade" "labels" (include "bijmantra-lib.migrationLabels" $top)) -}}
{{- end -}}
{{- end -}}

{{/*
A hook Job's own NetworkPolicy (DNS and PostgreSQL only), created before the Job (lower
weight): hook pods are not selected by the service's policy. dict: top, suffix (of the
names), hooks (helm.sh/hook), labels (the Job's pod labels, as YAML).
*/}}
{{- define "bijmantra-lib.hookNetworkPolicy" -}}
{{- $top := .top -}}
{{- $np := $top.Values.networkPolicy -}}
{{- if $np.enabled -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "bijmantra-lib.fullname" $top | trunc (int (sub 62 (len .suffix))) | trimSuffix "-" }}-{{ .suffix }}
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
  annotations:
    helm.sh/hook: {{ .hooks }}
    helm.sh/hook-weight: "-5"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
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
{{- end -}}

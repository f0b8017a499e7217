{{/*
Naming and labels.

The chart name is deliberately not overridable (no nameOverride): NetworkPolicies select
peer services by `app.kubernetes.io/name` + `app.kubernetes.io/part-of: bijmantra`, so the
name is part of the contract between the service charts.
*/}}

{{- define "bijmantra-lib.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bijmantra-lib.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bijmantra-lib.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bijmantra-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bijmantra-lib.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bijmantra-lib.labels" -}}
{{ include "bijmantra-lib.selectorLabels" . }}
helm.sh/chart: {{ include "bijmantra-lib.chart" . }}
app.kubernetes.io/version: {{ include "bijmantra-lib.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bijmantra
app.kubernetes.io/component: {{ include "bijmantra-lib.name" . }}
{{- end -}}

{{/* Labels that identify a Bijmantra service's pods regardless of release. */}}
{{- define "bijmantra-lib.peerLabels" -}}
app.kubernetes.io/name: {{ . }}
app.kubernetes.io/part-of: bijmantra
{{- end -}}

{{- define "bijmantra-lib.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bijmantra-lib.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bijmantra-lib.imageTag" -}}
{{- $global := default dict .Values.global -}}
{{- $gimage := default dict $global.image -}}
{{- default (default .Chart.AppVersion $gimage.tag) .Values.image.tag -}}
{{- end -}}

{{- define "bijmantra-lib.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "bijmantra-lib.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{- define "bijmantra-lib.imagePullSecrets" -}}
{{- $global := default dict .Values.global -}}
{{- $secrets := concat (default list $global.imagePullSecrets) (default list .Values.imagePullSecrets) | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Secrets are referenced, never inlined: refuse a plain config value that carries
credentials in a URL (scheme://user:password@host).
*/}}
{{- define "bijmantra-lib.assertNoInlineSecrets" -}}
{{- range $k, $v := (include "bijmantra-lib.config" . | fromYaml) }}
{{- if regexMatch "://[^/@\\s]*:[^/@\\s]+@" (toString $v) }}
{{- fail (printf "config.%s carries credentials in a URL; put it in a Secret and reference it from secretEnv.%s" $k $k) }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
A whole private range in TRUSTED_PROXIES is safe only while the NetworkPolicy lets nothing but
the ingress controller (gateway) or our own services (identity) connect: without it any pod
of the cluster could claim any client address in X-Forwarded-For and so spend another
client's sign-in back-off and rate limits.
*/}}
{{- define "bijmantra-lib.assertProxiesBehindThePolicy" -}}
{{- $config := include "bijmantra-lib.config" . | fromYaml -}}
{{- if not (.Values.networkPolicy | default dict).enabled }}
{{- range $name := list "TRUSTED_PROXIES" "IDENTITY_TRUSTED_PROXIES" }}
{{- range $cidr := splitList "," (toString (get $config $name | default "")) }}
{{- if has (trim $cidr) (list "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16") }}
{{- fail (printf "config.%s trusts the whole private range %s while networkPolicy.enabled is false: any pod could claim any client address; name your proxies' addresses" $name (trim $cidr)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Restricted pod/container security contexts (PSS "restricted"). */}}
{{- define "bijmantra-lib.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "bijmantra-lib.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Plain (non-secret) configuration: the chart's `config`, with `global.config` filling the
keys the chart leaves empty (so an umbrella sets TOKEN_ISSUER etc. once).
*/}}
{{- define "bijmantra-lib.config" -}}
{{- $global := default dict .Values.global -}}
{{- $config := merge (deepCopy (default dict .Values.config)) (deepCopy (default dict $global.config)) -}}
{{- toYaml $config -}}
{{- end -}}

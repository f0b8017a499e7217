{{/*
Mutual TLS between the services (ADR 0176). Each service chart has

  tls:
    enabled: true                 # false sets INTERNAL_TLS=off: plaintext, a trial only
    source: certManager           # or "secret": an existing Secret (tls.crt, tls.key, ca.crt)
    existingSecret: ""
    certManager: {issuerRef: {name, kind, group}, duration, renewBefore}

The certificate, its key and the CA are mounted at /etc/bijmantra/tls; the services read
TLS_CA_FILE, TLS_CERT_FILE and TLS_KEY_FILE.
*/}}

{{- define "bijmantra-lib.tlsDir" -}}/etc/bijmantra/tls{{- end -}}

{{- define "bijmantra-lib.tlsSecretName" -}}
{{- $tls := .Values.tls -}}
{{- if eq $tls.source "secret" -}}
{{- required "tls.existingSecret is required when tls.source is secret" $tls.existingSecret -}}
{{- else -}}
{{- include "bijmantra-lib.fullname" . }}-tls
{{- end -}}
{{- end -}}

{{/* ConfigMap entries: where the files are, or the explicit opt-out. */}}
{{- define "bijmantra-lib.tlsConfig" -}}
{{- if .Values.tls.enabled -}}
TLS_CA_FILE: {{ printf "%s/ca.crt" (include "bijmantra-lib.tlsDir" .) | quote }}
TLS_CERT_FILE: {{ printf "%s/tls.crt" (include "bijmantra-lib.tlsDir" .) | quote }}
TLS_KEY_FILE: {{ printf "%s/tls.key" (include "bijmantra-lib.tlsDir" .) | quote }}
{{- else -}}
INTERNAL_TLS: "off"
{{- end -}}
{{- end -}}

{{- define "bijmantra-lib.tlsVolumeMount" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ include "bijmantra-lib.tlsDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Group-readable for the pod's fsGroup; no one else. Updated in place on renewal. */}}
{{- define "bijmantra-lib.tlsVolume" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "bijmantra-lib.tlsSecretName" . }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* cert-manager: this service's certificate, named after its Service (the name peers dial). */}}
{{- define "bijmantra-lib.certificate" -}}
{{- $top := .top -}}
{{- $tls := $top.Values.tls -}}
{{- if and $tls.enabled (eq $tls.source "certManager") -}}
{{- $name := include "bijmantra-lib.fullname" $top -}}
{{- $ns := $top.Release.Namespace -}}
{{- $cm := $tls.certManager -}}
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: {{ $name }}
  namespace: {{ $ns }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
spec:
  secretName: {{ $name }}-tls
  commonName: {{ $name }}
  dnsNames:
    - {{ $name }}
    - {{ $name }}.{{ $ns }}
    - {{ $name }}.{{ $ns }}.svc
    - {{ $name }}.{{ $ns }}.svc.cluster.local
  duration: {{ $cm.duration }}
  renewBefore: {{ $cm.renewBefore }}
  privateKey:
    algorithm: ECDSA
    size: 256
    encoding: PKCS8
    rotationPolicy: Always
  usages:
    - digital signature
    - server auth
    - client auth
  issuerRef:
    name: {{ required "tls.certManager.issuerRef.name is required" $cm.issuerRef.name }}
    kind: {{ $cm.issuerRef.kind }}
    group: {{ $cm.issuerRef.group }}
{{- end -}}
{{- end -}}

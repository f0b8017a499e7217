{{/*
Default-deny NetworkPolicy: the pod is selected for both Ingress and Egress, so only the
flows listed by the service chart's spec are allowed.

spec.flows:
  ingress:
    - {from: ingressController|prometheus|<bijmantra service>, ports: [<port name>, ...]}
  egress:
    - {service: <bijmantra service>, port: <number>}   # in-cluster peer, same namespace
    - {external: postgres|redis|nats}                  # values.networkPolicy.<name>.{port,to}
DNS egress is always allowed; OTLP egress only when networkPolicy.otlp.enabled.
*/}}

{{- define "bijmantra-lib.npPeer" -}}
{{- $p := . -}}
{{- if or $p.namespaceSelector $p.podSelector -}}
{{- with $p.namespaceSelector }}
namespaceSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $p.podSelector }}
podSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- else -}}
{{- fail "a NetworkPolicy peer needs a namespaceSelector and/or a podSelector" -}}
{{- end -}}
{{- end -}}

{{- define "bijmantra-lib.portNumber" -}}
{{- $want := .name -}}
{{- $found := "" -}}
{{- range .spec.ports }}{{ if eq .name $want }}{{ $found = .port }}{{ end }}{{ end -}}
{{- required (printf "unknown port name %s" $want) $found -}}
{{- end -}}

{{- define "bijmantra-lib.networkpolicy" -}}
{{- $top := .top -}}
{{- $spec := .spec -}}
{{- $np := $top.Values.networkPolicy -}}
{{- if $np.enabled -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "bijmantra-lib.fullname" $top }}
  namespace: {{ $top.Release.Namespace }}
  labels:
    {{- include "bijmantra-lib.labels" $top | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "bijmantra-lib.selectorLabels" $top | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- range $spec.flows.ingress }}
    - from:
        {{- if eq .from "ingressController" }}
        - {{ include "bijmantra-lib.npPeer" $np.ingressController | nindent 10 | trim }}
        {{- else if eq .from "prometheus" }}
        - {{ include "bijmantra-lib.npPeer" $np.prometheus | nindent 10 | trim }}
        {{- else }}
        - podSelector:
            matchLabels:
              {{- include "bijmantra-lib.peerLabels" .from | nindent 14 }}
        {{- end }}
      ports:
        {{- range .ports }}
        - protocol: TCP
          port: {{ include "bijmantra-lib.portNumber" (dict "spec" $spec "name" .) }}
        {{- end }}
    {{- end }}
  egress:
    - to:
        - {{ include "bijmantra-lib.npPeer" $np.dns | nindent 10 | trim }}
      ports:
        - protocol: UDP
          port: {{ $np.dns.port }}
        - protocol: TCP
          port: {{ $np.dns.port }}
    {{- range $spec.flows.egress }}
    {{- if .service }}
    - to:
        - podSelector:
            matchLabels:
              {{- include "bijmantra-lib.peerLabels" .service | nindent 14 }}
      ports:
        - protocol: TCP
          port: {{ .port }}
    {{- else }}
    {{- $ext := get $np .external }}
    - ports:
        - protocol: TCP
          port: {{ $ext.port }}
      {{- with $ext.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- end }}
    {{- if $np.otlp.enabled }}
    - ports:
        - protocol: TCP
          port: {{ $np.otlp.port }}
      {{- with $np.otlp.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
{{- end -}}
{{- end -}}

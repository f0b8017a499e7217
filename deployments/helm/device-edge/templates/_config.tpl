{{/*
The server's configuration: the same settings as the testkit's LocalDeviceNats
(packages/testkit/src/bijmantra/testkit/device_nats.py), which tests/deployments compares
with this text. Accounts: AUTH (the callout responder), DEVICES (devices, signed in by the
callout, and the telemetry subscriber), SYS. Secrets are environment variables set from
auth.existingSecret; NATS resolves $NAME in its configuration from the environment.
max_payload is the adapter's MAX_PAYLOAD (4 MiB, a device batch's bound, ADR 0306).
*/}}
{{- define "device-edge.config" -}}
server_name: bijmantra_devices
listen: 0.0.0.0:{{ .Values.port }}
http: 0.0.0.0:{{ .Values.monitorPort }}
max_payload: 4194304
jetstream { store_dir: "/data/jetstream" }
mqtt {
  listen: 0.0.0.0:{{ .Values.mqtt.port }}
  {{- if .Values.mqtt.tls.enabled }}
  tls { cert_file: "/etc/device-edge/mqtt-tls/tls.crt", key_file: "/etc/device-edge/mqtt-tls/tls.key" }
  {{- end }}
}
accounts {
  AUTH { users: [ { user: callout, password: $CALLOUT_PASSWORD } ] }
  DEVICES {
    jetstream: enabled
    users: [ { user: ingest, password: $INGEST_PASSWORD } ]
  }
  SYS {}
}
system_account: SYS
authorization {
  auth_callout {
    issuer: $ISSUER_PUBLIC_KEY
    auth_users: [ callout, ingest ]
    account: AUTH
  }
}
{{- end -}}

{{/* The devices' Service (the MQTT listener). */}}
{{- define "device-edge.mqttName" -}}
{{- include "bijmantra-lib.fullname" . | trunc 58 | trimSuffix "-" }}-mqtt
{{- end -}}

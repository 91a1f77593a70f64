{{/*
The non-secret configuration as TASKLANE_* variables. The keys both binaries
read are here; a chart adds its own ("KEY: value" lines) through
"tasklane.chartConfig".
*/}}
{{- define "tasklane.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  {{- include "tasklane.metadata" . | nindent 2 }}
data:
  TASKLANE_NATS__URL: {{ .Values.config.nats.url | quote }}
  {{- if .Values.config.nats.tls.enabled }}
  TASKLANE_NATS__TLS__CA_FILE: {{ printf "/etc/tasklane/nats-ca/%s" .Values.config.nats.tls.caKey | quote }}
  {{- end }}
  {{- with .Values.config.valkey }}
  {{- if .sentinels }}
  TASKLANE_VALKEY__SENTINELS: {{ .sentinels | quote }}
  TASKLANE_VALKEY__SENTINEL_SERVICE: {{ .sentinelService | quote }}
  {{- end }}
  TASKLANE_VALKEY__MIN_REPLICAS_ACK: {{ .minReplicasAck | quote }}
  TASKLANE_VALKEY__REPLICA_ACK_TIMEOUT: {{ .replicaAckTimeout | quote }}
  {{- if (.tls).enabled }}
  TASKLANE_VALKEY__TLS__CA_FILE: {{ printf "/etc/tasklane/valkey-ca/%s" .tls.caKey | quote }}
  {{- end }}
  {{- end }}
  {{- with .Values.config.limits }}
  TASKLANE_LIMITS__MAX_TIMEOUT: {{ .maxTimeout | quote }}
  TASKLANE_LIMITS__MAX_ATTEMPTS: {{ .maxAttempts | int64 | quote }}
  {{- end }}
  {{- with .Values.config.tasks.enabled }}
  TASKLANE_TASKS__ENABLED: {{ join "," . | quote }}
  {{- end }}
  TASKLANE_RESULTS__TTL: {{ .Values.config.results.ttl | quote }}
  {{- include "tasklane.chartConfig" . | nindent 2 }}
  TASKLANE_LOG__FORMAT: {{ .Values.config.log.format | quote }}
  RUST_LOG: {{ .Values.config.log.level | quote }}
  {{- with (.Values.config.telemetry).otlpEndpoint }}
  TASKLANE_TELEMETRY__OTLP_ENDPOINT: {{ . | quote }}
  {{- end }}
  {{- range $name, $value := .Values.config.extraEnv }}
  {{ $name }}: {{ $value | toString | quote }}
  {{- end }}
{{- end }}

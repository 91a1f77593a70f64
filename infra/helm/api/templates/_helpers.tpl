{{/*
What is the gateway's own in the templates of tasklane-lib: the hooks they
call (infra/helm/tasklane-lib/README.md).
*/}}
{{- define "tasklane.component" -}}
gateway
{{- end }}

{{/* The HPA on CPU owns the replica count while autoscaling is enabled. */}}
{{- define "tasklane.autoscaled" -}}
{{- if .Values.autoscaling.enabled }}true{{ end }}
{{- end }}

{{- define "tasklane.chartConfig" -}}
TASKLANE_API__LISTEN: {{ printf "0.0.0.0:%d" (int .Values.service.port) | quote }}
{{- with .Values.config.api }}
TASKLANE_API__MAX_BODY_BYTES: {{ .maxBodyBytes | int64 | quote }}
TASKLANE_API__MAX_BATCH: {{ .maxBatch | int64 | quote }}
TASKLANE_API__REQUEST_TIMEOUT: {{ .requestTimeout | quote }}
TASKLANE_API__MAX_IN_FLIGHT: {{ .maxInFlight | int64 | quote }}
TASKLANE_API__MAX_IN_FLIGHT_BODY_BYTES: {{ .maxInFlightBodyBytes | int64 | quote }}
TASKLANE_API__PUBLISH_TIMEOUT: {{ .publishTimeout | quote }}
TASKLANE_API__HEADER_TIMEOUT: {{ .headerTimeout | quote }}
TASKLANE_API__MAX_CONNECTIONS: {{ .maxConnections | int64 | quote }}
{{- end }}
{{- end }}

{{- define "tasklane.chartValueErrors" -}}
{{- $request := include "tasklane.durationMs" .Values.config.api.requestTimeout | int64 }}
{{- $publish := include "tasklane.durationMs" .Values.config.api.publishTimeout | int64 }}
{{- if le $request $publish }}
config.api.requestTimeout must be longer than config.api.publishTimeout, or the gateway refuses to start
{{- end }}
{{- end }}

{{/* The `helm test` pod talks to this release's own Service. */}}
{{- define "tasklane.gateway" -}}
url: {{ printf "http://%s:%d" (include "tasklane.fullname" .) (int .Values.service.port) | quote }}
port: {{ .Values.service.port }}
podLabels:
  {{- include "tasklane.selectorLabels" . | nindent 2 }}
{{- end }}

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
{{- with .Values.service.opsPort }}
TASKLANE_API__OPS_LISTEN: {{ printf "0.0.0.0:%d" (int .) | quote }}
{{- end }}
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
{{- with .Values.config.auth }}
TASKLANE_AUTH__MODE: {{ .mode | quote }}
{{- if .keysFileKey }}
TASKLANE_AUTH__KEYS_FILE: {{ printf "/etc/tasklane/auth/%s" .keysFileKey | quote }}
{{- end }}
{{- with .jwt }}
{{- if .jwksFileKey }}
TASKLANE_AUTH__JWT__JWKS_FILE: {{ printf "/etc/tasklane/auth/%s" .jwksFileKey | quote }}
{{- end }}
{{- if .hs256SecretKey }}
TASKLANE_AUTH__JWT__HS256_SECRET_FILE: {{ printf "/etc/tasklane/auth/%s" .hs256SecretKey | quote }}
{{- end }}
{{- if .jwksUrl }}
TASKLANE_AUTH__JWT__JWKS_URL: {{ .jwksUrl | quote }}
{{- end }}
{{- if .issuer }}
TASKLANE_AUTH__JWT__ISSUER: {{ .issuer | quote }}
{{- end }}
{{- if .audience }}
TASKLANE_AUTH__JWT__AUDIENCE: {{ .audience | quote }}
{{- end }}
TASKLANE_AUTH__JWT__TENANT_CLAIM: {{ .tenantClaim | quote }}
{{- end }}
{{- end }}
{{- with .Values.config.limits }}
TASKLANE_LIMITS__TENANT_RATE: {{ .tenantRate | int64 | quote }}
{{- if .tenantBurst }}
TASKLANE_LIMITS__TENANT_BURST: {{ .tenantBurst | int64 | quote }}
{{- end }}
TASKLANE_LIMITS__TENANT_MAX_OUTSTANDING: {{ .tenantMaxOutstanding | int64 | quote }}
{{- end }}
TASKLANE_STREAM__DUPLICATE_WINDOW: {{ .Values.config.stream.duplicateWindow | quote }}
{{- end }}

{{- define "tasklane.chartValueErrors" -}}
{{- $request := include "tasklane.durationMs" .Values.config.api.requestTimeout | int64 }}
{{- $publish := include "tasklane.durationMs" .Values.config.api.publishTimeout | int64 }}
{{- if le $request $publish }}
config.api.requestTimeout must be longer than config.api.publishTimeout, or the gateway refuses to start
{{- end }}
{{- with .Values.config.auth }}
{{- if and (eq .mode "required") (not .keysFileKey) (not .jwt.jwksFileKey) (not .jwt.hs256SecretKey) (not .jwt.jwksUrl) }}
config.auth.mode required needs config.auth.keysFileKey or one of config.auth.jwt.jwksFileKey, hs256SecretKey, jwksUrl, or the gateway refuses to start
{{- end }}
{{- if and (or .keysFileKey .jwt.jwksFileKey .jwt.hs256SecretKey) (not .secretName) }}
config.auth.secretName must name the Secret that holds the credential files
{{- end }}
{{- end }}
{{- end }}

{{/* The `helm test` pod talks to this release's own Service. */}}
{{- define "tasklane.gateway" -}}
url: {{ printf "http://%s:%d" (include "tasklane.fullname" .) (int .Values.service.port) | quote }}
port: {{ .Values.service.port }}
podLabels:
  {{- include "tasklane.selectorLabels" . | nindent 2 }}
{{- end }}

{{/*
What is the worker's own in the templates of tasklane-lib: the hooks they
call (infra/helm/tasklane-lib/README.md).
*/}}
{{- define "tasklane.component" -}}
worker
{{- end }}

{{/* KEDA's or the external-metric HPA owns the replica count unless mode=none. */}}
{{- define "tasklane.autoscaled" -}}
{{- if ne .Values.autoscaling.mode "none" }}true{{ end }}
{{- end }}

{{- define "tasklane.chartConfig" -}}
TASKLANE_WORKER__LISTEN: {{ printf "0.0.0.0:%d" (int .Values.service.port) | quote }}
{{- if .Values.topologySetup.enabled }}
{{- /* The setup Job declares; a worker's NATS user may only check. */}}
TASKLANE_TOPOLOGY__MANAGE: "verify"
{{- end }}
{{- /* The worker declares the streams, so their settings are its own. */}}
{{- with .Values.config.stream }}
TASKLANE_STREAM__REPLICAS: {{ .replicas | quote }}
TASKLANE_STREAM__DUPLICATE_WINDOW: {{ .duplicateWindow | quote }}
TASKLANE_STREAM__MAX_BYTES: {{ .maxBytes | int64 | quote }}
TASKLANE_STREAM__MAX_MSGS: {{ .maxMsgs | int64 | quote }}
{{- end }}
{{- with .Values.config.dlq }}
TASKLANE_DLQ__MAX_AGE: {{ .maxAge | quote }}
TASKLANE_DLQ__MAX_BYTES: {{ .maxBytes | int64 | quote }}
{{- end }}
{{- with .Values.config.worker }}
TASKLANE_WORKER__CONCURRENCY: {{ .concurrency | quote }}
TASKLANE_WORKER__MAX_ATTEMPTS: {{ .maxAttempts | quote }}
TASKLANE_WORKER__RETRY_BASE_DELAY: {{ .retryBaseDelay | quote }}
TASKLANE_WORKER__RETRY_MAX_DELAY: {{ .retryMaxDelay | quote }}
TASKLANE_WORKER__ACK_WAIT: {{ .ackWait | quote }}
TASKLANE_WORKER__TASK_TIMEOUT: {{ .taskTimeout | quote }}
TASKLANE_WORKER__SHUTDOWN_GRACE: {{ .shutdownGrace | quote }}
{{- end }}
{{- with .Values.config.http }}
{{- if .signingSecretName }}
TASKLANE_HTTP__SIGNING_SECRET_FILE: {{ printf "/etc/tasklane/http/%s" .signingSecretKey | quote }}
{{- end }}
{{- with .allowedNetworks }}
TASKLANE_HTTP__ALLOWED_NETWORKS: {{ join "," . | quote }}
{{- end }}
TASKLANE_HTTP__MAX_RESPONSE_BYTES: {{ .maxResponseBytes | int64 | quote }}
TASKLANE_HTTP__BREAKER_THRESHOLD: {{ .breakerThreshold | int64 | quote }}
TASKLANE_HTTP__BREAKER_COOLDOWN: {{ .breakerCooldown | quote }}
TASKLANE_HTTP__MAX_PER_HOST: {{ .maxPerHost | int64 | quote }}
{{- end }}
{{- end }}

{{- define "tasklane.chartValueErrors" -}}
{{- $drain := include "tasklane.durationSeconds" .Values.config.worker.shutdownGrace | int }}
{{- $margin := int .Values.drainMarginSeconds }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (add $drain $margin) }}
{{ printf "terminationGracePeriodSeconds (%d) must be at least config.worker.shutdownGrace (%ds) + drainMarginSeconds (%d), or the kubelet kills workers mid-drain" (int .Values.terminationGracePeriodSeconds) $drain $margin }}
{{- end }}
{{- $a := .Values.autoscaling }}
{{- if and (eq $a.mode "keda") (gt (int $a.keda.fallbackReplicas) (int $a.maxReplicas)) }}
autoscaling.keda.fallbackReplicas must not exceed autoscaling.maxReplicas
{{- end }}
{{- end }}

{{/* The `helm test` pod goes through the gateway release, which the worker chart does not own. */}}
{{- define "tasklane.gateway" -}}
url: {{ .Values.tests.gatewayUrl | quote }}
port: {{ .Values.tests.gatewayPort }}
podLabels:
  {{- toYaml .Values.tests.gatewayPodLabels | nindent 2 }}
{{- end }}

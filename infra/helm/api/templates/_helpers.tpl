{{/* Chart name, overridable. */}}
{{- define "tasklane-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name. The release is normally called tasklane-api, so the release name
alone is used when it already contains the chart name.
*/}}
{{- define "tasklane-api.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "tasklane-api.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "tasklane-api.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "tasklane-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tasklane-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tasklane-api.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tasklane-api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: tasklane
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tasklane-api.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tasklane-api.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A digest pins the image exactly and wins over the tag. */}}
{{- define "tasklane-api.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Cross-field rules JSON schema cannot express. Every broken rule is reported
in one failure, so a bad values file is fixed in one round.
*/}}
{{/* Milliseconds of a human duration (250ms, 30s, 2m, 1h). */}}
{{- define "tasklane-api.durationMs" -}}
{{- $d := toString . }}
{{- $n := regexFind "^[0-9]+" $d | int64 }}
{{- if hasSuffix "ms" $d }}{{ $n }}
{{- else if hasSuffix "h" $d }}{{ mul $n 3600000 }}
{{- else if hasSuffix "m" $d }}{{ mul $n 60000 }}
{{- else }}{{ mul $n 1000 }}
{{- end }}
{{- end }}

{{- define "tasklane-api.validateValues" -}}
{{- $errors := list }}
{{- if and .Values.config.nats.tls.enabled (not .Values.config.nats.tls.caSecretName) }}
{{- $errors = append $errors "config.nats.tls.enabled needs config.nats.tls.caSecretName" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- $errors = append $errors "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not .Values.autoscaling.enabled) (le (int .Values.replicaCount) (int .Values.podDisruptionBudget.minAvailable)) }}
{{- $errors = append $errors "podDisruptionBudget.minAvailable must be below replicaCount, or no pod can ever be evicted" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled .Values.autoscaling.enabled (le (int .Values.autoscaling.minReplicas) (int .Values.podDisruptionBudget.minAvailable)) }}
{{- $errors = append $errors "podDisruptionBudget.minAvailable must be below autoscaling.minReplicas, or no pod can ever be evicted" }}
{{- end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds) }}
{{- $errors = append $errors "terminationGracePeriodSeconds must exceed preStopSleepSeconds, or the drain never runs" }}
{{- end }}
{{- $request := include "tasklane-api.durationMs" .Values.config.api.requestTimeout | int64 }}
{{- $publish := include "tasklane-api.durationMs" .Values.config.api.publishTimeout | int64 }}
{{- if le $request $publish }}
{{- $errors = append $errors "config.api.requestTimeout must be longer than config.api.publishTimeout, or the gateway refuses to start" }}
{{- end }}
{{- if $errors }}
{{- fail (printf "\n\ninvalid values:\n  - %s" (join "\n  - " $errors)) }}
{{- end }}
{{- end }}

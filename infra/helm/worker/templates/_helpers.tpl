{{/* Chart name, overridable. */}}
{{- define "tasklane-worker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name. The release is normally called tasklane-worker, so the release name
alone is used when it already contains the chart name.
*/}}
{{- define "tasklane-worker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "tasklane-worker.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "tasklane-worker.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "tasklane-worker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tasklane-worker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tasklane-worker.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tasklane-worker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: tasklane
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tasklane-worker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tasklane-worker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A digest pins the image exactly and wins over the tag. */}}
{{- define "tasklane-worker.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Whole seconds of a human duration (250ms, 25s, 2m, 1h); sub-second rounds up. */}}
{{- define "tasklane-worker.durationSeconds" -}}
{{- $d := toString . }}
{{- $n := regexFind "^[0-9]+" $d | int }}
{{- if hasSuffix "ms" $d }}{{ div (add $n 999) 1000 }}
{{- else if hasSuffix "h" $d }}{{ mul $n 3600 }}
{{- else if hasSuffix "m" $d }}{{ mul $n 60 }}
{{- else }}{{ $n }}
{{- end }}
{{- end }}

{{/*
Cross-field rules JSON schema cannot express. Every broken rule is reported
in one failure, so a bad values file is fixed in one round.
*/}}
{{- define "tasklane-worker.validateValues" -}}
{{- $errors := list }}
{{- $drain := include "tasklane-worker.durationSeconds" .Values.config.worker.shutdownGrace | int }}
{{- $margin := int .Values.drainMarginSeconds }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (add $drain $margin) }}
{{- $errors = append $errors (printf "terminationGracePeriodSeconds (%d) must be at least config.worker.shutdownGrace (%ds) + drainMarginSeconds (%d), or the kubelet kills workers mid-drain" (int .Values.terminationGracePeriodSeconds) $drain $margin) }}
{{- end }}
{{- if and .Values.config.nats.tls.enabled (not .Values.config.nats.tls.caSecretName) }}
{{- $errors = append $errors "config.nats.tls.enabled needs config.nats.tls.caSecretName" }}
{{- end }}
{{- $a := .Values.autoscaling }}
{{- if ne $a.mode "none" }}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) }}
{{- $errors = append $errors "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and (eq $a.mode "keda") (gt (int $a.keda.fallbackReplicas) (int $a.maxReplicas)) }}
{{- $errors = append $errors "autoscaling.keda.fallbackReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}
{{- $floor := ternary (int .Values.replicaCount) (int $a.minReplicas) (eq $a.mode "none") }}
{{- if and .Values.podDisruptionBudget.enabled (gt (int .Values.podDisruptionBudget.maxUnavailable) $floor) }}
{{- $errors = append $errors "podDisruptionBudget.maxUnavailable must not exceed the minimum replica count" }}
{{- end }}
{{- if $errors }}
{{- fail (printf "\n\ninvalid values:\n  - %s" (join "\n  - " $errors)) }}
{{- end }}
{{- end }}

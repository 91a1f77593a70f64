{{/* Chart name, overridable. */}}
{{- define "tasklane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name. A release is normally called after its chart (tasklane-api,
tasklane-worker), so the release name alone is used when it already contains
the chart name.
*/}}
{{- define "tasklane.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "tasklane.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "tasklane.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "tasklane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tasklane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tasklane.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tasklane.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ include "tasklane.component" . }}
app.kubernetes.io/part-of: tasklane
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* name, namespace and labels of an object of the release. */}}
{{- define "tasklane.metadata" -}}
name: {{ include "tasklane.fullname" . }}
namespace: {{ .Release.Namespace }}
labels:
  {{- include "tasklane.labels" . | nindent 2 }}
{{- end }}

{{/* What an autoscaler of the chart scales: its Deployment. */}}
{{- define "tasklane.scaleTargetRef" -}}
apiVersion: apps/v1
kind: Deployment
name: {{ include "tasklane.fullname" . }}
{{- end }}

{{- define "tasklane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tasklane.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A digest pins the image exactly and wins over the tag. */}}
{{- define "tasklane.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Milliseconds of a human duration (250ms, 30s, 2m, 1h). */}}
{{- define "tasklane.durationMs" -}}
{{- $d := toString . }}
{{- $n := regexFind "^[0-9]+" $d | int64 }}
{{- if hasSuffix "ms" $d }}{{ $n }}
{{- else if hasSuffix "h" $d }}{{ mul $n 3600000 }}
{{- else if hasSuffix "m" $d }}{{ mul $n 60000 }}
{{- else }}{{ mul $n 1000 }}
{{- end }}
{{- end }}

{{/* Whole seconds of a human duration; a fraction of a second rounds up. */}}
{{- define "tasklane.durationSeconds" -}}
{{- div (add (include "tasklane.durationMs" . | int64) 999) 1000 }}
{{- end }}

{{/*
The container port that serves /healthz, /readyz and /metrics: `ops` when the
chart gives service.opsPort (the gateway, whose public port then answers only
the API), else `http` (the worker, whose only port is its ops port).
*/}}
{{- define "tasklane.opsPortName" -}}
{{- if .Values.service.opsPort }}ops{{ else }}http{{ end }}
{{- end }}

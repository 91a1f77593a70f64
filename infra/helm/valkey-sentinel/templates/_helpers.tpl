{{- define "sentinel.name" -}}valkey-sentinel{{- end }}

{{- define "sentinel.fullname" -}}{{ .Release.Name }}{{- end }}

{{- define "sentinel.headless" -}}{{ include "sentinel.fullname" . }}-headless{{- end }}

{{- define "sentinel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sentinel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sentinel.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "sentinel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/component: sentinel
app.kubernetes.io/part-of: tasklane
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* name, namespace and labels of an object: (list $ "name") */}}
{{- define "sentinel.metadata" -}}
{{- $ := index . 0 -}}
name: {{ index . 1 }}
namespace: {{ $.Release.Namespace }}
labels:
  {{- include "sentinel.labels" $ | nindent 2 }}
{{- end }}

{{- define "sentinel.image" -}}
{{ printf "%s/%s:%s" .Values.image.registry .Values.image.repository .Values.image.tag }}
{{- end }}

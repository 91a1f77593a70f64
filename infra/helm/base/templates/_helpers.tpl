{{- define "base.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tasklane
{{- end }}

{{/* name, namespace and labels: (list $ "name") */}}
{{- define "base.metadata" -}}
{{- $ := index . 0 }}
name: {{ index . 1 }}
namespace: {{ $.Release.Namespace }}
labels:
  {{- include "base.labels" $ | nindent 2 }}
{{- end }}

{{/* A peer of this namespace, by its pod labels: (dict "labels" map) */}}
{{- define "base.podPeer" -}}
- podSelector:
    matchLabels:
      {{- toYaml .labels | nindent 6 }}
{{- end }}

{{/* Pods of another namespace: .namespace and .podLabels of a peers entry. */}}
{{- define "base.namespacePeer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .namespace }}
  podSelector:
    matchLabels:
      {{- toYaml .podLabels | nindent 6 }}
{{- end }}

{{- define "base.tcp" -}}
- port: {{ . }}
  protocol: TCP
{{- end }}

{{/* DNS names a NATS server answers to: the Service, and each pod of the headless Service. */}}
{{- define "base.natsDnsNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $svc := .Values.nats.service -}}
- {{ $svc | quote }}
- {{ printf "%s.%s" $svc $ns | quote }}
- {{ printf "%s.%s.svc" $svc $ns | quote }}
- {{ printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain | quote }}
{{ include "base.natsPodDnsNames" . }}
{{- end }}

{{- define "base.natsPodDnsNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $svc := .Values.nats.headlessService -}}
- {{ printf "*.%s" $svc | quote }}
- {{ printf "*.%s.%s" $svc $ns | quote }}
- {{ printf "*.%s.%s.svc" $svc $ns | quote }}
- {{ printf "*.%s.%s.svc.%s" $svc $ns .Values.clusterDomain | quote }}
{{- end }}

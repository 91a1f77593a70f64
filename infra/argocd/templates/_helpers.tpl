{{- define "gitops.project" -}}
tasklane-{{ .Values.environment }}
{{- end }}

{{/* metadata of an Application: (list $ name wave) */}}
{{- define "gitops.appMetadata" -}}
{{- $ := index . 0 }}
name: {{ printf "tasklane-%s-%s" $.Values.environment (index . 1) }}
namespace: {{ $.Values.argocdNamespace }}
labels:
  app.kubernetes.io/part-of: tasklane
  tasklane.io/environment: {{ $.Values.environment }}
annotations:
  argocd.argoproj.io/sync-wave: {{ index . 2 | quote }}
finalizers:
  - resources-finalizer.argocd.argoproj.io
{{- end }}

{{- define "gitops.syncPolicy" -}}
syncPolicy:
  {{- if .Values.automated }}
  automated:
    prune: true
    selfHeal: true
  {{- end }}
  retry:
    limit: 5
    backoff:
      duration: 10s
      factor: 2
      maxDuration: 3m
{{- end }}

{{- define "gitops.destination" -}}
destination:
  {{- toYaml .Values.destination | nindent 2 }}
{{- end }}

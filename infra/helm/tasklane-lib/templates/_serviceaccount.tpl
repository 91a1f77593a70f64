{{- define "tasklane.serviceAccount" -}}
{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "tasklane.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "tasklane.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# Neither binary talks to the Kubernetes API.
automountServiceAccountToken: false
{{- end }}
{{- end }}

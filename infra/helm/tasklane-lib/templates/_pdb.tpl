{{/* Either minAvailable (gateway) or maxUnavailable (worker), as the chart's values hold. */}}
{{- define "tasklane.podDisruptionBudget" -}}
{{- with .Values.podDisruptionBudget }}
{{- if .enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "tasklane.metadata" $ | nindent 2 }}
spec:
  {{- if hasKey . "minAvailable" }}
  minAvailable: {{ .minAvailable }}
  {{- else }}
  maxUnavailable: {{ .maxUnavailable }}
  {{- end }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "tasklane.selectorLabels" $ | nindent 6 }}
{{- end }}
{{- end }}
{{- end }}

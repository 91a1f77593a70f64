{{/* The Service in front of the http port (API, or health and metrics). */}}
{{- define "tasklane.service" -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "tasklane.metadata" . | nindent 2 }}
spec:
  type: {{ .Values.service.type }}
  selector:
    {{- include "tasklane.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
{{- end }}

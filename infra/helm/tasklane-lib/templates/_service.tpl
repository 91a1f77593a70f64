{{/* The Service in front of the http port (API, or health and metrics), and of the
ops port when the chart has one (the ServiceMonitor scrapes it). */}}
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
    {{- with .Values.service.opsPort }}
    - name: ops
      port: {{ . }}
      targetPort: ops
      protocol: TCP
    {{- end }}
{{- end }}

{{/*
Default-deny for the chart's pods with the paths they need: the Prometheus pods in on
the ops port ("tasklane.opsPortName"), and, when the chart lists
networkPolicy.ingressNamespaces, clients and the tasklane `helm test` pods in on the
http port; NATS, Valkey, its Sentinels, DNS, when spans are exported the trace
collector, and with networkPolicy.httpEgress (worker) public addresses for http
tasks out. A second
policy lets the chart's `helm test` pod reach only the gateway and DNS.
*/}}
{{- define "tasklane.networkPolicies" -}}
{{- if .Values.networkPolicy.enabled }}
{{- $np := .Values.networkPolicy }}
{{- $gateway := include "tasklane.gateway" . | fromYaml }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "tasklane.metadata" . | nindent 2 }}
spec:
  podSelector:
    matchLabels:
      {{- include "tasklane.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- if hasKey $np "ingressNamespaces" }}
    # Client traffic through the ingress controller, and the charts' own tests.
    - ports:
        - port: http
          protocol: TCP
      from:
        {{- range $np.ingressNamespaces }}
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ . }}
          podSelector:
            matchLabels:
              {{- toYaml $np.ingressPodLabels | nindent 14 }}
        {{- end }}
        # `helm test` pods of the tasklane charts (api and worker).
        - podSelector:
            matchLabels:
              app.kubernetes.io/part-of: tasklane
              app.kubernetes.io/component: smoke-test
    {{- end }}
    # Prometheus scrapes /metrics on the ops port.
    - ports:
        - port: {{ include "tasklane.opsPortName" . }}
          protocol: TCP
      from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ $np.monitoringNamespace }}
          podSelector:
            matchLabels:
              {{- toYaml $np.prometheusPodLabels | nindent 14 }}
  egress:
    - ports:
        - port: {{ $np.natsPort }}
          protocol: TCP
      to:
        - podSelector:
            matchLabels:
              {{- toYaml $np.natsPodLabels | nindent 14 }}
    - ports:
        {{- range $np.valkeyPorts }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
      to:
        - podSelector:
            matchLabels:
              {{- toYaml $np.valkeyPodLabels | nindent 14 }}
    # The Sentinels, asked for the current primary (config.valkey.sentinels).
    - ports:
        - port: {{ $np.sentinelPort }}
          protocol: TCP
      to:
        - podSelector:
            matchLabels:
              {{- toYaml $np.sentinelPodLabels | nindent 14 }}
    {{- if (.Values.config.telemetry).otlpEndpoint }}
    - ports:
        - port: {{ $np.otlpPort }}
          protocol: TCP
      to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ $np.otlpNamespace }}
          podSelector:
            matchLabels:
              {{- toYaml $np.otlpPodLabels | nindent 14 }}
    {{- end }}
    {{- with $np.httpEgress }}
    {{- if .enabled }}
    # http tasks: public addresses on the listed ports; private and cluster
    # ranges stay closed unless extraCidrs opens them.
    - ports:
        {{- range .ports }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
      to:
        - ipBlock:
            cidr: 0.0.0.0/0
            except:
              {{- toYaml .exceptV4 | nindent 14 }}
        - ipBlock:
            cidr: ::/0
            except:
              {{- toYaml .exceptV6 | nindent 14 }}
        {{- range .extraCidrs }}
        - ipBlock:
            cidr: {{ . }}
        {{- end }}
    {{- end }}
    {{- end }}
    {{- include "tasklane.dnsEgress" . | nindent 4 }}
---
# The `helm test` pod may only reach the gateway (and DNS).
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "tasklane.fullname" . }}-test
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "tasklane.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
      app.kubernetes.io/component: smoke-test
  policyTypes: [Ingress, Egress]
  egress:
    - ports:
        - port: {{ $gateway.port }}
          protocol: TCP
      to:
        - podSelector:
            matchLabels:
              {{- toYaml $gateway.podLabels | nindent 14 }}
    {{- include "tasklane.dnsEgress" . | nindent 4 }}
{{- end }}
{{- end }}

{{- define "tasklane.dnsEgress" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
{{- end }}

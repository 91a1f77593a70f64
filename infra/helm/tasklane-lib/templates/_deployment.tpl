{{/*
The Deployment of the chart's binary: one container named after the
component, configured by the chart's ConfigMap and the credentials Secret.
The replica count is left to the autoscaler whenever "tasklane.autoscaled"
says one runs; a chart with preStopSleepSeconds pauses before SIGTERM.
*/}}
{{- define "tasklane.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include "tasklane.metadata" . | nindent 2 }}
spec:
  {{- if not (include "tasklane.autoscaled" .) }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: {{ .Values.revisionHistoryLimit }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: {{ .Values.rollingUpdate.maxSurge }}
      maxUnavailable: {{ .Values.rollingUpdate.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "tasklane.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "tasklane.labels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # Roll the pods when their configuration changes.
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "tasklane.serviceAccountName" . }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      {{- with .Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ include "tasklane.component" . }}
          image: {{ include "tasklane.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ .Values.service.port }}
              protocol: TCP
            {{- with .Values.service.opsPort }}
            - name: ops
              containerPort: {{ . }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "tasklane.fullname" . }}
          env:
            - name: TASKLANE_NATS__USER
              valueFrom:
                secretKeyRef:
                  name: {{ .Values.existingSecret }}
                  key: {{ .Values.secretKeys.natsUser }}
            - name: TASKLANE_NATS__PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ .Values.existingSecret }}
                  key: {{ .Values.secretKeys.natsPassword }}
            - name: TASKLANE_VALKEY__URL
              valueFrom:
                secretKeyRef:
                  name: {{ .Values.existingSecret }}
                  key: {{ .Values.secretKeys.valkeyUrl }}
          securityContext:
            {{- toYaml .Values.securityContext | nindent 12 }}
          # /healthz answers while the process serves HTTP; /readyz only while
          # NATS and Valkey are reachable, so a dependency outage takes the pod
          # out of the Service without restarting it (liveness stays on /healthz).
          startupProbe:
            httpGet:
              path: /healthz
              port: {{ include "tasklane.opsPortName" . }}
            periodSeconds: {{ .Values.probes.startup.periodSeconds }}
            failureThreshold: {{ .Values.probes.startup.failureThreshold }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: {{ include "tasklane.opsPortName" . }}
            periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ include "tasklane.opsPortName" . }}
            periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
          {{- if hasKey .Values "preStopSleepSeconds" }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ .Values.preStopSleepSeconds }}
          {{- end }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if .Values.config.nats.tls.enabled }}
            - name: nats-ca
              mountPath: /etc/tasklane/nats-ca
              readOnly: true
            {{- end }}
            {{- if (.Values.config.valkey.tls).enabled }}
            - name: valkey-ca
              mountPath: /etc/tasklane/valkey-ca
              readOnly: true
            {{- end }}
            {{- /* The gateway's API keys / JWT material: the whole Secret as a folder,
            never subPath, so a rotated Secret reaches the running pod. */}}
            {{- if dig "auth" "secretName" "" .Values.config }}
            - name: auth
              mountPath: /etc/tasklane/auth
              readOnly: true
            {{- end }}
            {{- if dig "http" "signingSecretName" "" .Values.config }}
            - name: http-signing
              mountPath: /etc/tasklane/http
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 16Mi
        {{- if .Values.config.nats.tls.enabled }}
        - name: nats-ca
          secret:
            secretName: {{ .Values.config.nats.tls.caSecretName }}
            items:
              - key: {{ .Values.config.nats.tls.caKey }}
                path: {{ .Values.config.nats.tls.caKey }}
        {{- end }}
        {{- with .Values.config.valkey.tls }}
        {{- if .enabled }}
        - name: valkey-ca
          secret:
            secretName: {{ .caSecretName }}
            items:
              - key: {{ .caKey }}
                path: {{ .caKey }}
        {{- end }}
        {{- end }}
        {{- with dig "auth" "secretName" "" .Values.config }}
        - name: auth
          secret:
            secretName: {{ . }}
            defaultMode: 0440
        {{- end }}
        {{- with dig "http" "signingSecretName" "" .Values.config }}
        - name: http-signing
          secret:
            secretName: {{ . }}
            defaultMode: 0440
        {{- end }}
      {{- if .Values.topologySpread.enabled }}
      topologySpreadConstraints:
        {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
        - maxSkew: 1
          topologyKey: {{ . }}
          whenUnsatisfiable: {{ $.Values.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- include "tasklane.selectorLabels" $ | nindent 14 }}
        {{- end }}
      {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/*
The `helm test` hook: posts an echo task to the gateway ("tasklane.gateway")
and waits for its result, end to end through the real pipeline: the gateway
publishes, a worker runs the echo handler and writes the result, the gateway
reads it back.
*/}}
{{- define "tasklane.testPod" -}}
{{- $gateway := include "tasklane.gateway" . | fromYaml }}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "tasklane.fullname" . }}-test-task
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: {{ include "tasklane.name" . }}-test
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/component: smoke-test
    app.kubernetes.io/part-of: tasklane
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
    # A one-shot test pod that exits when done: probes have nothing to watch.
    checkov.io/skip1: CKV_K8S_8=run-to-completion test pod
    checkov.io/skip2: CKV_K8S_9=run-to-completion test pod
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: post-and-wait
      image: "{{ .Values.tests.image.repository }}:{{ .Values.tests.image.tag }}"
      imagePullPolicy: IfNotPresent
      env:
        - name: GATEWAY
          value: {{ $gateway.url | quote }}
        - name: NONCE
          value: "helm-test-{{ .Release.Revision }}-{{ randAlphaNum 8 | lower }}"
        - name: TIMEOUT
          value: "{{ .Values.tests.timeoutSeconds }}"
        {{- /* With auth.mode=required the gateway wants a token with tasks:write and
        tasks:read; it comes from a Secret, never from values. */}}
        {{- with dig "tokenSecret" "name" "" .Values.tests }}
        - name: GATEWAY_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ dig "tokenSecret" "key" "token" $.Values.tests }}
        {{- end }}
      command:
        - /bin/sh
        - -ec
        - |
          if [ -n "${GATEWAY_TOKEN:-}" ]; then set -- -H "Authorization: Bearer $GATEWAY_TOKEN"; fi
          body=$(curl -fsS "$@" -X POST "$GATEWAY/task" \
            -H 'Content-Type: application/json' \
            -d "{\"type\":\"echo\",\"payload\":{\"nonce\":\"$NONCE\"}}")
          id=$(printf '%s' "$body" | sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
          [ -n "$id" ] || { echo "no task id in response: $body"; exit 1; }
          echo "queued task $id"
          deadline=$(( $(date +%s) + TIMEOUT ))
          while [ "$(date +%s)" -lt "$deadline" ]; do
            task=$(curl -fsS "$@" "$GATEWAY/task/$id")
            case "$task" in
              *'"status":"succeeded"'*)
                case "$task" in
                  *"\"nonce\":\"$NONCE\""*) echo "task $id succeeded with the posted payload"; exit 0 ;;
                  *) echo "task $id succeeded with an unexpected result: $task"; exit 1 ;;
                esac ;;
              *'"status":"failed"'*|*'"status":"dead"'*) echo "task $id did not succeed: $task"; exit 1 ;;
            esac
            sleep 1
          done
          echo "task $id not finished after ${TIMEOUT}s: $task"
          exit 1
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        privileged: false
        capabilities:
          drop: ["ALL"]
        seccompProfile:
          type: RuntimeDefault
      resources:
        requests:
          cpu: 10m
          memory: 16Mi
        limits:
          cpu: 100m
          memory: 64Mi
{{- end }}

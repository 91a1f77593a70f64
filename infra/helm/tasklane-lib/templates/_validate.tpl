{{/*
Cross-field rules JSON schema cannot express. Every broken rule is reported
in one failure, so a bad values file is fixed in one round. The rules of both
charts are here; a chart adds its own through "tasklane.chartValueErrors".
*/}}
{{- define "tasklane.validateValues" -}}
{{- $errors := list }}
{{- if and .Values.config.nats.tls.enabled (not .Values.config.nats.tls.caSecretName) }}
{{- $errors = append $errors "config.nats.tls.enabled needs config.nats.tls.caSecretName" }}
{{- end }}
{{- if and .Values.image.requireDigest (not .Values.image.digest) }}
{{- $errors = append $errors "image.requireDigest is set: give image.digest (sha256:...), production deploys run only scanned images" }}
{{- end }}
{{- $a := .Values.autoscaling }}
{{- $autoscaled := ne (include "tasklane.autoscaled" .) "" }}
{{- if and $autoscaled (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- $errors = append $errors "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- $floor := ternary (int $a.minReplicas) (int .Values.replicaCount) $autoscaled }}
{{- if and $pdb.enabled (hasKey $pdb "minAvailable") (le $floor (int $pdb.minAvailable)) }}
{{- $errors = append $errors (printf "podDisruptionBudget.minAvailable must be below %s, or no pod can ever be evicted" (ternary "autoscaling.minReplicas" "replicaCount" $autoscaled)) }}
{{- end }}
{{- if and $pdb.enabled (hasKey $pdb "maxUnavailable") (gt (int $pdb.maxUnavailable) $floor) }}
{{- $errors = append $errors "podDisruptionBudget.maxUnavailable must not exceed the minimum replica count" }}
{{- end }}
{{- if and (hasKey .Values "preStopSleepSeconds") (le (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds)) }}
{{- $errors = append $errors "terminationGracePeriodSeconds must exceed preStopSleepSeconds, or the drain never runs" }}
{{- end }}
{{- range splitList "\n" (include "tasklane.chartValueErrors" .) }}
{{- if . }}
{{- $errors = append $errors . }}
{{- end }}
{{- end }}
{{- if $errors }}
{{- fail (printf "\n\ninvalid values:\n  - %s" (join "\n  - " $errors)) }}
{{- end }}
{{- end }}

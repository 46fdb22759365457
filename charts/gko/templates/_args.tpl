{{/*
Arguments of `gko serve`, one `--flag=value` per line (the container's command is ["gko", "serve"]).
Flags whose value is null are left out, so gko's own default applies and a gko version without
the flag still starts: the reconciler flags and --manage-certs are passed only when set.
*/}}
{{- define "gko.serveArgs" -}}
- {{ printf "--listen=%v" (include "gko.listen" (list .Values.bindAddress .Values.webhook.port)) | quote }}
- {{ printf "--probe-listen=%v" (include "gko.listen" (list .Values.bindAddress .Values.probes.port)) | quote }}
- {{ printf "--log-format=%v" (.Values.log.format) | quote }}
- {{ printf "--log=%v" (.Values.log.level) | quote }}
- {{ printf "--webhook-timeout=%vs" (int .Values.webhook.timeoutSeconds) | quote }}
{{- if eq .Values.certificates.mode "manage" }}
- --manage-certs
- {{ printf "--webhook-service=%v" (include "gko.serviceName" .) | quote }}
- {{ printf "--webhook-namespace=%v" (.Release.Namespace) | quote }}
- {{ printf "--cert-secret=%v" (include "gko.secretName" .) | quote }}
- {{ printf "--webhook-config=%v,%v" (include "gko.validatingName" .) (include "gko.mutatingName" .) | quote }}
- --cert-dir=/tmp/gko-certs
{{- else }}
- --tls-cert=/etc/gko/tls/tls.crt
- --tls-key=/etc/gko/tls/tls.key
{{- end }}
{{- with .Values.certificates.reloadInterval }}
- {{ printf "--cert-reload-interval=%v" (.) | quote }}
{{- end }}
{{- with .Values.watchNamespaces }}
- {{ printf "--namespaces=%v" (join "," .) | quote }}
{{- end }}
{{- if .Values.clusterWidePaths }}
- --cluster-wide-paths
{{- end }}
{{- with .Values.shutdownTimeout }}
- {{ printf "--shutdown-timeout=%v" (.) | quote }}
{{- end }}
{{- with .Values.reconcile }}
{{- if not (kindIs "invalid" .enabled) }}
- {{ printf "--reconcile=%v" (.enabled) | quote }}
{{- end }}
{{- if not (kindIs "invalid" .concurrency) }}
- {{ printf "--concurrency=%v" (int .concurrency) | quote }}
{{- end }}
{{- with .clusterId }}
- {{ printf "--cluster-id=%v" (.) | quote }}
{{- end }}
{{- with .apimDryRun }}
- {{ printf "--apim-dry-run=%v" (.) | quote }}
{{- end }}
{{- with .drift.interval }}
- {{ printf "--drift-interval=%v" (.) | quote }}
{{- end }}
{{- with .drift.policy }}
- {{ printf "--drift-policy=%v" (.) | quote }}
{{- end }}
{{- end }}
{{- with .Values.leaderElection }}
{{- if not (kindIs "invalid" .enabled) }}
- {{ printf "--leader-election=%v" (.enabled) | quote }}
{{- end }}
{{- with .leaseName }}
- {{ printf "--lease-name=%v" (.) | quote }}
{{- end }}
{{- with .leaseNamespace }}
- {{ printf "--lease-namespace=%v" (.) | quote }}
{{- end }}
{{- end }}
{{- if .Values.applyCrds }}
- --apply-crds
{{- end }}
{{- if or .Values.apimCa.secretName .Values.apimCa.configMapName }}
- {{ printf "--apim-ca-file=/etc/gko/apim-ca/%v" (.Values.apimCa.key) | quote }}
{{- end }}
{{- if .Values.apimInsecureSkipVerify }}
- --apim-insecure-skip-verify
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* Chart name. */}}
{{- define "gko.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless the release name contains it. */}}
{{- define "gko.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gko.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gko.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gko.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of the certificate Jobs' pods: not matched by the Deployment's, Service's or PDB's selector. */}}
{{- define "gko.certsPodLabels" -}}
app.kubernetes.io/name: {{ include "gko.name" . }}-certs
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: certificates
{{- end }}

{{- define "gko.labels" -}}
helm.sh/chart: {{ include "gko.chart" . }}
{{ include "gko.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gko.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gko.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gko.serviceName" -}}
{{- default (printf "%s-webhook" (include "gko.fullname" .)) .Values.service.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gko.secretName" -}}
{{- default (printf "%s-cert" (include "gko.serviceName" .)) .Values.certificates.secretName | trunc 253 }}
{{- end }}

{{- define "gko.validatingName" -}}
{{- printf "%s-validating" (include "gko.fullname" .) }}
{{- end }}

{{- define "gko.mutatingName" -}}
{{- printf "%s-mutating" (include "gko.fullname" .) }}
{{- end }}

{{- define "gko.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* host:port for a listen flag; IPv6 addresses get brackets. */}}
{{- define "gko.listen" -}}
{{- $host := index . 0 }}
{{- $port := index . 1 }}
{{- if contains ":" $host }}
{{- printf "[%s]:%d" $host (int $port) }}
{{- else }}
{{- printf "%s:%d" $host (int $port) }}
{{- end }}
{{- end }}

{{/* Namespace of the leader-election Lease. */}}
{{- define "gko.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.leaseNamespace }}
{{- end }}

{{/* certs-tool ensure arguments; pass (dict "ctx" $ "webhooks" true|false). */}}
{{- define "gko.certsToolArgs" -}}
{{- $ := .ctx -}}
- ensure
- {{ printf "--service=%s" (include "gko.serviceName" $) | quote }}
- {{ printf "--namespace=%s" $.Release.Namespace | quote }}
- {{ printf "--secret=%s" (include "gko.secretName" $) | quote }}
{{- if .webhooks }}
- {{ printf "--webhook-config=%s" (include "gko.validatingName" $) | quote }}
- {{ printf "--webhook-config=%s" (include "gko.mutatingName" $) | quote }}
{{- end }}
{{- range $.Values.certificates.extraSans }}
- {{ printf "--extra-san=%s" . | quote }}
{{- end }}
- {{ printf "--cluster-domain=%s" $.Values.certificates.clusterDomain | quote }}
- {{ printf "--ca-validity=%s" $.Values.certificates.caValidity | quote }}
- {{ printf "--serving-validity=%s" $.Values.certificates.servingValidity | quote }}
- {{ printf "--log-format=%s" $.Values.log.format | quote }}
{{- end }}

{{/* Pod-level settings shared by the certificate Jobs. */}}
{{- define "gko.certsJobPodSpec" -}}
{{- $ := .ctx -}}
serviceAccountName: {{ .serviceAccount }}
restartPolicy: Never
automountServiceAccountToken: true
{{- with $.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $.Values.podSecurityContext | nindent 2 }}
{{- with $.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: certs-tool
    image: {{ include "gko.image" $ }}
    imagePullPolicy: {{ $.Values.image.pullPolicy }}
    command: ["certs-tool"]
    args:
      {{- include "gko.certsToolArgs" (dict "ctx" $ "webhooks" .webhooks) | nindent 6 }}
    env:
      - name: CERTS_TOOL_LOG
        value: {{ $.Values.log.level | quote }}
    securityContext:
      {{- toYaml $.Values.securityContext | nindent 6 }}
    resources:
      {{- toYaml $.Values.certificates.job.resources | nindent 6 }}
{{- end }}

{{/* RBAC rules of certs-tool on the Secret (namespaced Role). */}}
{{- define "gko.certsSecretRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames: [{{ include "gko.secretName" . | quote }}]
  verbs: ["get", "update"]
# create cannot be limited to a name (the object does not exist yet when it is authorised).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
{{- end }}

{{/* RBAC rules of certs-tool on the two webhook configurations (ClusterRole), by name only. */}}
{{- define "gko.certsWebhookRules" -}}
- apiGroups: ["admissionregistration.k8s.io"]
  resources: ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"]
  resourceNames: [{{ include "gko.validatingName" . | quote }}, {{ include "gko.mutatingName" . | quote }}]
  verbs: ["get", "patch"]
{{- end }}

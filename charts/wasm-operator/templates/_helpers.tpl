{{- define "wasm-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "wasm-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wasm-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "wasm-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "wasm-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wasm-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wasm-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wasm-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* The rules on the workloads' namespaced resources (operator/src/api/rbac.rs, Scope::Watched):
in the ClusterRole when every namespace is watched, in a Role of the watched namespace otherwise. */ -}}
{{- define "wasm-operator.watchedRules" -}}
# The workloads to reconcile.
- apiGroups: ["wasm-operator.dev"]
  resources: ["wasmworkloads"]
  verbs: ["list", "watch"]
# Status is written with server-side apply.
- apiGroups: ["wasm-operator.dev"]
  resources: ["wasmworkloads/status"]
  verbs: ["patch"]
# The workload's Deployment: watched by label, written with server-side apply (create when it does not exist yet).
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["list", "watch", "create", "patch"]
# The workload's Service: applied when enabled (create when it does not exist yet), deleted when disabled.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["list", "watch", "create", "patch", "delete"]
# The workload's pods (label-selected): cold starts, failures, image size.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# FailedCreatePodSandBox Events (field-selected) of Wasm pods.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list", "watch"]
# Events about workloads.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
# Memory working set of the workload's pods (when metrics-server is installed).
- apiGroups: ["metrics.k8s.io"]
  resources: ["pods"]
  verbs: ["list"]
{{- end -}}

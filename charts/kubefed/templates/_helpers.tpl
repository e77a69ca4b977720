{{/*
Names and labels of every object. Templates take names and labels only from here, so a name used in two
places (a Service and the webhook flag naming it, a Secret and the Role granting it) cannot drift.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "kubefed.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base name: fullnameOverride, else the release name when it contains the chart name, else
<release>-<chart>. Truncated so that "<base>-controller-metrics" stays within 63 characters.
*/}}
{{- define "kubefed.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubefed.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "kubefed.labels" -}}
helm.sh/chart: {{ include "kubefed.chart" . }}
app.kubernetes.io/name: {{ include "kubefed.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubefed
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: (dict "ctx" $ "component" "webhook"). Never change them: selectors are immutable. */}}
{{- define "kubefed.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubefed.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of one component's objects: (dict "ctx" $ "component" "webhook"). */}}
{{- define "kubefed.componentLabels" -}}
{{ include "kubefed.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Webhook: Deployment, Service, ServiceAccount, webhook configurations (`--service-name`, `--webhook-config-name`). */}}
{{- define "kubefed.webhook.fullname" -}}
{{- printf "%s-webhook" (include "kubefed.fullname" .) }}
{{- end }}

{{/* Controller: Deployment, ServiceAccount. */}}
{{- define "kubefed.controller.fullname" -}}
{{- printf "%s-controller" (include "kubefed.fullname" .) }}
{{- end }}

{{/* Controller metrics Service. */}}
{{- define "kubefed.controller.metricsName" -}}
{{- printf "%s-controller-metrics" (include "kubefed.fullname" .) }}
{{- end }}

{{/* The Secret the webhook serves from (self-managed: it writes it; certManager: cert-manager writes it; existingSecret: yours). */}}
{{- define "kubefed.webhook.tlsSecretName" -}}
{{- $tls := .Values.webhook.tls }}
{{- if eq $tls.mode "existingSecret" }}
{{- required "webhook.tls.existingSecret.name is required when webhook.tls.mode is existingSecret: name a kubernetes.io/tls Secret in the release namespace holding tls.crt and tls.key" $tls.existingSecret.name }}
{{- else if eq $tls.mode "selfManaged" }}
{{- default (printf "%s-tls" (include "kubefed.webhook.fullname" .)) $tls.selfManaged.secretName }}
{{- else }}
{{- printf "%s-tls" (include "kubefed.webhook.fullname" .) }}
{{- end }}
{{- end }}

{{/* cert-manager objects (certManager mode). */}}
{{- define "kubefed.webhook.certificateName" -}}
{{- include "kubefed.webhook.fullname" . }}
{{- end }}
{{- define "kubefed.webhook.selfSignedIssuerName" -}}
{{- printf "%s-selfsigned" (include "kubefed.webhook.fullname" .) }}
{{- end }}
{{- define "kubefed.webhook.caName" -}}
{{- printf "%s-ca" (include "kubefed.webhook.fullname" .) }}
{{- end }}

{{/* The image reference: repository, then @digest or :tag (default appVersion). */}}
{{- define "kubefed.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Default podAntiAffinity: prefer one pod of the component per node. */}}
{{- define "kubefed.defaultAffinity" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "kubefed.selectorLabels" . | nindent 12 }}
{{- end }}

{{/* Default topology spread: over zones, best effort (nodes without the zone label do not block scheduling). */}}
{{- define "kubefed.defaultTopologySpread" -}}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "kubefed.selectorLabels" . | nindent 6 }}
{{- end }}

{{/*
The webhook rules: CREATE and UPDATE only. Never DELETE: a delete must work while the webhook is down (and the
webhook allows every delete anyway). (dict "part" "federated"): every federated type — `resources: ["*"]`
because they are user-extensible (`kubectl fed enable`); "*" does not match subresources, so status writes
never reach the webhook. (dict "part" "control" "scope" S): kubefed's own kinds.
*/}}
{{- define "kubefed.webhook.rules" -}}
{{- if eq .part "federated" }}
- apiGroups: ["types.kubefed.io"]
  apiVersions: ["*"]
  operations: ["CREATE", "UPDATE"]
  resources: ["*"]
  scope: "*"
{{- else }}
- apiGroups: ["core.kubefed.io"]
  apiVersions: ["*"]
  operations: ["CREATE", "UPDATE"]
  resources: ["kubefedclusters", "federatedtypeconfigs", "kubefedconfigs"]
  scope: {{ .scope | quote }}
- apiGroups: ["scheduling.kubefed.io"]
  apiVersions: ["*"]
  operations: ["CREATE", "UPDATE"]
  resources: ["replicaschedulingpreferences"]
  scope: {{ .scope | quote }}
- apiGroups: ["policy.kubefed.io"]
  apiVersions: ["*"]
  operations: ["CREATE", "UPDATE"]
  resources: ["federationpolicies"]
  scope: {{ .scope | quote }}
{{- end }}
{{- end }}

{{/*
The webhook entries of one configuration: (dict "ctx" $ "verb" "validate"), each with a unique name.
- <verb>.kubefed.io: federated objects everywhere but webhook.excludedNamespaces — also in the release
  namespace, else objects placed there would propagate unchecked.
- <verb>-control.kubefed.io: kubefed's own kinds outside the release namespace, failurePolicy from values.
- <verb>-system.kubefed.io: kubefed's own kinds in the release namespace, failurePolicy Ignore: the chart
  creates FederatedTypeConfigs and the KubeFedConfig there before any webhook pod is ready, so Fail would
  block the install; KubeFedClusters are still checked whenever the webhook is up. Namespaced only, so a
  cluster-scoped kind (FederationPolicy) is not sent twice.
*/}}
{{- define "kubefed.webhook.entries" -}}
{{- $ctx := .ctx -}}
{{- $w := $ctx.Values.webhook -}}
{{- $ns := $ctx.Release.Namespace -}}
{{- $excluded := $w.excludedNamespaces | default list -}}
{{- $common := dict "ctx" $ctx "path" (printf "/%s" .verb) -}}
- name: {{ printf "%s.kubefed.io" .verb }}
  {{- include "kubefed.webhook.common" (merge (dict "part" "federated" "scope" "*" "failurePolicy" $w.failurePolicy "excluded" $excluded) $common) | nindent 2 }}
- name: {{ printf "%s-control.kubefed.io" .verb }}
  {{- include "kubefed.webhook.common" (merge (dict "part" "control" "scope" "*" "failurePolicy" $w.failurePolicy "excluded" (prepend $excluded $ns | uniq)) $common) | nindent 2 }}
{{- if not (has $ns $excluded) }}
- name: {{ printf "%s-system.kubefed.io" .verb }}
  {{- include "kubefed.webhook.common" (merge (dict "part" "control" "scope" "Namespaced" "failurePolicy" "Ignore" "only" $ns) $common) | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Everything one webhook entry holds but its name: (dict "ctx" $ "path" "/validate" "part" … "scope" …
"failurePolicy" … and "excluded" (namespaces to skip) or "only" (the one namespace to cover)).
*/}}
{{- define "kubefed.webhook.common" -}}
{{- $ctx := .ctx -}}
admissionReviewVersions: ["v1"]
clientConfig:
  service:
    name: {{ include "kubefed.webhook.fullname" $ctx }}
    namespace: {{ $ctx.Release.Namespace }}
    path: {{ .path }}
    port: 443
  {{- if eq $ctx.Values.webhook.tls.mode "existingSecret" }}
  caBundle: {{ required "webhook.tls.existingSecret.caBundle is required when webhook.tls.mode is existingSecret: set it to the base64 PEM CA that signed the Secret's tls.crt" $ctx.Values.webhook.tls.existingSecret.caBundle }}
  {{- end }}
  {{- /*
  No caBundle in selfManaged mode: the webhook writes it. `helm upgrade` keeps it because Helm patches with a
  three-way merge of (previous manifest, new manifest, live object) and `webhooks` merge by `name`: a field the
  chart never set is in neither manifest, so no patch ever touches it. In certManager mode cert-manager's
  cainjector fills it from the annotation.
  */}}
rules:
  {{- include "kubefed.webhook.rules" . | trim | nindent 2 }}
failurePolicy: {{ .failurePolicy }}
matchPolicy: Equivalent
{{- /*
NoneOnDryRun, not None: for a FederationPolicy with `enforcement: Audit` the webhook records violations in
the policy's status (a side effect), but never for a dry-run request.
*/}}
sideEffects: NoneOnDryRun
timeoutSeconds: {{ $ctx.Values.webhook.timeoutSeconds }}
{{- if .only }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: In
      values: [{{ .only | quote }}]
{{- else if .excluded }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- toYaml .excluded | nindent 8 }}
{{- else }}
{{- /* NotIn needs at least one value: no exclusions is the empty selector (every namespace). */}}
namespaceSelector: {}
{{- end }}
{{- /*
matchConditions run in the API server, before the call. They skip the calls the webhook would allow
without looking (admission/mod.rs): an UPDATE that changes neither `spec` nor `metadata.labels`
(finalizers, annotations) and any UPDATE of an object being deleted. So removing a finalizer and finishing
a delete work even while every webhook pod is down. Labels are not skipped: FederationPolicies select
objects by them. Written defensively: `has()` before reading, and CEL's `||` is true when either side is
true even if the other errs (oldObject is null on CREATE); a field absent on both sides counts as unchanged.
*/}}
{{- if eq .path "/mutate" }}
{{- /* Defaults (placement from policy, KubeFedConfig defaults) do not depend on other webhooks' changes. */}}
reinvocationPolicy: Never
{{- end }}
matchConditions:
  - name: create-or-spec-or-labels-changed
    expression: >-
      request.operation != 'UPDATE' ||
      has(object.spec) != has(oldObject.spec) ||
      (has(object.spec) && object.spec != oldObject.spec) ||
      has(object.metadata.labels) != has(oldObject.metadata.labels) ||
      (has(object.metadata.labels) && object.metadata.labels != oldObject.metadata.labels)
  - name: not-being-deleted
    expression: >-
      request.operation != 'UPDATE' ||
      !has(object.metadata.deletionTimestamp)
{{- end }}

{{/* Annotations of the webhook configurations (certManager: where cainjector takes the CA from). */}}
{{- define "kubefed.webhook.configAnnotations" -}}
{{- if eq .Values.webhook.tls.mode "certManager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "kubefed.webhook.certificateName" .) }}
{{- end }}
{{- end }}

{{/* The controller's leader Lease (--leader-elect-lease, and the Role that lets it write only that Lease). KubeFed's name, kept for migrations. */}}
{{- define "kubefed.controller.leaseName" -}}
kubefed-controller-manager
{{- end }}

{{/* The ClusterRoles handed out to users. */}}
{{- define "kubefed.editRoleName" -}}
{{- printf "%s-edit" (include "kubefed.fullname" .) }}
{{- end }}
{{- define "kubefed.viewRoleName" -}}
{{- printf "%s-view" (include "kubefed.fullname" .) }}
{{- end }}
{{- define "kubefed.propagateAllRoleName" -}}
{{- printf "%s-propagate-all" (include "kubefed.fullname" .) }}
{{- end }}

{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "order-system.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* `<release>-<chart>` (or the release alone when it already contains the chart name), or
fullnameOverride; untruncated. Only the naming helpers below read it. */}}
{{- define "order-system.baseName" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name }}
{{- end }}
{{- end }}
{{- end }}

{{/*
`<base>-<suffix>` (or `<base>` when suffix is empty) in at most `limit` characters: dict "base" … "suffix" … "limit" ….
A name that fits is kept as it is. A longer one keeps its suffix whole and cuts the base, followed by
8 hex characters of the SHA-256 of the whole name: `<cut base>-<hash>-<suffix>`. So distinct long
names stay distinct, the suffix tells the components apart, and the same input always gives the
same name (no rename on upgrade).
*/}}
{{- define "order-system.fitName" -}}
{{- $full := ternary (printf "%s-%s" .base .suffix) .base (ne .suffix "") }}
{{- if le (len $full) (int .limit) }}
{{- $full }}
{{- else }}
{{- $tail := printf "-%s" (sha256sum $full | trunc 8) }}
{{- if .suffix }}
{{- $tail = printf "%s-%s" $tail .suffix }}
{{- end }}
{{- printf "%s%s" (.base | trunc (sub (int .limit) (len $tail) | int) | trimSuffix "-") $tail }}
{{- end }}
{{- end }}

{{/* The prefix of every resource name, a DNS label (at most 63 characters); the ServiceAccount's,
Ingress' and HTTPRoute's name. */}}
{{- define "order-system.fullname" -}}
{{- include "order-system.fitName" (dict "base" (include "order-system.baseName" .) "suffix" "" "limit" 63) }}
{{- end }}

{{/* `<chart>-<version>` for the helm.sh/chart label. */}}
{{- define "order-system.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource: the pods' labels, and which chart and app version made it. */}}
{{- define "order-system.labels" -}}
helm.sh/chart: {{ include "order-system.chart" . }}
{{ include "order-system.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{ include "order-system.stableLabels" . }}
{{- end }}

{{/* Labels that stay the same from release to release, beyond the selector labels. */}}
{{- define "order-system.stableLabels" -}}
app.kubernetes.io/part-of: order-system
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the chart's pods; never the version, so upgrades keep their selectors. */}}
{{- define "order-system.selectorLabels" -}}
app.kubernetes.io/name: {{ include "order-system.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels and selector labels of one component: dict "root" $ "component" "redis". */}}
{{- define "order-system.componentLabels" -}}
{{ include "order-system.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "order-system.componentSelectorLabels" -}}
{{ include "order-system.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of one component's pods (and a CronJob's Jobs): dict "root" $ "component" "redis". Only
what identifies the workload, never the chart or app version: a pod template that changes with
every release would restart Redis and roll every app on each upgrade, however little changed. */}}
{{- define "order-system.podLabels" -}}
{{ include "order-system.componentSelectorLabels" . }}
{{ include "order-system.stableLabels" .root }}
{{- end }}

{{/*
Name of one component's resources: dict "root" $ "component" "redis" (a fulfilment shard: "fulfilment-processor-<k>"). Every object of a component
carries this one name, so it fits the tightest kind among them:
- 52: the Redis StatefulSet (its controller-revision-hash label is `<name>-<10-character hash>`, at
  most 63), the reconciler CronJob (Kubernetes' limit: Job names add 11 characters), and SpinApps
  (spin-operator labels the pods `core.spinoperator.dev/app.<name>.status`, whose name part is at
  most 63, and names a Deployment, a Service and the container after the SpinApp);
- 63 for the rest: Services are DNS-1035 labels, and a pod's hostname is its name up to 63.
*/}}
{{- define "order-system.componentName" -}}
{{- $spinApps := list "order-processor" "fulfilment-processor" }}
{{- $limit := 63 }}
{{- $app := regexReplaceAll "-[0-9]+$" .component "" }}
{{- if or (has .component (list "redis" "reconciler")) (and (has $app $spinApps) (eq .root.Values.mode "spinOperator")) }}
{{- $limit = 52 }}
{{- end }}
{{- include "order-system.fitName" (dict "base" (include "order-system.baseName" .root) "suffix" .component "limit" $limit) }}
{{- end }}

{{- define "order-system.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "order-system.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference; the digest wins over the tag: dict "registry" … "repository" … "tag" … "digest" …. */}}
{{- define "order-system.imageRef" -}}
{{- if .digest }}
{{- printf "%s/%s@%s" .registry .repository .digest }}
{{- else }}
{{- printf "%s/%s:%s" .registry .repository .tag }}
{{- end }}
{{- end }}

{{/* The image of a Spin app: dict "root" $ "app" .Values.orderProcessor. The tag defaults to the appVersion. */}}
{{- define "order-system.appImage" -}}
{{- $root := .root }}
{{- include "order-system.imageRef" (dict
  "registry" $root.Values.image.registry
  "repository" (printf "%s/%s" $root.Values.image.namespace .app.image.repository)
  "tag" (default $root.Chart.AppVersion .app.image.tag)
  "digest" .app.image.digest) }}
{{- end }}

{{/* The Secret and key holding the Redis password; empty name when Redis needs none. */}}
{{- define "order-system.redis.secretName" -}}
{{- if .Values.redis.enabled }}
{{- default (include "order-system.componentName" (dict "root" . "component" "redis")) .Values.redis.auth.existingSecret }}
{{- else }}
{{- .Values.redis.external.existingSecret }}
{{- end }}
{{- end }}

{{- define "order-system.redis.secretKey" -}}
{{- if .Values.redis.enabled }}
{{- .Values.redis.auth.existingSecretPasswordKey }}
{{- else }}
{{- .Values.redis.external.existingSecretPasswordKey }}
{{- end }}
{{- end }}

{{/* Where the apps and the reconciler reach Redis: the chart's Service, or the external host. */}}
{{- define "order-system.redis.host" -}}
{{- ternary (include "order-system.componentName" (dict "root" . "component" "redis")) .Values.redis.external.host .Values.redis.enabled }}
{{- end }}

{{- define "order-system.redis.port" -}}
{{- ternary .Values.redis.service.port .Values.redis.external.port .Values.redis.enabled | toString }}
{{- end }}

{{/* "true" when Redis is reached over TLS (only an external Redis can be). */}}
{{- define "order-system.redis.tls" -}}
{{- and (not .Values.redis.enabled) .Values.redis.external.tls }}
{{- end }}

{{/* The Redis roles: values key (under redis.users, redis.external.users) → role in files/redis-acl.conf.
Called with the root context or a dict holding it as "root". The metrics role only with metrics.enabled,
so a release without metrics renders exactly as before it existed. */}}
{{- define "order-system.redis.roles" -}}
{{- $root := . }}
{{- if hasKey . "root" }}
{{- $root = .root }}
{{- end }}
orderProcessor: order-processor
fulfilmentProcessor: fulfilment-processor
reconciler: reconciler
helmTest: helm-test
{{- if include "order-system.metrics.enabled" $root }}
metrics: metrics
{{- end }}
{{- end }}

{{/* "true" when the redis_exporter sidecar runs (metrics.enabled; absent in older releases' values), else empty. */}}
{{- define "order-system.metrics.enabled" -}}
{{- if dig "metrics" "enabled" false .Values.AsMap }}true{{ end }}
{{- end }}

{{/* files/metrics.lua with its placeholders replaced (literally: they sit in Lua long strings). */}}
{{- define "order-system.metrics.script" -}}
{{- .Files.Get "files/metrics.lua" | replace "{prefix}" .Values.config.keyPrefix | replace "{channel}" .Values.config.orderChannel | replace "{shards}" (.Values.fulfilmentProcessor.shards | int | toString) }}
{{- end }}

{{/* The generated Secret of the Redis users' passwords (the chart's Redis), one key per role. */}}
{{- define "order-system.redis.usersSecretName" -}}
{{- include "order-system.componentName" (dict "root" . "component" "redis-users") }}
{{- end }}

{{/*
How one role reaches Redis, as YAML {user, secretName, secretKey}: dict "root" $ "role" "orderProcessor".
The chart's Redis: the role's ACL user (redis.users.<role>), its password from its existingSecret or
the generated Secret. An external Redis: the role's user when redis.external.users.<role>.name is
set, else Redis' default user (user "") with redis.external.existingSecret's password (secretName ""
when it needs none). Values absent in an older release's values (`helm upgrade --reuse-values`)
take their defaults here.
*/}}
{{- define "order-system.redis.credentials" -}}
{{- $redis := .root.Values.redis }}
{{- $roleName := get (include "order-system.redis.roles" . | fromYaml) .role }}
{{- if $redis.enabled }}
{{- $user := dig "users" .role dict $redis }}
{{- $secret := dig "existingSecret" "" $user }}
user: {{ dig "name" $roleName $user | quote }}
secretName: {{ default (include "order-system.redis.usersSecretName" .root) $secret | quote }}
secretKey: {{ ternary (dig "existingSecretPasswordKey" "redis-password" $user) $roleName (ne $secret "") | quote }}
{{- else }}
{{- $user := dig "external" "users" .role dict $redis }}
{{- if dig "name" "" $user }}
user: {{ $user.name | quote }}
secretName: {{ dig "existingSecret" "" $user | quote }}
secretKey: {{ dig "existingSecretPasswordKey" "redis-password" $user | quote }}
{{- else }}
user: ""
secretName: {{ $redis.external.existingSecret | quote }}
secretKey: {{ $redis.external.existingSecretPasswordKey | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* A glob pattern's special characters escaped, as an ACL key or channel pattern needs them. */}}
{{- define "order-system.redis.globEscape" -}}
{{- regexReplaceAll "([*?\\[\\]\\\\])" . "\\${1}" }}
{{- end }}

{{/* One role's ACL rules from files/redis-acl.conf, placeholders replaced: dict "root" $ "role" "reconciler" (the role's name in the file). */}}
{{- define "order-system.redis.aclRules" -}}
{{- $rules := list }}
{{- range splitList "\n" (.root.Files.Get "files/redis-acl.conf") }}
{{- $line := trim . }}
{{- if and $line (not (hasPrefix "#" $line)) }}
{{- $words := regexSplit "\\s+" $line 2 }}
{{- if eq (first $words) $.role }}
{{- $rules = append $rules (last $words) }}
{{- end }}
{{- end }}
{{- end }}
{{- if not $rules }}
{{- fail (printf "files/redis-acl.conf has no rules for the role %s" .role) }}
{{- end }}
{{- join " " $rules | replace "{prefix}" (include "order-system.redis.globEscape" .root.Values.config.keyPrefix) | replace "{channel}" (include "order-system.redis.globEscape" .root.Values.config.orderChannel) }}
{{- end }}

{{/* redis-cli's connection arguments (YAML list) for the reconciler, the test pod and the hook: host,
port, TLS (with reconciler.tlsCaSecret's CA at /etc/redis-ca), and the role's user: dict "root" $ "role" …. */}}
{{- define "order-system.redis.cliArgs" -}}
{{- $root := .root }}
- -h
- {{ include "order-system.redis.host" $root | quote }}
- -p
- {{ include "order-system.redis.port" $root | quote }}
{{- if eq (include "order-system.redis.tls" $root) "true" }}
- --tls
{{- if $root.Values.reconciler.tlsCaSecret }}
- --cacert
- /etc/redis-ca/ca.crt
{{- end }}
{{- end }}
{{- with (include "order-system.redis.credentials" . | fromYaml).user }}
- --user
- {{ . | quote }}
{{- end }}
- --no-auth-warning
{{- end }}

{{/* A retention (`7d`, `12h`, `30m`, `45s`, seconds) in seconds; 0 when it is none of those. */}}
{{- define "order-system.retentionSeconds" -}}
{{- $text := toString . }}
{{- if regexMatch "^[0-9]{1,12}[dhms]?$" $text }}
{{- $units := dict "d" 86400 "h" 3600 "m" 60 "s" 1 }}
{{- mul (atoi (regexFind "^[0-9]+" $text)) (get $units (regexFind "[dhms]$" $text | default "s")) }}
{{- else }}
{{- 0 }}
{{- end }}
{{- end }}

{{/* orders.retention, as written (default 7d when an older release's values lack it). */}}
{{- define "order-system.retention" -}}
{{- dig "orders" "retention" "7d" .Values.AsMap | toString }}
{{- end }}

{{/* The Spin variables an app reads, as name/value(From) pairs; the password only through the Secret.
Called with the app's dict ("root", "key"): the order-processor also reads the fulfilment placement.
Each app connects as its role's Redis user (redis_user, empty for the default user). */}}
{{- define "order-system.spinVariables" -}}
{{- $root := .root }}
{{- $credentials := include "order-system.redis.credentials" (dict "root" $root "role" .key) | fromYaml }}
- name: redis_scheme
  value: {{ ternary "rediss" "redis" (eq (include "order-system.redis.tls" $root) "true") | quote }}
- name: redis_host
  value: {{ include "order-system.redis.host" $root | quote }}
- name: redis_port
  value: {{ include "order-system.redis.port" $root | quote }}
- name: redis_user
  value: {{ $credentials.user | quote }}
{{- with $credentials.secretName }}
- name: redis_password
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $credentials.secretKey }}
{{- end }}
- name: order_channel
  value: {{ $root.Values.config.orderChannel | quote }}
- name: key_prefix
  value: {{ $root.Values.config.keyPrefix | quote }}
- name: order_shards
  value: {{ $root.Values.fulfilmentProcessor.shards | int | toString | quote }}
- name: order_retention
  value: {{ include "order-system.retention" $root | quote }}
{{- if eq .key "orderProcessor" }}
- name: fulfilment_placement
  value: {{ $root.Values.fulfilment.placement | quote }}
{{- end }}
{{- end }}

{{/* A list of such variables as container env, the way the shim reads them (SPIN_VARIABLE_<NAME>). */}}
{{- define "order-system.spinEnv" -}}
{{- range . }}
- name: SPIN_VARIABLE_{{ .name | upper }}
  {{- if hasKey . "valueFrom" }}
  valueFrom:
    {{- toYaml .valueFrom | nindent 4 }}
  {{- else }}
  value: {{ .value | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Every problem with the values at once, as one failure. */}}
{{- define "order-system.validateValues" -}}
{{- $problems := list }}
{{- range $key := list "orderProcessor" }}
{{- $app := index $.Values $key }}
{{- if and $app.autoscaling.enabled (gt (int $app.autoscaling.minReplicas) (int $app.autoscaling.maxReplicas)) }}
{{- $problems = append $problems (printf "%s.autoscaling: minReplicas (%d) is above maxReplicas (%d)" $key (int $app.autoscaling.minReplicas) (int $app.autoscaling.maxReplicas)) }}
{{- end }}
{{- end }}
{{- if and (eq .Values.mode "spinOperator") (not .Values.spinOperator.executor) }}
{{- $problems = append $problems "spinOperator.executor: spinOperator mode needs the name of a SpinAppExecutor (e.g. containerd-shim-spin)" }}
{{- end }}
{{- if and (eq .Values.mode "spinOperator") (ne (int .Values.orderProcessor.service.port) 80) }}
{{- $problems = append $problems "orderProcessor.service.port: spin-operator's Service listens on 80; leave the port at 80 in spinOperator mode" }}
{{- end }}
{{- /* spin-operator sets OTEL_* only from the SpinAppExecutor's deploymentConfig.otel (SpinApp has no env
field, its variables all become SPIN_VARIABLE_*), and a chart-made executor cannot be installed with the
SpinApps: Helm applies them before it (unknown kinds go in alphabetical order) and spin-operator's webhook
refuses a SpinApp whose executor does not exist (spin-operator 943f5b17). */}}
{{- if and (eq .Values.mode "spinOperator") .Values.observability.otlp.endpoint }}
{{- $problems = append $problems (printf "observability.otlp.endpoint: spin-operator takes OpenTelemetry settings only from the SpinAppExecutor, not from a SpinApp; set spec.deploymentConfig.otel.exporter_otlp_endpoint on SpinAppExecutor %q (spinOperator.executor) and leave observability.otlp.endpoint empty in spinOperator mode (README: Observability)" .Values.spinOperator.executor) }}
{{- end }}
{{- if and .Values.redis.enabled .Values.redis.external.host }}
{{- $problems = append $problems "redis.external.host: set only when redis.enabled is false (the chart would ignore the external Redis)" }}
{{- end }}
{{- if and (not .Values.redis.enabled) (not .Values.redis.external.host) }}
{{- $problems = append $problems "redis.external.host: redis.enabled is false, so the host of an external Redis is required" }}
{{- end }}
{{- if and (or .Values.redis.enabled .Values.reconciler.enabled) (not .Values.redis.image.tag) (not .Values.redis.image.digest) }}
{{- $problems = append $problems "redis.image: set a tag or a digest (Redis and the reconciler run it)" }}
{{- end }}
{{- /* An external Redis has no pod for the sidecar; a Deployment reaching it over the network would
need its TLS, CA and users besides, which the chart leaves to the operator (README: Metrics). */}}
{{- if and (include "order-system.metrics.enabled" .) (not .Values.redis.enabled) }}
{{- $problems = append $problems "metrics.enabled: the chart's redis_exporter runs as a sidecar of its own Redis (redis.enabled); for an external Redis, run redis_exporter next to it with files/metrics.lua and the `metrics` user of files/redis-acl.conf (README: Metrics), and leave metrics.enabled false" }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- $problems = append $problems "httpRoute.parentRefs: an HTTPRoute needs at least one Gateway to attach to" }}
{{- end }}
{{- if and (not .Values.runtimeClass.create) (or .Values.runtimeClass.nodeSelector .Values.runtimeClass.tolerations) }}
{{- $problems = append $problems "runtimeClass.nodeSelector/tolerations: only used when the chart creates the RuntimeClass (runtimeClass.create)" }}
{{- end }}
{{- if and .Values.reconciler.tlsCaSecret (not (eq (include "order-system.redis.tls" .) "true")) }}
{{- $problems = append $problems "reconciler.tlsCaSecret: only used with an external Redis over TLS (redis.external.tls)" }}
{{- end }}
{{- if and (not .Values.fullnameOverride) (not (regexMatch "^[a-z][-a-z0-9]*$" .Release.Name)) }}
{{- $problems = append $problems (printf "release name %q: the chart's Services are named after it and must be DNS-1035 labels (a-z, 0-9 and '-', starting with a letter); set fullnameOverride, or install under such a name" .Release.Name) }}
{{- end }}
{{- $retention := include "order-system.retention" . }}
{{- $retentionSeconds := include "order-system.retentionSeconds" $retention | int64 }}
{{- if or (lt $retentionSeconds 1) (gt $retentionSeconds 315360000) }}
{{- $problems = append $problems (printf "orders.retention: must be a duration such as `7d`, `12h`, `30m`, `45s` or a number of seconds (from 1 s to 3650d), not `%s`" $retention) }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- if and (not (dig "maxmemory" "size" "" .Values.redis)) (not (dig "resources" "limits" "memory" "" .Values.redis)) }}
{{- $problems = append $problems "redis.resources.limits.memory: Redis has no memory limit, so the chart cannot size its maxmemory (redis.maxmemory.percentOfLimit of the limit); set a memory limit, or give maxmemory itself in redis.maxmemory.size" }}
{{- end }}
{{- /* The ACL file (files/redis-acl.conf) splits rules at spaces and reads quotes. */}}
{{- range $key := list "keyPrefix" "orderChannel" }}
{{- if regexMatch "[\\s\"']" (index $.Values.config $key) }}
{{- $problems = append $problems (printf "config.%s: %q has a space or a quote, which the chart's Redis cannot put in its ACL users' key and channel patterns" $key (index $.Values.config $key)) }}
{{- end }}
{{- end }}
{{- else }}
{{- range $key, $role := include "order-system.redis.roles" . | fromYaml }}
{{- $user := dig "external" "users" $key dict $.Values.redis }}
{{- if and (dig "name" "" $user) (not (dig "existingSecret" "" $user)) }}
{{- $problems = append $problems (printf "redis.external.users.%s: the user %q needs its password: set existingSecret (and existingSecretPasswordKey)" $key $user.name) }}
{{- end }}
{{- if and (not (dig "name" "" $user)) (dig "existingSecret" "" $user) }}
{{- $problems = append $problems (printf "redis.external.users.%s: existingSecret is set but name is empty; give the Redis user's name (or leave both empty for the default user)" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $problems }}
{{- fail (printf "\n\nVALUES VALIDATION:\n  - %s\n" (join "\n  - " $problems)) }}
{{- end }}
{{- end }}

{{/* The Service in front of order-processor: the chart's in runtimeClass mode, spin-operator's (same name, port 80) otherwise. */}}
{{- define "order-system.orderProcessor.serviceName" -}}
{{- include "order-system.componentName" (dict "root" . "component" "order-processor") }}
{{- end }}

{{- define "order-system.orderProcessor.servicePort" -}}
{{- ternary .Values.orderProcessor.service.port 80 (eq .Values.mode "runtimeClass") }}
{{- end }}

{{/* files/prometheus-rules.yaml with its placeholders filled (its header lists them), as YAML. */}}
{{- define "order-system.metrics.rules" -}}
{{- $rule := .Values.metrics.prometheusRule }}
{{- $fill := dict
  "selector" (printf "job=%q,namespace=%q" (include "order-system.componentName" (dict "root" . "component" "metrics")) .Release.Namespace)
  "namespace" .Release.Namespace
  "reconcilerCronJob" (include "order-system.componentName" (dict "root" . "component" "reconciler"))
  "runbookBaseUrl" $rule.runbookBaseUrl }}
{{- $text := .Files.Get "files/prometheus-rules.yaml" }}
{{- range $name, $value := merge $fill $rule.thresholds }}
{{- $text = replace (printf "${%s}" $name) (toString $value) $text }}
{{- end }}
{{- with regexFind "\\$\\{[A-Za-z]+\\}" $text }}
{{- fail (printf "files/prometheus-rules.yaml: no value for the placeholder %s (metrics.prometheusRule.thresholds)" .) }}
{{- end }}
{{- $text }}
{{- end }}

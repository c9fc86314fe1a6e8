{{/*
Resources of one Spin app, shared by order-processor and fulfilment-processor.
Called with: dict "root" $ "key" "orderProcessor" "component" "order-processor" "http" true, and for
one fulfilment shard also "shard" k (0..N-1, N = fulfilmentProcessor.shards).
*/}}

{{/* "true" when this is one shard of several: its objects are named `<component>-<k>` and its pods labelled with the shard. */}}
{{- define "order-system.spinApp.sharded" -}}
{{- and (hasKey . "shard") (gt (int .root.Values.fulfilmentProcessor.shards) 1) }}
{{- end }}

{{/* The dict componentName names this app's (or shard's) objects by. */}}
{{- define "order-system.spinApp.nameComponent" -}}
{{- $name := .component }}
{{- if eq (include "order-system.spinApp.sharded" .) "true" }}
{{- $name = printf "%s-%d" .component (int .shard) }}
{{- end }}
{{- include "order-system.componentName" (dict "root" .root "component" $name) }}
{{- end }}

{{/* Selector labels: the component's, plus the shard's, so each shard's Deployment and PDB own only its pods (NetworkPolicies select the component: all shards). */}}
{{- define "order-system.spinApp.selectorLabels" -}}
{{- include "order-system.componentSelectorLabels" (dict "root" .root "component" .component) }}
{{- if eq (include "order-system.spinApp.sharded" .) "true" }}
order-system/shard: {{ .shard | toString | quote }}
{{- end }}
{{- end }}

{{/* The Spin variables of this app: a shard's processor subscribes to its shard's channel, `order_channel`.<k>. */}}
{{- define "order-system.spinApp.variables" -}}
{{- $sharded := eq (include "order-system.spinApp.sharded" .) "true" }}
{{- $variables := list }}
{{- range (include "order-system.spinVariables" . | fromYamlArray) }}
{{- if and $sharded (eq .name "order_channel") }}
{{- $_ := set . "value" (printf "%s.%d" .value (int $.shard)) }}
{{- end }}
{{- $variables = append $variables . }}
{{- end }}
{{- toYaml $variables }}
{{- end }}

{{/*
The OpenTelemetry environment of this app's (or shard's) container in runtimeClass mode, from
observability.otlp; nothing when no endpoint is set. The shim runs Spin's telemetry setup, which
exports over OTLP once OTEL_EXPORTER_OTLP_ENDPOINT is set and takes the protocol and service.name
from the environment; the OpenTelemetry SDK reads the headers, the sampler and OTEL_RESOURCE_ATTRIBUTES
(spin crates/telemetry env.rs, detector.rs, traces.rs; OTel SDK environment variables spec). The
resource attributes follow OTel's Kubernetes conventions; kubelet expands $(K8S_POD_NAME), the pod's
own name from the downward API, because it is declared first.
*/}}
{{- define "order-system.spinApp.otelEnv" -}}
{{- $otlp := .root.Values.observability.otlp }}
{{- if $otlp.endpoint }}
{{- $prefix := $otlp.serviceNamePrefix | default (printf "%s-" (include "order-system.fullname" .root)) }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $otlp.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $otlp.protocol | quote }}
{{- with $otlp.headersSecret.name }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $otlp.headersSecret.key }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "%s%s" $prefix .component | quote }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $otlp.sampling | toString | quote }}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "k8s.namespace.name=%s,k8s.deployment.name=%s,k8s.pod.name=$(K8S_POD_NAME)" .root.Release.Namespace (include "order-system.spinApp.nameComponent" .) | quote }}
{{- end }}
{{- end }}

{{/* Pod labels: the selector labels (spin-operator copies podLabels to its pods, so NetworkPolicies
and PDBs match in both modes), no version (order-system.podLabels). */}}
{{- define "order-system.spinApp.podLabels" -}}
{{- $app := index .root.Values .key }}
{{- include "order-system.podLabels" (dict "root" .root "component" .component) }}
{{- if eq (include "order-system.spinApp.sharded" .) "true" }}
order-system/shard: {{ .shard | toString | quote }}
{{- end }}
{{- with $app.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* runtimeClass mode: a Deployment the shim runs. */}}
{{- define "order-system.spinApp.deployment" -}}
{{- $root := .root }}
{{- $app := index $root.Values .key }}
{{- $component := dict "root" $root "component" .component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "order-system.spinApp.nameComponent" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "order-system.componentLabels" $component | nindent 4 }}
spec:
  {{- if not (dig "autoscaling" "enabled" false $app) }}
  replicas: {{ $app.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "order-system.spinApp.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "order-system.spinApp.podLabels" . | nindent 8 }}
      {{- with $app.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      runtimeClassName: {{ $root.Values.runtimeClass.name }}
      serviceAccountName: {{ include "order-system.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $root.Values.serviceAccount.automount }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $app.podSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "order-system.appImage" (dict "root" $root "app" $app) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          # The shim runs the Spin app in the image; "/" is the conventional entry point.
          command: ["/"]
          env:
            {{- include "order-system.spinEnv" (include "order-system.spinApp.variables" . | fromYamlArray) | trim | nindent 12 }}
            {{- with include "order-system.spinApp.otelEnv" . | trim }}
            {{- . | nindent 12 }}
            {{- end }}
          {{- if .http }}
          ports:
            - name: http
              containerPort: 80
              protocol: TCP
          readinessProbe:
            httpGet:
              path: /.well-known/spin/health
              port: http
            {{- toYaml $app.readinessProbe | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /.well-known/spin/health
              port: http
            {{- toYaml $app.livenessProbe | nindent 12 }}
          {{- end }}
          resources:
            {{- toYaml $app.resources | nindent 12 }}
          securityContext:
            {{- toYaml $app.securityContext | nindent 12 }}
      {{- with $app.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $app.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $app.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/* spinOperator mode: a SpinApp; spin-operator makes the Deployment (and, for HTTP apps, the Service) of the same name. */}}
{{- define "order-system.spinApp.spinApp" -}}
{{- $root := .root }}
{{- $app := index $root.Values .key }}
{{- $component := dict "root" $root "component" .component }}
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata:
  name: {{ include "order-system.spinApp.nameComponent" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "order-system.componentLabels" $component | nindent 4 }}
spec:
  image: {{ include "order-system.appImage" (dict "root" $root "app" $app) | quote }}
  executor: {{ $root.Values.spinOperator.executor }}
  {{- if dig "autoscaling" "enabled" false $app }}
  enableAutoscaling: true
  {{- else }}
  replicas: {{ $app.replicaCount }}
  {{- end }}
  serviceAccountName: {{ include "order-system.serviceAccountName" $root }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  podLabels:
    {{- include "order-system.spinApp.podLabels" . | nindent 4 }}
  {{- with $app.podAnnotations }}
  podAnnotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  resources:
    {{- toYaml $app.resources | nindent 4 }}
  variables:
    {{- include "order-system.spinApp.variables" . | nindent 4 }}
  {{- if .http }}
  checks:
    readiness:
      httpGet:
        path: /.well-known/spin/health
      {{- toYaml $app.readinessProbe | nindent 6 }}
    liveness:
      httpGet:
        path: /.well-known/spin/health
      {{- toYaml $app.livenessProbe | nindent 6 }}
  {{- end }}
{{- end }}

{{/* A HorizontalPodAutoscaler on the app's Deployment (made by the chart or by spin-operator). Only
order-processor has one: replicas of a fulfilment shard each get every message of it, so more of
them add no throughput; fulfilment scales by shards. */}}
{{- define "order-system.spinApp.hpa" -}}
{{- $app := index .root.Values .key }}
{{- $component := dict "root" .root "component" .component }}
{{- if $app.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "order-system.spinApp.nameComponent" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "order-system.componentLabels" $component | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "order-system.spinApp.nameComponent" . }}
  minReplicas: {{ $app.autoscaling.minReplicas }}
  maxReplicas: {{ $app.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $app.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end }}

{{/* A PodDisruptionBudget over the app's (or one shard's) pods. */}}
{{- define "order-system.spinApp.pdb" -}}
{{- $app := index .root.Values .key }}
{{- $component := dict "root" .root "component" .component }}
{{- if $app.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "order-system.spinApp.nameComponent" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "order-system.componentLabels" $component | nindent 4 }}
spec:
  maxUnavailable: {{ $app.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "order-system.spinApp.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

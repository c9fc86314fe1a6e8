"""Offline checks of gitops/: what Flux and Argo CD would apply, validated before any cluster sees it.

`python -m gitops_check check` (what `cargo xtask gitops --check` runs) builds every kustomization,
follows each Flux cluster and each Argo CD root Application to the objects it would create, and
reports every problem at once:

- the CRD files given match the pins in gitops/crds.lock;
- every object validates: core kinds against the pinned Kubernetes version's OpenAPI schema
  (kubernetes-validate, strict), Flux and Argo CD kinds against their CRD schemas with unknown
  fields rejected, at their current (storage) API version;
- the values each HelmRelease and Application gives the chart validate against
  charts/order-system/values.schema.json, and Flux and Argo CD give each environment the same ones;
- every reference (sourceRef, chartRef, dependsOn, valuesFrom, project, paths, value files,
  existingSecret) names something that exists.
"""

"""Offline tooling for charts/order-system: render, lint and package with Helm's own engine
(helm-python-sdk), validate every rendered object (Kubernetes schemas, CRDs), run the chart's
helm-unittest suites, keep the README's values table current, and push to an OCI registry.

Driven by `cargo xtask chart …`; `python -m order_chart --help` lists the commands.
"""

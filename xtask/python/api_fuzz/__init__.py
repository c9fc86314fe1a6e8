"""API fuzzing of the order API from `docs/openapi.yaml` with schemathesis; run by `cargo xtask test`
against the embedded runtime (`python -m api_fuzz --url …`)."""

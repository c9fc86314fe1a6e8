"""`helm package` and `helm push` against a real OCI registry (Debian's docker-registry)."""

import tarfile

import helm_python as helm

from order_chart import engine, registry


def test_package_carries_the_chart_version_and_leaves_tests_out(tmp_path):
    archive = engine.package(tmp_path)
    metadata = engine.chart_metadata()
    assert archive.name == f"order-system-{metadata['version']}.tgz"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "order-system/templates/tests/test-order-flow.yaml" in names
    assert "order-system/values.schema.json" in names and "order-system/README.md" in names
    assert not [name for name in names if name.startswith(("order-system/tests/", "order-system/ci/"))]


def test_push_then_pull_gives_back_the_same_chart(tmp_path, oci_registry):
    archive = engine.package(tmp_path / "packaged")
    version = engine.chart_metadata()["version"]
    remote = f"oci://{oci_registry}/charts"
    registry.push(archive, remote, plain_http=True)

    descriptor = registry.resolve(f"{remote}/order-system:{version}", plain_http=True)
    assert descriptor["digest"].startswith("sha256:")
    assert descriptor["media_type"] == "application/vnd.oci.image.manifest.v1+json"

    pulled = registry.pull(f"{remote}/order-system", version, tmp_path / "pulled", plain_http=True)
    assert helm.digest(pulled) == helm.digest(archive)
    with helm.Chart.load(pulled) as chart:
        assert chart.metadata["version"] == version


def test_push_refuses_a_non_oci_remote(tmp_path):
    archive = engine.package(tmp_path)
    try:
        registry.push(archive, "https://example.invalid/charts")
    except ValueError as error:
        assert "oci://" in str(error)
    else:
        raise AssertionError("a non-OCI remote was accepted")

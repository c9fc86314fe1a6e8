"""Chart metadata stays in step with the workspace, and the README with values.yaml."""

import re
import tomllib

from order_chart import engine, values_doc
from order_chart.paths import CHART, ROOT


def workspace_version() -> str:
    return tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]


def test_chart_and_app_versions_are_the_workspace_version():
    metadata = engine.chart_metadata()
    assert metadata["version"] == workspace_version()
    assert metadata["appVersion"] == workspace_version()
    for manifest in (ROOT / "apps").glob("*/spin.toml"):
        assert tomllib.loads(manifest.read_text())["application"]["version"] == workspace_version()


def test_artifacthub_images_are_the_ones_the_defaults_deploy():
    listed = set(re.findall(r"image: (\S+)", engine.chart_metadata()["annotations"]["artifacthub.io/images"]))
    deployed = set()
    for manifest in engine.render():
        if pod := manifest.pod_spec:
            deployed |= {
                container["image"] for container in pod.get("initContainers", []) + pod["containers"]
            }
    assert listed == deployed


def test_contract_names_are_the_defaults():
    values = engine.default_values()
    assert values["runtimeClass"]["name"] == "wasmtime-spin"
    assert values["runtimeClass"]["handler"] == "spin"
    assert values["config"] == {"orderChannel": "neworders", "keyPrefix": "order:"}
    assert {
        values["orderProcessor"]["image"]["repository"],
        values["fulfilmentProcessor"]["image"]["repository"],
    } == {app.parent.name for app in (ROOT / "apps").glob("*/spin.toml")}


def test_readme_values_table_is_current():
    current, fresh = values_doc.updated_readme()
    assert current == fresh, "run `cargo xtask chart readme`"


def test_values_doc_refuses_undocumented_keys(tmp_path):
    (tmp_path / "values.yaml").write_text("# -- documented\na: 1\nb:\n  c: 2\n")
    try:
        values_doc.table(tmp_path)
    except values_doc.UndocumentedKey as error:
        assert "b.c" in str(error) and "a" not in str(error).split(":")[-1].split(", ")
    else:
        raise AssertionError("an undocumented key was accepted")


def test_readme_has_the_exact_k3d_commands():
    readme = (CHART / "README.md").read_text()
    assert "--image ghcr.io/spinframework/containerd-shim-spin/k3d:v0.24.0" in readme
    assert "helm install order-system charts/order-system" in readme
    assert "helm test order-system" in readme
    published = re.search(r'--port "(\d+):80@loadbalancer"', readme)
    assert published, "the README's k3d cluster publishes no port 80"
    port = published.group(1)
    assert f"http://localhost:{port}/order" in readme


def test_every_spin_variable_of_every_app_is_set_and_nothing_else():
    """The env the shim reads (SPIN_VARIABLE_<NAME>) and the SpinApp variables cover exactly the
    `[variables]` each spin.toml declares."""
    declared = {
        tomllib.loads(manifest.read_text())["application"]["name"]: set(
            tomllib.loads(manifest.read_text())["variables"]
        )
        for manifest in (ROOT / "apps").glob("*/spin.toml")
    }
    for mode, values in [("runtimeClass", {}), ("spinOperator", {"mode": "spinOperator"})]:
        for manifest in engine.render(values):
            app = manifest.name.removeprefix(f"{engine.RELEASE}-order-system-")
            if manifest.kind == "Deployment":
                (container,) = manifest.obj["spec"]["template"]["spec"]["containers"]
                names = {variable["name"] for variable in container["env"]}
                assert names == {f"SPIN_VARIABLE_{name.upper()}" for name in declared[app]}, mode
            elif manifest.kind == "SpinApp":
                assert {variable["name"] for variable in manifest.obj["spec"]["variables"]} == declared[app]

#![allow(clippy::unwrap_used)]
//! Packing apps the repository's own manifests do not exercise: static files, several triggers
//! of a kind without ids, shared wasm, manifests that cannot be published faithfully.

use std::io::Read;
use std::path::PathBuf;

use base64::Engine;
use chrono::DateTime;
use dev_services::private_dir;
use serde_json::{Value, json};
use spin_oci::artifact::{DATA_LAYER_MEDIA_TYPE, SPIN_APPLICATION_MEDIA_TYPE, sha256_digest};
use spin_oci::{Artifact, Format, Provenance, pack};

const WASM: &[u8] = b"\0asm fake component bytes: packing never parses wasm";

fn provenance(epoch: i64) -> Provenance {
    Provenance {
        source: None,
        revision: None,
        version: "9.9.9".into(),
        created: DateTime::from_timestamp(epoch, 0).unwrap(),
    }
}

/// A temporary app directory, removed on drop.
struct AppDir(PathBuf);

impl AppDir {
    fn manifest(&self) -> PathBuf {
        self.0.join("spin.toml")
    }
}

impl Drop for AppDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An app directory with `spin.toml` = `manifest` and the given files.
fn app(manifest: &str, files: &[(&str, &[u8])]) -> AppDir {
    let dir = AppDir(private_dir("spin-app").unwrap());
    std::fs::write(dir.manifest(), manifest).unwrap();
    for (path, data) in files {
        let path = dir.0.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    dir
}

fn locked_app(artifact: &Artifact) -> Value {
    let layer = artifact.layers.last().unwrap();
    assert_eq!(layer.media_type, SPIN_APPLICATION_MEDIA_TYPE);
    serde_json::from_slice(&layer.data).unwrap()
}

const STATIC_SITE: &str = r#"
spin_manifest_version = 2

[application]
name = "site"

[[trigger.http]]
route = "/..."
component = "files"

[[trigger.http]]
route = "/other/..."
component = "files"

[component.files]
source = "site.wasm"
files = ["readme.txt", { source = "assets", destination = "/static" }]
environment = { MODE = "static" }

[component.copy]
source = "site.wasm"
"#;

fn big_asset() -> Vec<u8> {
    (0..=255u8).cycle().take(1000).collect()
}

/// What `spin-local` runs is what ships: the pushed locked app is the one spin-manifest builds
/// for a local run, with each content reference turned into a registry digest (and its
/// dependencies composed in).
#[test]
fn the_pushed_locked_app_is_the_local_one_with_registry_content() {
    let dir = app(
        &STATIC_SITE.replace(
            "[component.copy]",
            "[variables]\nmode = { default = \"static\" }\n\
             [component.files.variables]\nmode = \"{{ mode }}\"\n[component.copy]",
        ),
        &[
            ("site.wasm", WASM),
            ("readme.txt", b"small enough to travel inline"),
            ("assets/app.js", &big_asset()),
        ],
    );
    let artifact = pack(&dir.manifest(), Format::Spin, &provenance(0)).unwrap();
    let mut pushed = locked_app(&artifact);
    let manifest = spin_manifest::Manifest::load(&dir.manifest(), "spin-local").unwrap();
    let mut local = serde_json::to_value(manifest.lock().unwrap()).unwrap();
    for (pushed, local) in pushed["components"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(local["components"].as_array_mut().unwrap())
    {
        assert_eq!(pushed["source"]["digest"], json!(sha256_digest(WASM)));
        assert!(
            local["source"]["source"]
                .as_str()
                .unwrap()
                .starts_with("file:///")
        );
        for content in ["source", "files"] {
            pushed.as_object_mut().unwrap().remove(content);
            local.as_object_mut().unwrap().remove(content);
        }
    }
    assert_eq!(pushed, local);
}

#[test]
fn files_become_data_layers_or_inline_content_and_shared_wasm_one_layer() {
    let big = big_asset();
    let dir = app(
        STATIC_SITE,
        &[
            ("site.wasm", WASM),
            ("readme.txt", b"small enough to travel inline"),
            ("assets/app.js", &big),
            ("assets/deep/same.js", &big),
        ],
    );
    let artifact = pack(&dir.manifest(), Format::Spin, &provenance(0)).unwrap();

    let layers: Vec<_> = artifact
        .layers
        .iter()
        .map(|layer| (layer.media_type.as_str(), sha256_digest(&layer.data)))
        .collect();
    assert_eq!(
        layers[..2],
        [
            (
                "application/vnd.wasm.content.layer.v1+wasm",
                sha256_digest(WASM)
            ),
            (DATA_LAYER_MEDIA_TYPE, sha256_digest(&big)),
        ],
        "one layer per distinct content; the inlined file has none"
    );
    assert_eq!(layers.len(), 3);

    let locked = locked_app(&artifact);
    let components = locked["components"].as_array().unwrap();
    let ids: Vec<_> = components.iter().map(|c| &c["id"]).collect();
    assert_eq!(ids, ["copy", "files"]);
    let files_component = &components[1];
    assert_eq!(files_component["env"], json!({"MODE": "static"}));
    let inline = base64::engine::general_purpose::STANDARD.encode("small enough to travel inline");
    assert_eq!(
        files_component["files"],
        json!([
            {"inline": inline, "digest": sha256_digest(b"small enough to travel inline"), "path": "readme.txt"},
            {"digest": sha256_digest(&big), "path": "static/app.js"},
            {"digest": sha256_digest(&big), "path": "static/deep/same.js"},
        ])
    );
    assert_eq!(components[0]["source"], files_component["source"]);
    assert!(components[0].get("files").is_none());

    // Without ids, the second trigger for a component gets a numbered one.
    let trigger_ids: Vec<_> = locked["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(trigger_ids, ["files-http-trigger", "http-trigger1"]);
    assert_eq!(locked["metadata"]["trigger"], json!({"type": "http"}));
}

#[test]
fn image_layers_are_reproducible_and_hold_what_the_manifest_names() {
    let dir = app(
        STATIC_SITE,
        &[
            ("site.wasm", WASM),
            ("readme.txt", b"hello"),
            ("assets/app.js", b"js"),
            ("assets/deep/same.js", b"js"),
        ],
    );
    let manifest = dir.manifest();
    let first = pack(&manifest, Format::Image, &provenance(1_700_000_000)).unwrap();
    let again = pack(&manifest, Format::Image, &provenance(1_700_000_000)).unwrap();
    let later = pack(&manifest, Format::Image, &provenance(1_800_000_000)).unwrap();
    assert_eq!(first.digest, again.digest);
    assert_eq!(first.layers[0].data, again.layers[0].data);
    assert_ne!(
        first.layers[0].data, later.layers[0].data,
        "file times follow `created`"
    );

    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&first.layers[0].data[..])
        .read_to_end(&mut tar)
        .unwrap();
    let mut archive = tar::Archive::new(tar.as_slice());
    let entries: Vec<(String, u64, Vec<u8>)> = archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mtime = entry.header().mtime().unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (path, mtime, data)
        })
        .collect();
    let paths: Vec<_> = entries.iter().map(|(path, _, _)| path.as_str()).collect();
    // Mounted files sit where the manifest's sources are: the host reads /spin.toml as is.
    assert_eq!(
        paths,
        [
            "assets",
            "assets/deep",
            "assets/app.js",
            "assets/deep/same.js",
            "readme.txt",
            "site.wasm",
            "spin.toml"
        ]
    );
    assert!(entries.iter().all(|(_, mtime, _)| *mtime == 1_700_000_000));
    let spin_toml = &entries.iter().find(|(p, _, _)| p == "spin.toml").unwrap().2;
    assert_eq!(spin_toml.as_slice(), STATIC_SITE.as_bytes());

    let config: Value = serde_json::from_slice(&first.config.data).unwrap();
    assert_eq!(config["os"], "wasi");
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config["rootfs"]["diff_ids"], json!([sha256_digest(&tar)]));
}

#[test]
fn calling_other_components_is_a_host_requirement() {
    let dir = app(
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n\
         [component.front]\nsource = \"a.wasm\"\n\
         allowed_outbound_hosts = [\"http://back.spin.internal\", \"redis://{{ host }}:6379\"]\n\
         [component.back]\nsource = \"a.wasm\"\n\
         allowed_outbound_hosts = [\"https://spin.internal.example.com\"]\n",
        &[("a.wasm", WASM)],
    );
    let artifact = pack(&dir.manifest(), Format::Spin, &provenance(0)).unwrap();
    let locked = locked_app(&artifact);
    assert_eq!(locked["spin_lock_version"], 1);
    assert_eq!(
        locked["must_understand"],
        json!(["component_host_requirements"])
    );
    let requirements: Vec<_> = locked["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c.get("host_requirements")))
        .collect();
    assert_eq!(
        requirements,
        [
            ("back", None),
            (
                "front",
                Some(&json!({"local_service_chaining": "required"}))
            )
        ]
    );
}

fn pack_error(manifest: &str) -> String {
    let dir = app(manifest, &[("a.wasm", WASM)]);
    let error = pack(&dir.manifest(), Format::Spin, &provenance(0))
        .err()
        .unwrap();
    format!("{error:#}")
}

#[test]
fn manifests_that_cannot_be_locked_faithfully_are_refused_with_the_reason() {
    let head = "spin_manifest_version = 2\n[application]\nname = \"x\"\n";
    let cases = [
        (
            "[component.a]\nsource = \"a.wasm\"\ndependencies = { \"a:b/c\" = { path = \"d.wasm\" } }\n",
            "component `a`: dependency \"a:b/c\" does not inherit the component's configuration",
        ),
        (
            "[component.a]\nsource = \"a.wasm\"\ndependencies_inherit_configuration = true\ndependencies = { \"a:b/c\" = { url = \"https://example.com/d.wasm\", digest = \"sha256:00\" } }\n",
            "comes from a URL, which spin-oci does not compose",
        ),
        (
            "[component.a]\nsource = \"a.wasm\"\ndependencies_inherit_configuration = true\ndependencies = { \"a:b/c\" = { path = \"a.wasm\" } }\n",
            "component `a`: composing its dependencies",
        ),
        (
            "[component.a]\nsource = \"a.wasm\"\nfiles = [\"static/**/*\"]\n",
            "globs are not supported",
        ),
        (
            "[component.a]\nsource = { url = \"https://example.com/a.wasm\", digest = \"sha256:00\" }\n",
            "only a local file `source` can be published",
        ),
        (
            "[variables]\nv = { required = true, default = \"x\" }\n[component.a]\nsource = \"a.wasm\"\n",
            "variable `v` must be `required` or have a `default`",
        ),
        (
            "[[trigger.http]]\nroute = \"/\"\ncomponent = \"missing\"\n",
            "names component `missing`, which is not defined",
        ),
        (
            "[component.a]\nsource = \"a.wasm\"\nallowed_http_hosts = [\"x\"]\n",
            "unknown field `allowed_http_hosts`",
        ),
    ];
    for (body, expected) in cases {
        let message = pack_error(&format!("{head}{body}"));
        assert!(
            message.contains(expected),
            "{body}\n→ {message}\nwanted: {expected}"
        );
    }
    assert!(
        pack_error("spin_manifest_version = 1\n[application]\nname = \"x\"\n")
            .contains("only 2 is supported")
    );
}

#[test]
fn a_missing_wasm_says_to_build_first() {
    let dir = app(
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[component.a]\nsource = \"gone.wasm\"\n",
        &[],
    );
    let error = pack(&dir.manifest(), Format::Spin, &provenance(0))
        .err()
        .unwrap();
    let message = format!("{error:#}");
    assert!(message.contains("component `a`: reading"), "{message}");
    assert!(message.contains("cargo xtask build"), "{message}");
}

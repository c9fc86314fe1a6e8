//! A Spin app packed as an OCI manifest, its config and its layers, all in memory with their
//! digests: nothing here talks to a registry, so a dry run and a push see the same bytes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component as PathComponent, Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use oci_client::client::{Config, ImageLayer};
use oci_client::config::{Config as RuntimeConfig, ConfigFile, Rootfs};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use serde::Serialize;
use sha2::{Digest, Sha256};

use spin_manifest::locked::{ContentPath, ContentRef};
use spin_manifest::{FilesMount, LockedApp, Manifest};

use crate::compose;
use crate::summary::Format;

/// The locked app, as a layer of a Spin registry artifact.
pub const SPIN_APPLICATION_MEDIA_TYPE: &str = "application/vnd.fermyon.spin.application.v1+config";
/// A component's wasm.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// A file a component mounts.
pub const DATA_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+data";
/// The filesystem layer of the plain-image form.
pub const IMAGE_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Image config label Spin sets so that two apps never share an image id.
pub const LOCKED_APP_DIGEST_LABEL: &str = "com.fermyon.spin.lockedAppDigest";

/// Where and when the app was built, for the `org.opencontainers.image.*` annotations.
#[derive(Clone, Debug)]
pub struct Provenance {
    /// The source repository's URL.
    pub source: Option<String>,
    /// The source commit.
    pub revision: Option<String>,
    /// The version being published (the tag).
    pub version: String,
    /// Build time: `SOURCE_DATE_EPOCH` or the commit time, never "now", so digests repeat.
    pub created: DateTime<Utc>,
}

/// A packed app: push `layers` and `config`, then `manifest` (whose digest is `digest`).
pub struct Artifact {
    pub app: String,
    pub format: Format,
    pub layers: Vec<ImageLayer>,
    pub config: Config,
    /// The manifest exactly as it is pushed (canonical JSON, like oci-client writes), an OCI
    /// image manifest in both formats.
    pub manifest: Vec<u8>,
    /// The manifest's digest: what to deploy.
    pub digest: String,
    /// The manifest's layer descriptors, in `layers` order.
    pub descriptors: Vec<OciDescriptor>,
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// Packs the app whose manifest is `manifest_path`.
pub fn pack(manifest_path: &Path, format: Format, provenance: &Provenance) -> Result<Artifact> {
    let manifest = Manifest::load(manifest_path, "spin-oci")
        .with_context(|| format!("{} cannot be published", manifest_path.display()))?;
    let locked = manifest.lock()?;
    let (layers, config, media_type) = match format {
        Format::Spin => spin_layers(&manifest, locked)?,
        Format::Image => image_layers(&manifest, &locked, manifest_path, provenance)?,
    };
    let annotations = annotations(&manifest, provenance);
    let mut oci_manifest = OciImageManifest::build(&layers, &config, Some(annotations));
    oci_manifest.media_type = media_type;
    let manifest_bytes = canonical_json(&oci_manifest)?;
    Ok(Artifact {
        app: manifest.application.name.clone(),
        format,
        digest: sha256_digest(&manifest_bytes),
        descriptors: oci_manifest.layers.clone(),
        layers,
        config,
        manifest: manifest_bytes,
    })
}

/// Spin's registry form, as `spin registry push` assembles it from the local locked app: one
/// wasm layer per distinct (composed) wasm, one data layer per distinct file too big to inline,
/// then the locked app with every content reference a digest; an image config naming the
/// locked app's digest.
fn spin_layers(
    manifest: &Manifest,
    mut locked: LockedApp,
) -> Result<(Vec<ImageLayer>, Config, Option<String>)> {
    let mut layers: Vec<ImageLayer> = Vec::new();
    let mut packed: Vec<(String, String)> = Vec::new();
    let mut add_layer = |data: Vec<u8>, media_type: &str| -> ContentRef {
        let digest = sha256_digest(&data);
        let content = ContentRef::for_blob(&data, digest.clone());
        // Inlined files travel in the locked app only (as `spin registry push` does).
        let inlined_file = media_type == DATA_LAYER_MEDIA_TYPE && content.is_inline();
        let key = (media_type.to_string(), digest);
        if !packed.contains(&key) && !inlined_file {
            layers.push(ImageLayer::new(data, media_type.into(), None));
            packed.push(key);
        }
        content
    };

    for component in &mut locked.components {
        let id = &component.id;
        let wasm = compose::pushed_wasm(component)?;
        component.source.content = add_layer(wasm, WASM_LAYER_MEDIA_TYPE);
        component.dependencies.clear();
        let mut files = Vec::new();
        for file in mounted_files(&manifest.dir, &manifest.components[id].files)
            .with_context(|| format!("component `{id}`: collecting its files"))?
        {
            let data = std::fs::read(&file.disk)
                .with_context(|| format!("reading {}", file.disk.display()))?;
            files.push(ContentPath {
                content: add_layer(data, DATA_LAYER_MEDIA_TYPE),
                path: file.mounted_at,
            });
        }
        component.files = files;
    }

    let locked_layer = ImageLayer::new(
        serde_json::to_vec(&locked)?,
        SPIN_APPLICATION_MEDIA_TYPE.into(),
        None,
    );
    let labels = HashMap::from([(
        LOCKED_APP_DIGEST_LABEL.to_string(),
        locked_layer.sha256_digest(),
    )]);
    layers.push(locked_layer);
    let config = Config::oci_v1_from_config_file(
        ConfigFile {
            architecture: "wasm".into(),
            os: "wasip1".into(),
            config: Some(RuntimeConfig {
                labels: Some(labels),
                ..Default::default()
            }),
            ..Default::default()
        },
        None,
    )?;
    // `spin registry push` leaves the manifest's own mediaType out (the registry learns it
    // from the Content-Type header).
    Ok((layers, config, None))
}

/// A file a component mounts.
struct MountedFile {
    /// Where the component sees it, relative to its mount root.
    mounted_at: String,
    /// Where the manifest says it comes from, relative to the manifest's directory.
    source: PathBuf,
    /// The file on this machine.
    disk: PathBuf,
}

/// Every file a component mounts, sorted by mount path. A plain path keeps its place relative
/// to the manifest; a placement puts `source` (a file, or a directory's contents) at
/// `destination`.
fn mounted_files(app_dir: &Path, mounts: &[FilesMount]) -> Result<Vec<MountedFile>> {
    let mut files = Vec::new();
    for mount in mounts {
        let (source, destination) = match mount {
            FilesMount::Path(path) => (path.as_str(), path.as_str()),
            FilesMount::Placement {
                source,
                destination,
            } => (source.as_str(), destination.as_str()),
        };
        let destination = normalize(Path::new(destination));
        let disk = app_dir.join(source);
        if disk.is_dir() {
            for file in walk(&disk)? {
                let relative = file.strip_prefix(&disk)?.to_path_buf();
                files.push(MountedFile {
                    mounted_at: portable(&destination.join(&relative)),
                    source: Path::new(source).join(&relative),
                    disk: file,
                });
            }
        } else if disk.is_file() {
            files.push(MountedFile {
                mounted_at: portable(&destination),
                source: source.into(),
                disk,
            });
        } else {
            bail!("file mount `{source}`: {} does not exist", disk.display());
        }
    }
    files.sort_by(|a, b| a.mounted_at.cmp(&b.mounted_at));
    Ok(files)
}

/// All files under `dir`, recursively.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// `path` without `.`, `..` (clamped at the root, as the kernel resolves `/..`) or a leading `/`.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for part in path.components() {
        match part {
            PathComponent::Normal(name) => normal.push(name),
            PathComponent::ParentDir => {
                normal.pop();
            }
            PathComponent::CurDir | PathComponent::RootDir | PathComponent::Prefix(_) => {}
        }
    }
    normal
}

/// A registry path: forward slashes on every host.
fn portable(path: &Path) -> String {
    path.components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The plain-image form: one gzipped tar with `spin.toml` at `/` and each wasm where the
/// manifest's `source` points when `/` is the app directory (`../../target/x.wasm` → `/target/
/// x.wasm`), so containerd-shim-spin loads `/spin.toml` as written. A component with
/// `dependencies` is shipped composed and its `spin.toml` without them, since the shim does not
/// compose.
fn image_layers(
    manifest: &Manifest,
    locked: &LockedApp,
    manifest_path: &Path,
    provenance: &Provenance,
) -> Result<(Vec<ImageLayer>, Config, Option<String>)> {
    let mut files = BTreeMap::new();
    // The file as written, or, when a component has `dependencies` (composed into its wasm),
    // without them.
    let text = std::fs::read(manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let text = if manifest.components.values().any(|c| c.has_dependencies()) {
        spin_manifest::without_dependencies(&text)?
    } else {
        text
    };
    files.insert(PathBuf::from("spin.toml"), text);
    for component in &locked.components {
        let source = manifest.components[&component.id].source();
        files.insert(
            normalize(Path::new(source)),
            compose::pushed_wasm(component)?,
        );
    }
    for (id, component) in &manifest.components {
        // Spin reads mounts from where the manifest says they are.
        for file in mounted_files(&manifest.dir, &component.files)
            .with_context(|| format!("component `{id}`: collecting its files"))?
        {
            let data = std::fs::read(&file.disk)
                .with_context(|| format!("reading {}", file.disk.display()))?;
            files.insert(normalize(&file.source), data);
        }
    }
    let mtime = u64::try_from(provenance.created.timestamp()).unwrap_or_default();
    let tar = deterministic_tar(&files, mtime)?;
    let diff_id = sha256_digest(&tar);
    let layer = ImageLayer::new(gzip(&tar)?, IMAGE_LAYER_MEDIA_TYPE.into(), None);
    let config = Config::oci_v1_from_config_file(
        ConfigFile {
            created: Some(provenance.created),
            architecture: "wasm".into(),
            os: "wasi".into(),
            rootfs: Rootfs {
                diff_ids: vec![diff_id],
                ..Default::default()
            },
            ..Default::default()
        },
        None,
    )?;
    Ok((vec![layer], config, Some(OCI_IMAGE_MEDIA_TYPE.into())))
}

/// A tar of `files` (archive path → content) with parent directories, in path order, owned
/// by root, every timestamp `mtime`: the same inputs give the same bytes.
fn deterministic_tar(files: &BTreeMap<PathBuf, Vec<u8>>, mtime: u64) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut directories = std::collections::BTreeSet::new();
    for archive_path in files.keys() {
        for ancestor in archive_path.ancestors().skip(1) {
            if !ancestor.as_os_str().is_empty() {
                directories.insert(ancestor.to_path_buf());
            }
        }
    }
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header
    };
    for directory in &directories {
        let mut dir_header = header(tar::EntryType::Directory, 0o755, 0);
        builder.append_data(&mut dir_header, directory, std::io::empty())?;
    }
    for (archive_path, data) in files {
        let mut file_header = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        builder.append_data(&mut file_header, archive_path, data.as_slice())?;
    }
    Ok(builder.into_inner()?)
}

/// gzip with no name and no timestamp in its header.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::default());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

fn annotations(manifest: &Manifest, provenance: &Provenance) -> BTreeMap<String, String> {
    use oci_client::annotations::*;
    let application = &manifest.application;
    let mut annotations = BTreeMap::from([
        (
            ORG_OPENCONTAINERS_IMAGE_CREATED.to_string(),
            provenance
                .created
                .to_rfc3339_opts(SecondsFormat::Secs, true),
        ),
        (
            ORG_OPENCONTAINERS_IMAGE_VERSION.to_string(),
            provenance.version.clone(),
        ),
        (
            ORG_OPENCONTAINERS_IMAGE_TITLE.to_string(),
            application.name.clone(),
        ),
    ]);
    if !application.description.is_empty() {
        annotations.insert(
            ORG_OPENCONTAINERS_IMAGE_DESCRIPTION.into(),
            application.description.clone(),
        );
    }
    if !application.authors.is_empty() {
        annotations.insert(
            ORG_OPENCONTAINERS_IMAGE_AUTHORS.into(),
            application.authors.join(", "),
        );
    }
    if let Some(source) = &provenance.source {
        annotations.insert(ORG_OPENCONTAINERS_IMAGE_SOURCE.into(), source.clone());
    }
    if let Some(revision) = &provenance.revision {
        annotations.insert(ORG_OPENCONTAINERS_IMAGE_REVISION.into(), revision.clone());
    }
    annotations
}

/// JSON with sorted keys and no whitespace (OLPC canonical JSON), as oci-client serializes
/// manifests, so the digest computed here is the registry's.
fn canonical_json(value: &impl Serialize) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut bytes, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut serializer)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_clamps_parent_directories_at_the_root() {
        assert_eq!(
            normalize(Path::new("../../target/wasm32-wasip2/release/a.wasm")),
            Path::new("target/wasm32-wasip2/release/a.wasm")
        );
        assert_eq!(
            normalize(Path::new("/static/./x/../y")),
            Path::new("static/y")
        );
    }
}

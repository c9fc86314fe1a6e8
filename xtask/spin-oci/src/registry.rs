//! Pushing a packed app: credentials, blobs the registry lacks, then the manifest under its tag
//! (last, so a failure never leaves a tag pointing at missing blobs). Registry failures become
//! one sentence that says what to do.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OCI_IMAGE_MEDIA_TYPE;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::artifact::Artifact;

/// Credentials and where they came from (for messages).
pub struct Credentials {
    pub auth: RegistryAuth,
    pub origin: String,
}

impl Credentials {
    /// `REGISTRY_USERNAME`/`REGISTRY_PASSWORD` when set, else what `docker login` stored for
    /// `host` (`$DOCKER_CONFIG` or `~/.docker/config.json`, credential helpers included), else
    /// anonymous.
    pub fn for_host(host: &str) -> Result<Credentials> {
        let env = |name| {
            std::env::var(name)
                .ok()
                .filter(|value: &String| !value.is_empty())
        };
        match (env("REGISTRY_USERNAME"), env("REGISTRY_PASSWORD")) {
            (Some(username), Some(password)) => {
                return Ok(Credentials {
                    origin: format!("user `{username}` from REGISTRY_USERNAME"),
                    auth: RegistryAuth::Basic(username, password),
                });
            }
            (None, None) => {}
            _ => bail!("set both REGISTRY_USERNAME and REGISTRY_PASSWORD, or neither"),
        }
        match docker_credential::get_credential(host) {
            Ok(DockerCredential::UsernamePassword(username, password)) => Ok(Credentials {
                origin: format!("user `{username}` from the docker config"),
                auth: RegistryAuth::Basic(username, password),
            }),
            Ok(DockerCredential::IdentityToken(_)) => bail!(
                "the docker config holds an identity token for {host}, which registries only \
                 exchange through Docker's own login flow; set REGISTRY_USERNAME/REGISTRY_PASSWORD"
            ),
            Err(
                CredentialRetrievalError::ConfigNotFound
                | CredentialRetrievalError::ConfigReadError
                | CredentialRetrievalError::NoCredentialConfigured,
            ) => Ok(Credentials {
                auth: RegistryAuth::Anonymous,
                origin: "anonymous access".into(),
            }),
            Err(error) => Err(anyhow!(
                "reading the docker credentials for {host}: {error}"
            )),
        }
    }
}

/// What a push did.
#[derive(Debug, Default)]
pub struct PushReport {
    /// Blobs uploaded (the others were already in the registry).
    pub blobs_pushed: usize,
    pub blobs_present: usize,
    /// False when the tag already named this exact manifest.
    pub manifest_pushed: bool,
}

/// A registry client for one registry host.
pub struct Registry {
    client: Client,
    credentials: Credentials,
    host: String,
    insecure: bool,
}

impl Registry {
    /// `insecure`: plain HTTP (a local registry) instead of HTTPS.
    pub fn new(host: &str, insecure: bool, credentials: Credentials) -> Registry {
        let config = oci_client::client::ClientConfig {
            protocol: if insecure {
                oci_client::client::ClientProtocol::Http
            } else {
                oci_client::client::ClientProtocol::Https
            },
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(120)),
            ..Default::default()
        };
        Registry {
            client: Client::new(config),
            credentials,
            host: host.into(),
            insecure,
        }
    }

    /// Pushes `artifact` as `reference`: only the blobs the registry lacks, then the manifest.
    pub async fn push(&self, reference: &Reference, artifact: &Artifact) -> Result<PushReport> {
        let explain = |error| self.explain(error);
        self.client
            .auth(reference, &self.credentials.auth, RegistryOperation::Push)
            .await
            .map_err(explain)?;
        let mut report = PushReport::default();
        let config = (&artifact.config.data, artifact.config.sha256_digest());
        let layers = artifact
            .layers
            .iter()
            .zip(&artifact.descriptors)
            .map(|(layer, descriptor)| (&layer.data, descriptor.digest.clone()));
        for (data, digest) in layers.chain([config]) {
            if self
                .client
                .blob_exists(reference, &digest)
                .await
                .map_err(explain)?
            {
                report.blobs_present += 1;
            } else {
                self.client
                    .push_blob(reference, data.clone(), &digest)
                    .await
                    .map_err(explain)
                    .with_context(|| format!("pushing blob {digest}"))?;
                report.blobs_pushed += 1;
            }
        }
        let tagged = self
            .client
            .fetch_manifest_digest(reference, &self.credentials.auth)
            .await
            .ok();
        if tagged.as_deref() != Some(artifact.digest.as_str()) {
            let media_type = OCI_IMAGE_MEDIA_TYPE
                .parse()
                .context("manifest media type")?;
            self.client
                .push_manifest_raw(reference, artifact.manifest.clone(), media_type)
                .await
                .map_err(explain)
                .context("pushing the manifest")?;
            report.manifest_pushed = true;
        }
        Ok(report)
    }

    /// One actionable sentence for the failures users meet: no registry there, wrong scheme,
    /// refused credentials.
    fn explain(&self, error: OciDistributionError) -> anyhow::Error {
        let host = &self.host;
        let refused = |code: u16| {
            anyhow!(
                "registry {host} refused {} (HTTP {code}): set REGISTRY_USERNAME and \
                 REGISTRY_PASSWORD, or `docker login {host}`, for an account that may push there",
                self.credentials.origin
            )
        };
        match &error {
            OciDistributionError::RequestError(request) => {
                if let Some(status) = request.status()
                    && matches!(status.as_u16(), 401 | 403)
                {
                    return refused(status.as_u16());
                }
                if request.is_connect() || request.is_timeout() {
                    let hint = if self.insecure {
                        ""
                    } else {
                        " (for a plain-HTTP registry add --insecure)"
                    };
                    return anyhow!(
                        "cannot reach registry {host} over {}: {}{hint}",
                        if self.insecure { "HTTP" } else { "HTTPS" },
                        root_cause(request)
                    );
                }
            }
            OciDistributionError::UnauthorizedError { .. } => return refused(401),
            OciDistributionError::AuthenticationFailure(_) => return refused(401),
            OciDistributionError::ServerError { code, .. } if matches!(code, 401 | 403) => {
                return refused(*code);
            }
            OciDistributionError::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)
                }) =>
            {
                return refused(403);
            }
            _ => {}
        }
        anyhow!("registry {host}: {error}")
    }
}

/// The innermost error's message ("Connection refused (os error 111)").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

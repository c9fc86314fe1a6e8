//! Application variables resolved as Spin resolves them: a `--variable name=value` flag first,
//! then the `SPIN_VARIABLE_<NAME>` environment variable (or that line of a `.env` file in the
//! current directory), then the manifest's `default`; a `required` variable with no value is an
//! error at start (Spin's `crates/variables`, its environment provider and the
//! `--variable` flag). What each component sees of them is the host's business.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::locked::LockedVariable;
use crate::manifest::check_variable_name;

/// The environment variable Spin reads an application variable from.
fn environment_name(variable: &str) -> String {
    format!("SPIN_VARIABLE_{}", variable.to_ascii_uppercase())
}

type Environment = Box<dyn Fn(&str) -> Result<Option<String>> + Send + Sync>;

/// Where variable values come from, besides the manifest's defaults.
pub struct VariableProviders {
    flags: BTreeMap<String, String>,
    environment: Environment,
}

impl VariableProviders {
    /// `--variable` flags over the process environment, then a `.env` file in the current
    /// directory, as Spin's default environment provider reads them.
    pub fn new(flags: impl IntoIterator<Item = (String, String)>) -> Result<VariableProviders> {
        let dotenv = read_dotenv(Path::new(".env"))?;
        Self::with_environment(flags, move |name| match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(dotenv.get(name).cloned()),
            Err(error) => Err(error).with_context(|| format!("reading {name}")),
        })
    }

    /// `--variable` flags over `environment`, which looks up an environment variable.
    pub fn with_environment(
        flags: impl IntoIterator<Item = (String, String)>,
        environment: impl Fn(&str) -> Result<Option<String>> + Send + Sync + 'static,
    ) -> Result<VariableProviders> {
        let mut checked = BTreeMap::new();
        for (name, value) in flags {
            check_variable_name(&name).context("a --variable flag")?;
            checked.insert(name, value);
        }
        Ok(VariableProviders {
            flags: checked,
            environment: Box::new(environment),
        })
    }

    /// The flags' names, to tell which ones no app declares.
    pub fn flag_names(&self) -> impl Iterator<Item = &str> {
        self.flags.keys().map(String::as_str)
    }

    /// The value a flag or the environment gives `name`, if any: the manifest's default is
    /// the caller's fallback.
    pub fn given(&self, name: &str) -> Result<Option<String>> {
        if let Some(value) = self.flags.get(name) {
            return Ok(Some(value.clone()));
        }
        (self.environment)(&environment_name(name))
    }
}

/// The `NAME=value` lines of a dotenv file; none when there is no such file.
fn read_dotenv(path: &Path) -> Result<HashMap<String, String>> {
    match dotenvy::from_path_iter(path) {
        Ok(lines) => lines
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading {}", path.display())),
        Err(error) if error.not_found() => Ok(HashMap::new()),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// One app's variables with their values.
#[derive(Clone, Debug)]
pub struct ResolvedVariables {
    values: HashMap<String, String>,
    secrets: Vec<String>,
}

impl ResolvedVariables {
    /// Resolves every declared variable; names every required one (no default) that has no
    /// value.
    pub fn resolve(
        declared: &BTreeMap<String, LockedVariable>,
        providers: &VariableProviders,
    ) -> Result<ResolvedVariables> {
        let mut values = HashMap::new();
        let mut missing = Vec::new();
        let mut secrets = Vec::new();
        for (name, declaration) in declared {
            let value = match providers.given(name)? {
                Some(value) => value,
                None => match &declaration.default {
                    Some(default) => default.clone(),
                    None => {
                        missing.push(name.as_str());
                        continue;
                    }
                },
            };
            if declaration.secret && !value.is_empty() {
                secrets.push(value.clone());
            }
            values.insert(name.clone(), value);
        }
        if !missing.is_empty() {
            let how: Vec<String> = missing
                .iter()
                .map(|name| format!("--variable {name}=… or {}", environment_name(name)))
                .collect();
            bail!(
                "no value for required variable(s) {missing:?}: set {}",
                how.join(", ")
            );
        }
        Ok(ResolvedVariables { values, secrets })
    }

    pub fn values(&self) -> &HashMap<String, String> {
        &self.values
    }

    /// `text` with the value of every `secret` variable masked, for logs.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |text, secret| text.replace(secret, "***"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declare(default: Option<&str>, secret: bool) -> LockedVariable {
        LockedVariable {
            description: None,
            default: default.map(str::to_string),
            secret,
        }
    }

    fn declared() -> BTreeMap<String, LockedVariable> {
        BTreeMap::from([
            ("host".to_string(), declare(Some("127.0.0.1"), false)),
            ("port".to_string(), declare(Some("6379"), false)),
            ("password".to_string(), declare(Some(""), true)),
        ])
    }

    fn providers(flags: &[(&str, &str)], environment: &[(&str, &str)]) -> VariableProviders {
        let environment: HashMap<String, String> = environment
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        VariableProviders::with_environment(
            flags.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            move |name| Ok(environment.get(name).cloned()),
        )
        .unwrap()
    }

    #[test]
    fn flags_beat_environment_beats_default() {
        let resolved = ResolvedVariables::resolve(
            &declared(),
            &providers(
                &[("host", "from-flag")],
                &[
                    ("SPIN_VARIABLE_HOST", "from-env"),
                    ("SPIN_VARIABLE_PORT", "7000"),
                ],
            ),
        )
        .unwrap();
        assert_eq!(resolved.values()["host"], "from-flag");
        assert_eq!(resolved.values()["port"], "7000");
        assert_eq!(resolved.values()["password"], "");
    }

    #[test]
    fn a_required_variable_needs_a_provider() {
        let mut declared = declared();
        declared.insert("token".to_string(), declare(None, true));
        declared.insert("region".to_string(), declare(None, false));
        let error = ResolvedVariables::resolve(&declared, &providers(&[], &[])).unwrap_err();
        assert!(
            error.to_string().contains(r#"["region", "token"]"#)
                && error.to_string().contains("SPIN_VARIABLE_TOKEN"),
            "{error}"
        );
        let resolved = ResolvedVariables::resolve(
            &declared,
            &providers(&[("region", "eu")], &[("SPIN_VARIABLE_TOKEN", "t0k3n")]),
        )
        .unwrap();
        assert_eq!(resolved.values()["token"], "t0k3n");
    }

    #[test]
    fn secret_values_are_masked_in_logs() {
        let resolved = ResolvedVariables::resolve(
            &declared(),
            &providers(&[("password", "s3cr3t")], &[("SPIN_VARIABLE_HOST", "h")]),
        )
        .unwrap();
        assert_eq!(
            resolved.redact("redis://:s3cr3t@h:6379"),
            "redis://:***@h:6379"
        );
    }

    #[test]
    fn flags_must_name_valid_variables() {
        let error =
            VariableProviders::with_environment([("Bad".to_string(), "x".to_string())], |_| {
                Ok(None)
            })
            .err()
            .unwrap();
        assert!(
            format!("{error:#}").contains("invalid variable name"),
            "{error:#}"
        );
    }
}

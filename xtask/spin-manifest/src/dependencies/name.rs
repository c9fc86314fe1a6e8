//! Dependency names as a manifest writes them, and which component imports they satisfy: the
//! rules of Spin's `DependencyName` (crates/serde/src/dependencies.rs) and its `matches_import`
//! (crates/compose/src/lib.rs).

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use semver::Version;

/// A key of `[component.<id>.dependencies]`: a plain kebab-case import name (`foo-bar`) or a
/// package name with an optional interface and version (`foo:bar`, `foo:bar/baz@0.1.0`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DependencyName {
    Plain(String),
    Package {
        /// `namespace:name`.
        package: String,
        interface: Option<String>,
        version: Option<Version>,
    },
}

impl FromStr for DependencyName {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        if !s.contains([':', '/']) {
            check_kebab(s)?;
            return Ok(DependencyName::Plain(s.to_string()));
        }
        let (name, version) = match s.split_once('@') {
            Some((name, version)) => (
                name,
                Some(
                    version
                        .parse()
                        .with_context(|| format!("invalid version in {s:?}"))?,
                ),
            ),
            None => (s, None),
        };
        let (package, interface) = match name.split_once('/') {
            Some((package, interface)) => (package, Some(interface)),
            None => (name, None),
        };
        let Some((namespace, package_name)) = package.split_once(':') else {
            bail!("invalid package name {package:?}: expected `namespace:name`");
        };
        check_kebab(namespace)?;
        check_kebab(package_name)?;
        if let Some(interface) = interface {
            check_kebab(interface)?;
        }
        Ok(DependencyName::Package {
            package: package.to_string(),
            interface: interface.map(str::to_string),
            version,
        })
    }
}

impl fmt::Display for DependencyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DependencyName::Plain(name) => f.write_str(name),
            DependencyName::Package {
                package,
                interface,
                version,
            } => {
                f.write_str(package)?;
                if let Some(interface) = interface {
                    write!(f, "/{interface}")?;
                }
                if let Some(version) = version {
                    write!(f, "@{version}")?;
                }
                Ok(())
            }
        }
    }
}

/// As the key of a locked component's `dependencies`: the name as written.
impl serde::Serialize for DependencyName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl DependencyName {
    /// The name the dependency's component is registered under in the composition graph.
    pub fn package_name(&self) -> &str {
        match self {
            DependencyName::Plain(name) => name,
            DependencyName::Package { package, .. } => package,
        }
    }

    /// Whether the dependency satisfies the component import `import` (e.g.
    /// `order-system:fulfilment/fulfil@0.1.0`): a plain name only an equal plain import; a
    /// package name every interface of the package, narrowed by interface and version when
    /// given. An unversioned import matches no versioned name.
    pub fn matches_import(&self, import: &str) -> Result<bool> {
        let imported = if import.contains([':', '/']) {
            let (package, rest) = import
                .split_once('/')
                .with_context(|| format!("invalid import name: {import}"))?;
            let (interface, version) = match rest.split_once('@') {
                Some((interface, version)) => (
                    interface,
                    Some(
                        Version::parse(version)
                            .with_context(|| format!("invalid version in import name: {import}"))?,
                    ),
                ),
                None => (rest, None),
            };
            Some((package, interface, version))
        } else {
            None
        };
        Ok(match (self, imported) {
            (DependencyName::Plain(name), None) => name == import,
            (
                DependencyName::Package {
                    package,
                    interface,
                    version,
                },
                Some((imported_package, imported_interface, imported_version)),
            ) => {
                package == imported_package
                    && interface.as_deref().is_none_or(|i| i == imported_interface)
                    && version
                        .as_ref()
                        .is_none_or(|v| imported_version.as_ref() == Some(v))
            }
            _ => false,
        })
    }
}

/// A WIT identifier: lower-case words of letters and digits, each starting with a letter,
/// joined by single hyphens.
fn check_kebab(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.split('-').all(|word| {
            word.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !ok {
        bail!("{s:?} is not a kebab-case name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DependencyName {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// The matching table of Spin's own test of `matches_import` (crates/compose).
    #[test]
    fn matches_imports_as_spin_does() {
        for (dependency, imports) in [
            ("foo:bar/baz@0.1.0", vec!["foo:bar/baz@0.1.0"]),
            ("foo:bar/baz", vec!["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar", vec!["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar@0.1.0", vec!["foo:bar/baz@0.1.0"]),
            ("foo-bar", vec!["foo-bar"]),
        ] {
            for import in imports {
                assert!(
                    name(dependency).matches_import(import).unwrap(),
                    "{dependency} {import}"
                );
            }
        }
        for (dependency, imports) in [
            ("foo:bar/baz@0.1.0", vec!["foo:bar/baz"]),
            ("foo:bar/baz", vec!["foo:bar/bub", "foo:bar/bub@0.1.0"]),
            ("foo:bar", vec!["foo:bub/bib"]),
            ("foo:bar@0.1.0", vec!["foo:bar/baz"]),
            ("foo:bar/baz", vec!["foo:bar/baz-bub", "foo-bar"]),
        ] {
            for import in imports {
                assert!(
                    !name(dependency).matches_import(import).unwrap(),
                    "{dependency} {import}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip_and_bad_names_are_refused() {
        for good in [
            "foo-bar",
            "foo:bar",
            "foo:bar@0.1.0",
            "foo:bar/baz",
            "order-system:fulfilment/fulfil@0.1.0",
        ] {
            assert_eq!(name(good).to_string(), good);
        }
        for bad in [
            "Foo",
            "foo:Bar",
            "foo/bar",
            "foo:bar@x",
            "foo:bar/",
            "foo--bar",
            "1foo",
        ] {
            assert!(bad.parse::<DependencyName>().is_err(), "{bad}");
        }
    }
}

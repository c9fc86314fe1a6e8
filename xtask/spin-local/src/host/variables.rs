//! `fermyon:spin/variables@2.0.0`, as Spin's variables factor provides it: a component sees only
//! its own `[component.<id>.variables]` (the locked component's `config`), templates resolved
//! over the app's variables once, at load.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{Context, Result};
use spin_manifest::{ResolvedVariables, Template, check_variable_name};

use crate::bindings::variables;

/// What `variables.get` answers for one component.
#[derive(Clone, Debug)]
pub struct ComponentVariables {
    component: String,
    values: HashMap<String, String>,
}

/// Why `get` found no value; these map one to one onto the WIT `error` cases.
#[derive(Debug, PartialEq, Eq)]
pub enum GetError {
    InvalidName(String),
    Undefined(String),
}

impl ComponentVariables {
    /// Component `component`'s variables: `config` (name → template, names checked by the
    /// manifest) resolved over the app's. Errors: a template naming a variable the app does not
    /// declare.
    pub fn resolve(
        component: &str,
        config: &BTreeMap<String, String>,
        app: &ResolvedVariables,
    ) -> Result<ComponentVariables> {
        let mut values = HashMap::new();
        for (name, template) in config {
            let value = Template::parse(template)
                .and_then(|template| template.resolve(app.values()))
                .with_context(|| format!("variable {name:?}"))?;
            values.insert(name.clone(), value);
        }
        Ok(ComponentVariables {
            component: component.to_string(),
            values,
        })
    }

    pub fn get(&self, name: &str) -> Result<String, GetError> {
        check_variable_name(name).map_err(|error| GetError::InvalidName(error.to_string()))?;
        self.values.get(name).cloned().ok_or_else(|| {
            GetError::Undefined(format!("no variable for {:?}.{name:?}", self.component))
        })
    }
}

/// The capability's state in one instance's store.
pub struct InstanceVariables(pub Arc<ComponentVariables>);

impl variables::Host for InstanceVariables {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        self.0.get(&name).map_err(|error| match error {
            GetError::InvalidName(why) => variables::Error::InvalidName(why),
            GetError::Undefined(why) => variables::Error::Undefined(why),
        })
    }
}

#[cfg(test)]
mod tests {
    use spin_manifest::{LockedVariable, VariableProviders};

    use super::*;

    #[test]
    fn components_see_only_their_own_variables() {
        let declared = BTreeMap::from([("host", Some("127.0.0.1")), ("port", Some("6379"))])
            .into_iter()
            .map(|(name, default)| {
                let variable = LockedVariable {
                    description: None,
                    default: default.map(str::to_string),
                    secret: false,
                };
                (name.to_string(), variable)
            })
            .collect();
        let providers = VariableProviders::with_environment([], |_| Ok(None)).unwrap();
        let resolved = ResolvedVariables::resolve(&declared, &providers).unwrap();
        let config = BTreeMap::from([(
            "address".to_string(),
            "redis://{{ host }}:{{ port }}".to_string(),
        )]);
        let variables = ComponentVariables::resolve("api", &config, &resolved).unwrap();
        assert_eq!(variables.get("address").unwrap(), "redis://127.0.0.1:6379");
        assert_eq!(
            variables.get("host"),
            Err(GetError::Undefined(
                r#"no variable for "api"."host""#.into()
            ))
        );
        assert!(matches!(
            variables.get("Bad-Name"),
            Err(GetError::InvalidName(_))
        ));
        let config = BTreeMap::from([("token".to_string(), "{{ missing }}".to_string())]);
        let error = ComponentVariables::resolve("api", &config, &resolved).unwrap_err();
        assert!(
            format!("{error:#}").contains("\"missing\", which is not an application variable"),
            "{error:#}"
        );
    }
}

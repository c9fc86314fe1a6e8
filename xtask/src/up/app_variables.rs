//! The apps' variables as `cargo xtask up` sees them. The runtime it starts (spin-local or
//! `spin up`) resolves each variable from a `--variable NAME=VALUE` flag, else
//! `SPIN_VARIABLE_<NAME>` in its environment (inherited from `up`), else that line of `.env` in
//! the current directory, else the manifest's default (Spin's default providers); `up` resolves
//! them the same way, so its readiness wait, its reconciler and its Redis location agree with
//! what the apps use.

use std::collections::HashMap;

use anyhow::{Context, Result};
use order_model::Settings;
use spin_manifest::VariableProviders;

use crate::project::App;

/// Where values come from besides the manifests' defaults: Spin's providers.
pub struct AppVariables {
    providers: VariableProviders,
}

impl AppVariables {
    /// `flags` over this process' environment. `.env` in the current directory is loaded into
    /// that environment first, never over a variable already set: Spin's precedence, and the
    /// runtime, which inherits the environment, sees the same values.
    pub fn from_process(flags: &[(String, String)]) -> Result<AppVariables> {
        match dotenvy::from_path(".env") {
            Ok(()) => {}
            Err(error) if error.not_found() => {}
            Err(error) => return Err(error).context("reading .env"),
        }
        Ok(AppVariables {
            providers: VariableProviders::new(flags.iter().cloned())?,
        })
    }

    #[cfg(test)]
    /// `flags` (the last one for a name winning, as with clap's repeated flags) over
    /// `environment`, which looks up an environment variable. A flag must name a variable
    /// validly.
    pub fn with_environment(
        flags: &[(String, String)],
        environment: impl Fn(&str) -> Result<Option<String>> + Send + Sync + 'static,
    ) -> Result<AppVariables> {
        Ok(AppVariables {
            providers: VariableProviders::with_environment(flags.iter().cloned(), environment)?,
        })
    }

    /// The value given for `name` by a flag or the environment, if any.
    pub fn given(&self, name: &str) -> Result<Option<String>> {
        self.providers.given(name)
    }

    /// `name`'s value: given, else the default of the first app that declares one.
    pub fn value(&self, apps: &[App], name: &str) -> Result<String> {
        match self.given(name)? {
            Some(value) => Ok(value),
            None => apps
                .iter()
                .find_map(|app| app.variable_defaults.get(name).cloned())
                .with_context(|| format!("no app defines the variable {name:?}")),
        }
    }

    /// Every variable `app` declares with a default, with its value.
    pub fn app_values(&self, app: &App) -> Result<HashMap<String, String>> {
        let mut values = HashMap::new();
        for (name, default) in &app.variable_defaults {
            let value = self.given(name)?.unwrap_or_else(|| default.clone());
            values.insert(name.clone(), value);
        }
        Ok(values)
    }

    /// The settings the components will load (Redis location, channel, key prefix), checked as
    /// they check them; an error names the variable.
    pub fn settings(&self, apps: &[App]) -> Result<Settings> {
        let get = |name: &str| self.value(apps, name).map_err(|error| format!("{error:#}"));
        Settings::load(get).map_err(|error| {
            // The components' message leaves the offending character out of their logs; the
            // user who typed the password here is shown which one it is.
            match get(order_model::config::vars::REDIS_PASSWORD)
                .ok()
                .and_then(|password| order_model::config::decode_url_password(&password).err())
            {
                Some(why) => anyhow::anyhow!(
                    "variable `{}`: {why}",
                    order_model::config::vars::REDIS_PASSWORD
                ),
                None => anyhow::Error::msg(error),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use spin_manifest::Template;

    use super::*;
    use crate::project;

    fn variables(flags: &[(&str, &str)], environment: &[(&str, &str)]) -> AppVariables {
        let flags: Vec<(String, String)> = flags
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let environment: HashMap<String, String> = environment
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        AppVariables::with_environment(&flags, move |name| Ok(environment.get(name).cloned()))
            .unwrap()
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_defaults() {
        let apps = project::apps().unwrap();
        let given = variables(
            &[("key_prefix", "first:"), ("key_prefix", "shop1:")],
            &[
                ("SPIN_VARIABLE_KEY_PREFIX", "from-env:"),
                ("SPIN_VARIABLE_ORDER_CHANNEL", "orders-v2"),
            ],
        );
        assert_eq!(given.value(&apps, "key_prefix").unwrap(), "shop1:");
        assert_eq!(given.value(&apps, "order_channel").unwrap(), "orders-v2");
        assert_eq!(given.value(&apps, "redis_port").unwrap(), "6379");
        let error = given.value(&apps, "no_such_variable").unwrap_err();
        assert!(error.to_string().contains("no_such_variable"), "{error}");

        let fulfilment = &apps[0];
        let values = given.app_values(fulfilment).unwrap();
        assert_eq!(values["order_channel"], "orders-v2");
        let channels: Vec<String> = fulfilment
            .redis_channels
            .iter()
            .map(|template| Template::parse(template).unwrap().resolve(&values).unwrap())
            .collect();
        assert_eq!(channels, ["orders-v2"]);
    }

    #[test]
    fn settings_are_checked_as_the_components_check_them() {
        let apps = project::apps().unwrap();
        let settings = variables(&[], &[("SPIN_VARIABLE_ORDER_CHANNEL", "orders-v2")])
            .settings(&apps)
            .unwrap();
        assert_eq!(settings.channel, "orders-v2");
        assert_eq!(settings.keys.prefix(), "order:");
        let error = variables(&[("redis_password", "Ab1/cD")], &[])
            .settings(&apps)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("redis_password") && error.contains("%2F"),
            "{error}"
        );
        let settings = variables(&[("redis_user", "order-processor")], &[])
            .settings(&apps)
            .unwrap();
        assert_eq!(settings.redis_user, "order-processor");
        // A `:` would end the user name in the trigger's address: written `%3A`.
        let error = variables(&[], &[("SPIN_VARIABLE_REDIS_USER", "team:a")])
            .settings(&apps)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("redis_user") && error.contains("%3A"),
            "{error}"
        );
    }
}

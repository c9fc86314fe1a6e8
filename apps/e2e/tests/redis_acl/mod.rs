//! The Redis ACL users of the chart's roles, made from the chart's one source of their rules,
//! `charts/order-system/files/redis-acl.conf` (its header describes the format): for tests that
//! run the apps as those users against a real redis-server.

#![allow(dead_code)] // each test file uses its own subset

use order_e2e::harness::{self, workspace_root};

/// The rules file, from the repository root.
pub const RULES_FILE: &str = "charts/order-system/files/redis-acl.conf";

/// `text` with the characters a Redis glob pattern gives a meaning escaped.
fn glob_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = matches!(c, '*' | '?' | '[' | ']' | '\\');
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// The rules of `role` in the file, `{prefix}` and `{channel}` replaced.
pub fn rules(role: &str, prefix: &str, channel: &str) -> Vec<String> {
    let path = workspace_root().join(RULES_FILE);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let rules: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once(char::is_whitespace))
        .filter(|(name, _)| *name == role)
        .flat_map(|(_, rules)| rules.split_whitespace())
        .map(|rule| {
            rule.replace("{prefix}", &glob_escape(prefix))
                .replace("{channel}", &glob_escape(channel))
        })
        .collect();
    assert!(!rules.is_empty(), "{RULES_FILE} has no rules for {role}");
    rules
}

/// One user allowed what all `roles` are (same keys and channels): the first role's rules, then
/// the commands the others add. Each role's rules start from `reset` and `-@all`, so they cannot
/// simply follow each other.
pub fn union(roles: &[&str], prefix: &str, channel: &str) -> Vec<String> {
    let mut all = rules(roles[0], prefix, channel);
    for role in &roles[1..] {
        all.extend(
            rules(role, prefix, channel)
                .into_iter()
                .filter(|rule| rule.starts_with('+')),
        );
    }
    all
}

/// `ACL SETUSER name <rules> on ><password>`, as the admin (`default`) user on `db`.
pub fn create_user(db: &mut redis::Connection, name: &str, rules: &[String], password: &str) {
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg(name)
        .arg(rules)
        .arg("on")
        .arg(format!(">{password}"))
        .query(db)
        .unwrap_or_else(|error| panic!("ACL SETUSER {name} {rules:?}: {error}"));
}

/// The entries of `ACL LOG` (commands, keys and channels refused to a user), each as its
/// fields' text, except the `CLIENT SETINFO` a client library sends at connect and ignores a
/// refusal of (the rules file does not grant it).
pub fn refusals(db: &mut redis::Connection) -> Vec<String> {
    let log: Vec<Vec<redis::Value>> = redis::cmd("ACL").arg("LOG").query(db).unwrap();
    log.into_iter()
        .map(|entry| {
            entry
                .iter()
                .map(|value| match value {
                    redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    redis::Value::SimpleString(text) => text.clone(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|entry| !entry.contains("client|setinfo"))
        .collect()
}

/// Each role's password in these tests: URL-special characters, so that the user goes with a
/// percent-encoded password through the trigger's address as it will in a cluster.
pub fn password(role: &str) -> String {
    format!("{role}/pw+1=")
}

/// `text` percent-encoded byte by byte: the URL form the apps' `redis_password` takes.
pub fn encoded(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// A redis-server whose `default` user (the admin) has `password`, and a connection as it.
pub fn redis_with_admin(password: &str) -> (dev_services::RedisServer, redis::Connection) {
    let redis = dev_services::RedisServer::start_with(dev_services::RedisOptions {
        password: Some(password.to_string()),
        ..dev_services::RedisOptions::default()
    })
    .unwrap();
    let db = harness::connection(&redis);
    (redis, db)
}

/// A redis-server whose `default` user (the admin) has a password, with a user per role in
/// `roles` (named after it, [`password`] its password) for `prefix` and `channel`.
pub fn redis_with_users(roles: &[&str], prefix: &str, channel: &str) -> dev_services::RedisServer {
    let (redis, mut db) = redis_with_admin("admin-only");
    for role in roles {
        create_user(
            &mut db,
            role,
            &rules(role, prefix, channel),
            &password(role),
        );
    }
    redis
}

/// The reconciler running every second as its own user, re-publishing orders pending 1 s.
pub fn reconciler_as_its_user(
    redis: &dev_services::RedisServer,
    prefix: &str,
    channel: &str,
) -> dev_services::Reconciler {
    let options = dev_services::ReconcilerOptions {
        user: Some("reconciler".to_string()),
        password: Some(password("reconciler")),
        channel: channel.to_string(),
        key_prefix: prefix.to_string(),
        ..dev_services::ReconcilerOptions::for_server(redis)
    };
    dev_services::Reconciler::start(options, std::time::Duration::from_secs(1)).unwrap()
}

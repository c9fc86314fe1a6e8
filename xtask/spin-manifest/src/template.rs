//! Spin's manifest templates: literal text with `{{ variable }}` expressions, used by component
//! variables, trigger addresses and channels, and `allowed_outbound_hosts`.

use std::collections::HashMap;
use std::fmt;

use anyhow::{Result, bail};

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Parses `text`; everything between `{{` and the next `}}` (trimmed) names a variable.
    pub fn parse(text: &str) -> Result<Template> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(expression) = rest.strip_prefix("{{") {
                let Some((name, after)) = expression.split_once("}}") else {
                    bail!("unmatched `{{{{` in template {text:?}");
                };
                parts.push(Part::Variable(name.trim().to_string()));
                rest = after;
            } else {
                let end = rest.find("{{").unwrap_or(rest.len());
                parts.push(Part::Literal(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        Ok(Template {
            source: text.to_string(),
            parts,
        })
    }

    /// The text with every expression replaced by its variable's value.
    pub fn resolve(&self, values: &HashMap<String, String>) -> Result<String> {
        let mut resolved = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => resolved.push_str(text),
                Part::Variable(name) => match values.get(name) {
                    Some(value) => resolved.push_str(value),
                    None => bail!(
                        "template {:?} uses {name:?}, which is not an application variable",
                        self.source
                    ),
                },
            }
        }
        Ok(resolved)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> HashMap<String, String> {
        HashMap::from([
            ("host".to_string(), "db.local".to_string()),
            ("port".to_string(), "6380".to_string()),
        ])
    }

    #[test]
    fn substitutes_expressions_with_or_without_spaces() {
        let template = Template::parse("redis://{{ host }}:{{port}}/x").unwrap();
        assert_eq!(
            template.resolve(&values()).unwrap(),
            "redis://db.local:6380/x"
        );
        assert_eq!(
            Template::parse("{{host}}{{port}}")
                .unwrap()
                .resolve(&values())
                .unwrap(),
            "db.local6380"
        );
    }

    #[test]
    fn literal_text_stays_as_is() {
        let template = Template::parse("neworders").unwrap();
        assert_eq!(template.resolve(&HashMap::new()).unwrap(), "neworders");
        assert_eq!(
            Template::parse("")
                .unwrap()
                .resolve(&HashMap::new())
                .unwrap(),
            ""
        );
    }

    #[test]
    fn rejects_unmatched_braces_and_unknown_variables() {
        let error = Template::parse("{{ host }} {{ port").unwrap_err();
        assert!(error.to_string().contains("unmatched"), "{error}");
        let error = Template::parse("{{ nope }}")
            .unwrap()
            .resolve(&values())
            .unwrap_err();
        assert!(error.to_string().contains("\"nope\""), "{error}");
    }
}

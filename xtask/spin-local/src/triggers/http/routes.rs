//! HTTP routing as Spin does it (on the same `routefinder` crate): an exact route beats a
//! wildcard, a longer wildcard beats a shorter one, `/x/...` also matches `/x` itself, and
//! `:name` segments capture. Manifest v2 has no trigger base: routes are based at `/`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::{Result, anyhow};

/// A routable `[[trigger.http]]` entry: its route as written, and its component.
#[derive(Clone, Debug)]
pub struct HttpRoute {
    pub route: String,
    pub component: String,
}

/// Paths under this prefix are Spin's own and never reach a component.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

pub struct Router {
    routes: routefinder::Router<Route>,
}

#[derive(Debug)]
struct Route {
    component: String,
    /// The route as written in the manifest.
    raw: String,
    /// The route after Spin's normalisation (leading `/`, one trailing `/` dropped).
    based: String,
}

impl Router {
    /// Builds the router; like Spin, a later duplicate of a route replaces the earlier one
    /// (and is reported on stderr, as are routes under the reserved well-known prefix).
    pub fn build(routes: &[HttpRoute]) -> Result<Router> {
        let mut unique: BTreeMap<&str, &HttpRoute> = BTreeMap::new();
        for route in routes {
            if let Some(replaced) = unique.insert(&route.route, route) {
                eprintln!(
                    "route {:?} of component {:?} is a duplicate and will never be used (component {:?} has it too)",
                    route.route, replaced.component, route.component
                );
            }
        }
        let mut router = routefinder::Router::new();
        for route in unique.into_values() {
            let based = normalise(&route.route);
            if based.starts_with(WELL_KNOWN_PREFIX) {
                eprintln!(
                    "route {:?} of component {:?} is under {WELL_KNOWN_PREFIX}, which the runtime handles: it will never be reached",
                    route.route, route.component
                );
            }
            let spec = match based.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => based.clone(),
            };
            router
                .add(
                    spec.as_str(),
                    Route {
                        component: route.component.clone(),
                        raw: route.route.clone(),
                        based,
                    },
                )
                .map_err(|error| {
                    anyhow!(
                        "invalid route {:?} for component {:?}: {error}",
                        route.route,
                        route.component
                    )
                })?;
        }
        Ok(Router { routes: router })
    }

    /// The best route for `path`, if any.
    pub fn route<'a>(&'a self, path: &'a str) -> Option<RouteMatch<'a>> {
        let found = self.routes.best_match(path)?;
        Some(RouteMatch {
            route: found.handler(),
            captures: found.captures(),
            path,
        })
    }

    /// `(route as displayed, component)` for each route, for the start-up summary.
    pub fn routes(&self) -> impl Iterator<Item = (String, &str)> {
        self.routes.iter().map(|(_, route)| {
            let shown = match route.based.strip_suffix("/...") {
                Some(prefix) => format!("{prefix} (wildcard)"),
                None => route.based.clone(),
            };
            (shown, route.component.as_str())
        })
    }
}

/// Spin's route normalisation with the base `/`: make the route absolute and drop a single
/// trailing slash.
fn normalise(route: &str) -> String {
    let absolute = if route.starts_with('/') {
        route.to_string()
    } else {
        format!("/{route}")
    };
    match absolute.strip_suffix('/') {
        Some(stripped) => stripped.to_string(),
        None => absolute,
    }
}

pub struct RouteMatch<'a> {
    route: &'a Route,
    captures: routefinder::Captures<'a, 'a>,
    path: &'a str,
}

impl<'a> RouteMatch<'a> {
    pub fn component(&self) -> &str {
        &self.route.component
    }

    /// The route as the manifest writes it (`/order/...`): Spin's `http.route`.
    pub fn raw_route(&self) -> &'a str {
        &self.route.raw
    }

    /// The part of the path the wildcard matched, with Spin's slash rules: `/x/...` gives
    /// `""` for `/x`, `"/"` for `/x/`, `"/y"` for `/x/y` and `"/y/"` for `/x/y/`.
    pub fn path_info(&self) -> String {
        let Some(rest) = self.captures.wildcard() else {
            return String::new();
        };
        match (rest.is_empty(), self.path.ends_with('/')) {
            (true, false) => String::new(),
            (true, true) => "/".to_string(),
            (false, false) => format!("/{rest}"),
            (false, true) => format!("/{rest}/"),
        }
    }

    /// The `spin-*` headers a component receives with the request, given the request's full
    /// path and query, its host, and the client's address.
    pub fn spin_headers(
        &self,
        path_and_query: &str,
        host: &str,
        client: SocketAddr,
    ) -> Vec<(String, String)> {
        let mut headers = vec![
            ("spin-path-info".to_string(), self.path_info()),
            (
                "spin-full-url".to_string(),
                format!("http://{host}{path_and_query}"),
            ),
            ("spin-matched-route".to_string(), self.route.based.clone()),
            ("spin-base-path".to_string(), "/".to_string()),
            (
                "spin-raw-component-route".to_string(),
                self.route.raw.clone(),
            ),
            (
                "spin-component-route".to_string(),
                self.route
                    .raw
                    .strip_suffix("/...")
                    .unwrap_or(&self.route.raw)
                    .to_string(),
            ),
            ("spin-client-addr".to_string(), client.to_string()),
        ];
        for capture in self.captures.iter() {
            headers.push((
                format!("spin-path-match-{}", capture.0.to_ascii_lowercase()),
                capture.1.to_string(),
            ));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let routes: Vec<HttpRoute> = routes
            .iter()
            .map(|(route, component)| HttpRoute {
                route: route.to_string(),
                component: component.to_string(),
            })
            .collect();
        Router::build(&routes).unwrap()
    }

    fn component(router: &Router, path: &str) -> Option<String> {
        router
            .route(path)
            .map(|found| found.component().to_string())
    }

    #[test]
    fn exact_beats_wildcard_and_the_wildcard_matches_its_bare_prefix() {
        // The order-processor's routes.
        let router = router(&[("/order", "receiver"), ("/order/...", "status-provider")]);
        assert_eq!(component(&router, "/order").as_deref(), Some("receiver"));
        assert_eq!(
            component(&router, "/order/123").as_deref(),
            Some("status-provider")
        );
        assert_eq!(
            component(&router, "/order/1/2").as_deref(),
            Some("status-provider")
        );
        assert_eq!(component(&router, "/orders"), None);
        assert_eq!(component(&router, "/"), None);

        let wildcard_only = router_with_wildcard();
        assert_eq!(
            component(&wildcard_only, "/order").as_deref(),
            Some("status")
        );
    }

    fn router_with_wildcard() -> Router {
        router(&[("/order/...", "status")])
    }

    #[test]
    fn the_longest_wildcard_wins_whatever_the_order() {
        for routes in [
            [("/...", "all"), ("/a/...", "a"), ("/a/b/...", "ab")],
            [("/a/b/...", "ab"), ("/a/...", "a"), ("/...", "all")],
        ] {
            let router = router(&routes);
            assert_eq!(component(&router, "/a/b/c").as_deref(), Some("ab"));
            assert_eq!(component(&router, "/a/c").as_deref(), Some("a"));
            assert_eq!(component(&router, "/c").as_deref(), Some("all"));
            assert_eq!(component(&router, "/").as_deref(), Some("all"));
        }
    }

    #[test]
    fn path_info_follows_spins_slash_rules() {
        let router = router_with_wildcard();
        for (path, info) in [
            ("/order", ""),
            ("/order/", "/"),
            ("/order/42", "/42"),
            ("/order/42/", "/42/"),
            ("/order/a/b", "/a/b"),
        ] {
            assert_eq!(router.route(path).unwrap().path_info(), info, "{path}");
        }
        let exact = self::router(&[("/order", "receiver")]);
        assert_eq!(exact.route("/order").unwrap().path_info(), "");
    }

    #[test]
    fn spin_headers_describe_the_match() {
        let router = router(&[("/order/...", "status-provider")]);
        let found = router.route("/order/42").unwrap();
        let client: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let headers = found.spin_headers("/order/42?x=1", "localhost:3000", client);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(header, _)| header == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(
            get("spin-full-url"),
            Some("http://localhost:3000/order/42?x=1")
        );
        assert_eq!(get("spin-path-info"), Some("/42"));
        assert_eq!(get("spin-matched-route"), Some("/order/..."));
        assert_eq!(get("spin-raw-component-route"), Some("/order/..."));
        assert_eq!(get("spin-component-route"), Some("/order"));
        assert_eq!(get("spin-base-path"), Some("/"));
        assert_eq!(get("spin-client-addr"), Some("127.0.0.1:50000"));
        assert_eq!(headers.len(), 7);
    }

    #[test]
    fn named_segments_capture_into_headers() {
        let router = router(&[("/users/:id/...", "users")]);
        let found = router.route("/users/7/orders").unwrap();
        assert_eq!(found.path_info(), "/orders");
        let client: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let headers = found.spin_headers("/users/7/orders", "h", client);
        assert!(headers.contains(&("spin-path-match-id".to_string(), "7".to_string())));
    }

    #[test]
    fn routes_are_normalised_and_a_later_duplicate_wins() {
        let router = router(&[("order/", "first"), ("/other", "x"), ("order/", "second")]);
        assert_eq!(component(&router, "/order").as_deref(), Some("second"));
        let shown: Vec<_> = router.routes().map(|(route, _)| route).collect();
        assert!(shown.contains(&"/order".to_string()), "{shown:?}");
        let wildcard = router_with_wildcard();
        let shown: Vec<_> = wildcard.routes().map(|(route, _)| route).collect();
        assert_eq!(shown, ["/order (wildcard)"]);
    }
}

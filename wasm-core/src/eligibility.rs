//! Which downloads may be shared at all (ARCHITECTURE §6). The native host and the
//! browser-only peer both ask this one function, so the two modes never disagree.

use crate::policy::Policy;

/// What is known of the browser's request for a download.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub url: &'a url::Url,
    /// Names of the request headers the browser sent.
    pub header_names: &'a [&'a str],
    pub incognito: bool,
    /// `None` when the method is unknown (a URL typed on the command line).
    pub method: Option<&'a str>,
}

/// Whether the request carried credentials: such downloads are never shared.
pub fn has_credentials(url: &url::Url, header_names: &[&str]) -> bool {
    !url.username().is_empty()
        || url.password().is_some()
        || header_names.iter().any(|n| {
            n.eq_ignore_ascii_case("cookie")
                || n.eq_ignore_ascii_case("authorization")
                || n.eq_ignore_ascii_case("proxy-authorization")
        })
}

/// Why the download must be left alone, or `None` when it may be shared.
pub fn ineligible(policy: &Policy, r: &Request<'_>) -> Option<&'static str> {
    if !policy.enabled {
        return Some("disabled");
    }
    if !matches!(r.url.scheme(), "http" | "https") {
        return Some("scheme");
    }
    if r.method.is_some_and(|m| !m.eq_ignore_ascii_case("GET")) {
        return Some("method");
    }
    if r.incognito {
        return Some("incognito");
    }
    if has_credentials(r.url, r.header_names) {
        return Some("credentials");
    }
    if !policy.domain_allowed(r.url.host_str().unwrap_or_default()) {
        return Some("domain");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(
        url: &str,
        headers: &[&str],
        incognito: bool,
        method: Option<&str>,
    ) -> Option<&'static str> {
        let url = url::Url::parse(url).unwrap();
        let policy = Policy {
            blocked_domains: vec!["blocked.example".into()],
            ..Policy::default()
        };
        ineligible(
            &policy,
            &Request {
                url: &url,
                header_names: headers,
                incognito,
                method,
            },
        )
    }

    #[test]
    fn each_rule_names_itself() {
        assert_eq!(
            why("https://a.example/f", &["Referer"], false, Some("GET")),
            None
        );
        assert_eq!(why("ftp://a.example/f", &[], false, None), Some("scheme"));
        assert_eq!(
            why("https://a.example/f", &[], false, Some("POST")),
            Some("method")
        );
        assert_eq!(
            why("https://a.example/f", &[], true, None),
            Some("incognito")
        );
        assert_eq!(
            why("https://a.example/f", &["COOKIE"], false, None),
            Some("credentials")
        );
        assert_eq!(
            why("https://u:p@a.example/f", &[], false, None),
            Some("credentials")
        );
        assert_eq!(
            why("https://blocked.example/f", &[], false, None),
            Some("domain")
        );
        let off = Policy {
            enabled: false,
            ..Policy::default()
        };
        let url = url::Url::parse("https://a.example/f").unwrap();
        let r = Request {
            url: &url,
            header_names: &[],
            incognito: false,
            method: None,
        };
        assert_eq!(ineligible(&off, &r), Some("disabled"));
    }
}

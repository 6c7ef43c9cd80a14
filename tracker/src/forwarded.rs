//! The client's address when the tracker sits behind a reverse proxy (TLS is usually
//! terminated in front of it): the proxy's own address would lump every client into
//! one for the per-address limits on mapping records. Only a proxy named on the
//! command line is believed, and only the entry it appended itself (the last one):
//! anything before it came from the client and could be forged.

use std::net::{IpAddr, SocketAddr};

use tokio_tungstenite::tungstenite::http::HeaderMap;

/// The address a trusted proxy says it accepted the connection from, if it says so
/// in a form that parses.
pub fn client_of(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    let entry = last.to_str().ok()?.rsplit(',').next()?.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_entry_the_proxy_appended_counts() {
        assert_eq!(
            client_of(&headers(&["10.9.9.9, 192.0.2.7"])),
            Some(IpAddr::from([192, 0, 2, 7]))
        );
        assert_eq!(
            client_of(&headers(&["10.9.9.9", "2001:db8::5"])),
            "2001:db8::5".parse().ok()
        );
        assert_eq!(
            client_of(&headers(&["192.0.2.7:51000"])),
            Some(IpAddr::from([192, 0, 2, 7]))
        );
    }

    #[test]
    fn nothing_usable_is_none() {
        assert_eq!(client_of(&HeaderMap::new()), None);
        assert_eq!(client_of(&headers(&["unknown"])), None);
        assert_eq!(client_of(&headers(&["192.0.2.7, "])), None);
        assert_eq!(client_of(&headers(&[""])), None);
    }
}

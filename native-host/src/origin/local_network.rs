//! This machine and private networks, as far as mirrors go: a public origin must not
//! point the host at them, whether by an address in a mirror's URL, by a name that
//! resolves there, or by a redirect (a page could otherwise make the host probe the
//! user's own network).

use std::net::{IpAddr, SocketAddr};

use url::Url;

/// Whether `ip` is this machine, a private or link-local network, or no address.
pub fn is_local_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                // 100.64/10, carrier-grade NAT: private in all but name.
                || (a.octets()[0] == 100 && (a.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            a.is_loopback()
                || a.is_unspecified()
                || a.is_unique_local()
                || a.is_unicast_link_local()
                || a.to_ipv4_mapped()
                    .is_some_and(|v4| is_local_ip(IpAddr::V4(v4)))
        }
    }
}

/// Whether `url` names this machine or a private network by address (or
/// `localhost`). Names that resolve there are caught by [`PublicOnly`].
pub fn is_local(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => is_local_ip(IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => is_local_ip(IpAddr::V6(a)),
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// A resolver that keeps only public addresses: a name that resolves to nothing
/// else fails, as an unknown name does.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_local_ip(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;

    #[test]
    fn private_and_loopback_addresses_are_local() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(is_local_ip(a.parse().unwrap()), "{a}");
        }
        for a in [
            "93.184.216.34",
            "100.128.0.1",
            "2606:4700::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_local_ip(a.parse().unwrap()), "{a}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_this_machine_is_refused() {
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let e = match PublicOnly.resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert!(e.to_string().contains("no public address"), "{e}");
    }
}

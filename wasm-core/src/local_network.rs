//! This machine and private networks, by address: a public origin must not point a
//! peer at them (mirrors, redirects), or a page could make it probe the user's own
//! network. Names that resolve there are the driver's to catch (the host's
//! `origin::local_network::PublicOnly`).

use std::net::IpAddr;

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
/// `localhost`). Names that resolve there are caught by the driver's resolver.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

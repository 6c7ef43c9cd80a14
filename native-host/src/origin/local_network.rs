//! This machine and private networks, as far as mirrors go: a public origin must not
//! point the host at them, whether by an address in a mirror's URL, by a name that
//! resolves there, or by a redirect (a page could otherwise make the host probe the
//! user's own network).

use std::net::SocketAddr;

pub use swarmload_core::local_network::{is_local, is_local_ip};

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

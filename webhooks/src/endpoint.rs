//! Where deliveries may go: the URL policy, and the address check that backs it at
//! connection time.
//!
//! # Why this matters (SSRF)
//! A subscription makes Anslut's servers send POST requests to a URL chosen by a caller. Left
//! unchecked, that is server-side request forgery: a URL naming `169.254.169.254` (cloud
//! metadata), `localhost:5432` or an internal service turns the webhook worker into a probe of
//! the network it runs in, and the delivery log (status codes, errors, timings) into its
//! oracle. The defences, in order:
//!
//! 1. **At registration** ([`UrlPolicy::check`]): `https` only (`http` only to a loopback host,
//!    and only when [`UrlPolicy::allow_http_loopback`] is set, for development and tests);
//!    no user name or password in the URL (they would be sent as Basic credentials and
//!    stored in clear); no fragment; at most 2,048 bytes. With
//!    [`UrlPolicy::refuse_private_addresses`] (on in production), a host written as an IP
//!    address must be a public one, and `localhost` names are refused.
//! 2. **At every attempt** the same check runs again (the settings may have changed), and
//!    host names are resolved by [`GuardedResolver`], which drops every non-public address
//!    from the answer when `refuse_private_addresses` is on. The check is thus made on the
//!    addresses actually connected to, not on what the name resolved to at registration: a
//!    name that later resolves to `10.0.0.5` (DNS rebinding) fails the attempt.
//! 3. **No redirects** are followed (a 3xx is a failed attempt, as Standard Webhooks
//!    advises), so a public endpoint cannot bounce a delivery inwards; and no proxy from the
//!    environment is used.
//!
//! What this does not do: egress filtering. Production should still run the workers where
//! they cannot reach internal services, or send them through an egress proxy that filters
//! addresses (Standard Webhooks names smokescreen); this crate's checks are the
//! application's layer of that defence, not a replacement for the network's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::WebhookError;

const MAX_URL_LEN: usize = 2048;

/// What the URL policy allows. `production()` is the safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Development and tests: allow `http://` to a loopback host (`localhost`, 127.0.0.0/8,
    /// `::1`).
    pub allow_http_loopback: bool,
    /// Refuse loopback, private, link-local, carrier-grade NAT, unique-local, multicast and
    /// other non-public addresses, both as literal hosts and as resolved addresses.
    pub refuse_private_addresses: bool,
}

impl UrlPolicy {
    /// https to public addresses only.
    pub fn production() -> Self {
        Self {
            allow_http_loopback: false,
            refuse_private_addresses: true,
        }
    }

    /// Also http to loopback, and any address: a receiver on the developer's machine.
    pub fn development() -> Self {
        Self {
            allow_http_loopback: true,
            refuse_private_addresses: false,
        }
    }

    /// Parses and checks an endpoint URL. The error says which rule, never echoing the URL.
    pub fn check(&self, raw: &str) -> Result<Url, WebhookError> {
        let refuse = |why: &str| WebhookError::UrlRefused(why.to_owned());
        if raw.len() > MAX_URL_LEN {
            return Err(refuse("a URL is at most 2048 bytes"));
        }
        let url = Url::parse(raw).map_err(|_| refuse("it is not an absolute URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("it must not carry a user name or password"));
        }
        if url.fragment().is_some() {
            return Err(refuse("it must not have a fragment"));
        }
        let Some(host) = url.host_str() else {
            return Err(refuse("it has no host"));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let literal = host.parse::<IpAddr>().ok();
        let loopback_name = host.eq_ignore_ascii_case("localhost")
            || host.to_ascii_lowercase().ends_with(".localhost");
        let loopback = loopback_name || literal.is_some_and(is_loopback);
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http_loopback && loopback => {}
            "http" => {
                return Err(refuse(
                    "it must use https (http only to a loopback host in development)",
                ));
            }
            _ => return Err(refuse("it must use https")),
        }
        if self.refuse_private_addresses {
            if loopback_name {
                return Err(refuse("it names the local host"));
            }
            if let Some(ip) = literal
                && !is_public(ip)
            {
                return Err(refuse("it names a private, loopback or reserved address"));
            }
        }
        Ok(url)
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether a delivery may connect to `ip` when private addresses are refused: not
/// loopback, private (RFC 1918), link-local, carrier-grade NAT (RFC 6598), unspecified,
/// broadcast, multicast, documentation, benchmarking (RFC 2544), reserved (240/4), "this
/// network" (0/8), IETF protocol assignments (192.0.0/24), nor the IPv6 equivalents
/// (unique-local fc00::/7, link-local fe80::/10, documentation 2001:db8::/32, and mapped or
/// NAT64-embedded IPv4 addresses that are themselves not public).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] == 0x2001 && segments[1] == 0x0db8))
}

/// The DNS resolver of the delivery client: the system resolver, then (when private
/// addresses are refused) only the public addresses of the answer. A name with none left
/// fails to resolve, which fails the attempt with a message saying why.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardedResolver {
    pub refuse_private_addresses: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let refuse = self.refuse_private_addresses;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| !refuse || is_public(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves to no address deliveries may use (private, loopback or \
                     reserved addresses are refused)"
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_takes_https_to_public_hosts_only() {
        let policy = UrlPolicy::production();
        assert!(
            policy
                .check("https://case-system.region.se/hooks/anslut?x=1")
                .is_ok()
        );
        assert!(policy.check("https://93.184.216.34/hook").is_ok());
        for (url, rule) in [
            ("http://case-system.region.se/hook", "https"),
            ("ftp://case-system.region.se/hook", "https"),
            ("https://user:pw@case-system.region.se/hook", "user name"),
            ("https://case-system.region.se/hook#frag", "fragment"),
            ("https://localhost/hook", "local host"),
            ("https://api.localhost/hook", "local host"),
            ("https://127.0.0.1/hook", "private"),
            ("https://10.1.2.3/hook", "private"),
            ("https://172.16.0.1/hook", "private"),
            ("https://192.168.1.1/hook", "private"),
            ("https://169.254.169.254/latest/meta-data", "private"),
            ("https://100.64.0.1/hook", "private"),
            ("https://0.0.0.0/hook", "private"),
            ("https://[::1]/hook", "private"),
            ("https://[fd00::1]/hook", "private"),
            ("https://[fe80::1]/hook", "private"),
            ("https://[::ffff:10.0.0.1]/hook", "private"),
            ("not a url", "absolute"),
        ] {
            let error = policy.check(url).unwrap_err().to_string();
            assert!(error.contains(rule), "{url}: {error}");
            assert!(!error.contains("region.se"), "errors never echo the URL");
        }
        assert!(
            policy
                .check(&format!("https://a.se/{}", "x".repeat(2048)))
                .is_err()
        );
    }

    #[test]
    fn development_also_takes_http_to_loopback_but_not_elsewhere() {
        let policy = UrlPolicy::development();
        assert!(policy.check("http://127.0.0.1:8080/hook").is_ok());
        assert!(policy.check("http://localhost:8080/hook").is_ok());
        assert!(policy.check("http://[::1]:8080/hook").is_ok());
        assert!(policy.check("https://10.1.2.3/hook").is_ok());
        assert!(policy.check("http://10.1.2.3/hook").is_err());
        assert!(policy.check("http://example.se/hook").is_err());
    }

    #[test]
    fn public_addresses_are_told_apart_from_the_rest() {
        for public in [
            "93.184.216.34",
            "2a00:1450:4010::200e",
            "64:ff9b::5db8:d822",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::",
            "ff02::1",
            "2001:db8::1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    #[tokio::test]
    async fn the_guarded_resolver_drops_non_public_answers() {
        let guarded = GuardedResolver {
            refuse_private_addresses: true,
        };
        let error = guarded
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost resolves to loopback only");
        assert!(error.to_string().contains("no address"));
        let open = GuardedResolver {
            refuse_private_addresses: false,
        };
        let addrs: Vec<_> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}

//! The SSRF guard: which addresses an `http` task may connect to, checked on the
//! addresses actually connected. Names are resolved by [`GuardedResolver`], which
//! hands the connector only permitted addresses, so a name that resolves to a
//! private address (DNS rebinding included) is refused before any byte is sent. IP
//! literals never reach a resolver; [`Guard::check_url`] checks them first.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Name, Resolve, Resolving};
use url::Host;

/// Which addresses may be connected to: public ones, and whatever
/// `http.allowed_networks` opens.
#[derive(Debug, Default)]
pub struct Guard {
    allowed: Vec<IpNet>,
}

/// A destination the guard refused; its text always contains `destination-forbidden`.
#[derive(Debug)]
pub struct Forbidden {
    host: String,
    address: IpAddr,
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "destination-forbidden: {} is {}, not a public address (http.allowed_networks opens ranges); nothing was sent",
            self.host, self.address
        )
    }
}

impl std::error::Error for Forbidden {}

impl Guard {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    pub fn permits(&self, address: IpAddr) -> bool {
        // `::ffff:127.0.0.1` is 127.0.0.1 on the wire: judge it as that.
        let address = address.to_canonical();
        self.allowed.iter().any(|net| net.contains(&address)) || !is_special(address)
    }

    /// Refuses a URL whose host is an IP literal the guard does not permit (such a
    /// host is connected to without resolving). `url` has normalized every IPv4
    /// spelling (`0x7f.1`, `2130706433`) to one address already.
    pub fn check_url(&self, url: &Url) -> Result<(), Forbidden> {
        let address = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        self.check(url.host_str().unwrap_or_default(), address)
    }

    fn check(&self, host: &str, address: IpAddr) -> Result<(), Forbidden> {
        if self.permits(address) {
            return Ok(());
        }
        Err(Forbidden {
            host: host.to_string(),
            address,
        })
    }
}

/// Resolves with the system resolver and keeps only permitted addresses; when none
/// is left the lookup fails with [`Forbidden`] and no connection is opened.
pub struct GuardedResolver {
    guard: Arc<Guard>,
}

impl GuardedResolver {
    pub fn new(guard: Arc<Guard>) -> Self {
        Self { guard }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .collect();
            let permitted: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| guard.permits(addr.ip()))
                .collect();
            match (permitted.is_empty(), resolved.first()) {
                (false, _) => Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs),
                (true, Some(first)) => Err(Box::new(Forbidden {
                    host,
                    address: first.ip(),
                }) as _),
                (true, None) => Err(format!("{host}: no addresses").into()),
            }
        })
    }
}

/// Finds a [`Forbidden`] among the causes of a request error.
pub fn forbidden_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Forbidden> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(forbidden) = error.downcast_ref::<Forbidden>() {
            return Some(forbidden);
        }
        cause = error.source();
    }
    None
}

/// Loopback, private, link-local, shared, unique-local, multicast, unspecified and
/// other non-public ranges, in both families, including IPv6 forms that carry an
/// IPv4 address which could be one of them.
fn is_special(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => is_special_v6(v6),
    }
}

fn is_special_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    a == 0 // "this network", 0.0.0.0 connects to the local host
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared (CGNAT)
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 224 // multicast, reserved, broadcast
}

fn is_special_v6(v6: Ipv6Addr) -> bool {
    let segments = v6.segments();
    let embedded_v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match segments {
        // unspecified, loopback and the deprecated IPv4-compatible form
        [0, 0, 0, 0, 0, 0, _, _] => true,
        // NAT64: reaches the IPv4 address it carries
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => is_special_v4(embedded_v4(high, low)),
        // local-use NAT64
        [0x64, 0xff9b, 1, ..] => true,
        // 6to4: reaches the IPv4 address in bits 16..48
        [0x2002, high, low, ..] => is_special_v4(embedded_v4(high, low)),
        // Teredo carries an obfuscated IPv4 address
        [0x2001, 0, ..] => true,
        // discard-only
        [0x100, 0, 0, 0, ..] => true,
        [first, ..] => {
            (first & 0xfe00) == 0xfc00 // unique-local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (first & 0xff00) == 0xff00 // multicast
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_refused(guard: &Guard, url: &str) -> bool {
        guard.check_url(&Url::parse(url).unwrap()).is_err()
    }

    #[test]
    fn non_public_addresses_are_refused_by_default() {
        let guard = Guard::default();
        for refused in [
            "0.0.0.0", "0.1.2.3", "10.1.2.3", "100.64.0.1", "100.127.255.254", "127.0.0.1",
            "127.255.0.9", "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.168.1.1",
            "192.0.0.8", "198.18.0.1", "224.0.0.1", "239.1.1.1", "240.0.0.1",
            "255.255.255.255", "::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
            "::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "2002:7f00:1::",
            "2002:c0a8:101::1", "2001:0:4136:e378::1", "fc00::1", "fd12:3456::1",
            "fe80::1", "febf::1", "fec0::1", "ff02::1", "100::1",
        ] {
            let address: IpAddr = refused.parse().unwrap();
            assert!(!guard.permits(address), "{refused} must be refused");
        }
        for permitted in [
            "1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.0", "172.15.0.1",
            "172.32.0.1", "192.169.0.1", "169.255.0.1", "223.255.255.255",
            "2606:4700:4700::1111", "2a00:1450::1", "64:ff9b::808:808", "2002:808:808::",
        ] {
            let address: IpAddr = permitted.parse().unwrap();
            assert!(guard.permits(address), "{permitted} must be permitted");
        }
    }

    #[test]
    fn allowed_networks_open_ranges_in_either_spelling() {
        let guard = Guard::new(vec!["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        for permitted in ["127.0.0.1", "::ffff:127.0.0.1", "fd00::5"] {
            assert!(guard.permits(permitted.parse().unwrap()), "{permitted}");
        }
        for refused in ["10.0.0.1", "::1", "fc00::1"] {
            assert!(!guard.permits(refused.parse().unwrap()), "{refused}");
        }
    }

    #[test]
    fn ip_literal_urls_are_refused_in_every_spelling() {
        let guard = Guard::default();
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://2130706433/",
            "http://0.0.0.0:80/",
            "http://0/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "https://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
        ] {
            assert!(url_refused(&guard, url), "{url} must be refused");
        }
        assert!(!url_refused(&guard, "https://93.184.215.14/"));
        // Names are left to the resolver.
        assert!(!url_refused(&guard, "http://localhost/"));
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_loopback_addresses() {
        let resolver = GuardedResolver::new(Arc::new(Guard::default()));
        let Err(error) = resolver.resolve("localhost".parse().unwrap()).await else {
            panic!("localhost must be refused");
        };
        let forbidden = forbidden_cause(error.as_ref()).expect("a Forbidden error");
        assert!(forbidden.to_string().contains("destination-forbidden"));
        let opened = GuardedResolver::new(Arc::new(Guard::new(vec!["127.0.0.0/8".parse().unwrap()])));
        let addresses: Vec<_> = match opened.resolve("localhost".parse().unwrap()).await {
            Ok(addresses) => addresses.collect(),
            Err(e) => panic!("localhost opened by allowed_networks: {e}"),
        };
        assert!(addresses.iter().all(|a| a.ip().is_loopback() && a.is_ipv4()), "{addresses:?}");
    }
}

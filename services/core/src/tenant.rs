//! Tenants: who a task belongs to. A tenant's name ends up in Valkey keys and log
//! fields, so only a short, plain name is accepted.

/// The tenant of every request when authentication is off, and of a task message
/// that carries none (published before tenants existed).
pub const DEFAULT_TENANT: &str = "default";

/// Longest tenant name accepted.
pub const MAX_TENANT_LEN: usize = 64;

/// Whether `name` can be a tenant: 1 to 64 of `A-Za-z0-9._-`.
pub fn is_valid_tenant(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TENANT_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_short_and_plain() {
        for good in ["default", "billing", "team-a.eu_1", &"t".repeat(64)] {
            assert!(is_valid_tenant(good), "{good}");
        }
        for bad in ["", "a:b", "a b", "ü", "a*", &"t".repeat(65)] {
            assert!(!is_valid_tenant(bad), "{bad}");
        }
    }
}

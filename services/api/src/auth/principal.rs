//! Who is asking: the authenticated caller, its tenant and what it may do.

use std::sync::Arc;

use tasklane_core::tenant::DEFAULT_TENANT;

/// A permission a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Submit (and cancel) tasks.
    TasksWrite,
    /// Read a task's record.
    TasksRead,
    /// Queue statistics and dead letters.
    Admin,
}

impl Scope {
    const ALL: [Scope; 3] = [Scope::TasksWrite, Scope::TasksRead, Scope::Admin];

    /// The name clients see in tokens and in `WWW-Authenticate`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scope::TasksWrite => "tasks:write",
            Scope::TasksRead => "tasks:read",
            Scope::Admin => "admin",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scopes(u8);

impl Scopes {
    pub(crate) const EVERY: Scopes = Scopes(0b111);

    pub(crate) fn with(self, scope: Scope) -> Self {
        Self(self.0 | scope.bit())
    }

    pub(crate) fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The known scopes among space-separated `names` (unknown ones grant nothing).
    pub(crate) fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        names
            .into_iter()
            .filter_map(Scope::parse)
            .fold(Self::default(), Self::with)
    }
}

/// The authenticated caller of a request, handed to the handlers.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// The API key's id or the token's `sub`: never a secret.
    pub(crate) actor: Arc<str>,
    pub(crate) tenant: Arc<str>,
    pub(crate) scopes: Scopes,
}

impl Principal {
    /// Every request when authentication is off.
    pub(crate) fn anonymous() -> Self {
        Self {
            actor: Arc::from("anonymous"),
            tenant: Arc::from(DEFAULT_TENANT),
            scopes: Scopes::EVERY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_granted_by_name_only() {
        let scopes = Scopes::from_names("tasks:read admin bogus tasks:writer".split(' '));
        assert!(scopes.contains(Scope::TasksRead));
        assert!(scopes.contains(Scope::Admin));
        assert!(!scopes.contains(Scope::TasksWrite));
        for scope in Scope::ALL {
            assert!(Scopes::EVERY.contains(scope));
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
    }
}

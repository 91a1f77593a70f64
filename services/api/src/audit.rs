//! Audit events: one log event per security-relevant decision, with the fields the
//! contract fixes (`audit=true`, `actor`, `tenant`, `action`, `outcome`,
//! `request_id`), so they can be selected from the log stream by `audit`. An event
//! names the caller by its key id or token subject, never by a token or a secret.

/// A refused or allowed decision about one request.
pub(crate) struct AuditEvent<'a> {
    /// API key id or JWT `sub`; `-` when the caller is not known.
    pub(crate) actor: &'a str,
    /// `-` when the caller is not known.
    pub(crate) tenant: &'a str,
    /// What the caller tried, named by the scope it needs (`tasks:write`).
    pub(crate) action: &'a str,
    /// The decision: `unauthenticated`, `forbidden`, `rate_limited`, ...
    pub(crate) outcome: &'a str,
    pub(crate) request_id: &'a str,
}

impl AuditEvent<'_> {
    pub(crate) fn emit(&self) {
        tracing::warn!(
            target: "tasklane::audit",
            audit = true,
            actor = self.actor,
            tenant = self.tenant,
            action = self.action,
            outcome = self.outcome,
            request_id = self.request_id,
            "audit: {} {}",
            self.action,
            self.outcome,
        );
    }
}

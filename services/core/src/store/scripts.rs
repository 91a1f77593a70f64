//! The Lua scripts behind every write that must be atomic, loaded from `scripts/*.lua`.
//!
//! Scripts that must leave a finished task alone read a `TERMINAL` table that is
//! generated from [`TaskStatus::is_terminal`] and put in front of them here, so the
//! list of final statuses has one owner for Rust and Lua alike; with it comes
//! `expire_if_cancelled`, which gives a cancelled record its expiry once a worker lets
//! go of its message (until then a delivery must find it). Scripts that keep a
//! tenant's outstanding count get an `outstanding_key` function built from the same
//! key names the Rust side uses.

use fred::types::scripts::Script;

use crate::names::keys;
use crate::task::TaskStatus;

/// Every script the store runs, each compiled once and called by its SHA.
#[derive(Clone)]
pub(crate) struct Scripts {
    pub(crate) record_queued_many: Script,
    pub(crate) start_attempt_many: Script,
    pub(crate) record_error: Script,
    pub(crate) release_attempt: Script,
    pub(crate) finish_many: Script,
    pub(crate) idempotency_reserve: Script,
    pub(crate) admit_many: Script,
    pub(crate) idempotency_let_go: Script,
    pub(crate) redrive_link: Script,
    pub(crate) cancel: Script,
    pub(crate) cancelled_among: Script,
}

impl Scripts {
    pub(crate) fn load() -> Self {
        Self {
            record_queued_many: Script::from_lua(format!(
                "{}\n{}",
                outstanding_function(),
                include_str!("scripts/record_queued_many.lua")
            )),
            start_attempt_many: terminal_aware(&format!(
                "{}\n{}",
                outstanding_function(),
                include_str!("scripts/start_attempt_many.lua")
            )),
            record_error: terminal_aware(include_str!("scripts/record_error.lua")),
            release_attempt: Script::from_lua(include_str!("scripts/release_attempt.lua")),
            finish_many: terminal_aware(&format!(
                "{}\n{}",
                outstanding_function(),
                include_str!("scripts/finish_many.lua")
            )),
            idempotency_reserve: Script::from_lua(include_str!("scripts/idempotency_reserve.lua")),
            admit_many: Script::from_lua(include_str!("scripts/admit_many.lua")),
            idempotency_let_go: Script::from_lua(include_str!("scripts/idempotency_let_go.lua")),
            redrive_link: Script::from_lua(include_str!("scripts/redrive_link.lua")),
            cancel: terminal_aware(&format!(
                "{}\n{}",
                outstanding_function(),
                include_str!("scripts/cancel.lua")
            )),
            cancelled_among: terminal_aware(include_str!("scripts/cancelled_among.lua")),
        }
    }
}

/// `body` with a `TERMINAL` lookup table of the final statuses and
/// [`EXPIRE_IF_CANCELLED`] in front of it.
fn terminal_aware(body: &str) -> Script {
    Script::from_lua(format!(
        "{}\n{EXPIRE_IF_CANCELLED}\n{body}",
        terminal_table()
    ))
}

/// `expire_if_cancelled(key, status, ttl_ms)`: a cancelled record waits without an
/// expiry while its message may still be delivered; the scripts a worker runs as it
/// lets go of that message give it the records' ttl (once, `NX`: a later delivery
/// does not extend it; and no command beyond `PEXPIRE`, which the worker's Valkey
/// user may send).
const EXPIRE_IF_CANCELLED: &str = "local function expire_if_cancelled(key, status, ttl) \
    if status == 'cancelled' then redis.call('PEXPIRE', key, ttl, 'NX') end end";

/// `local TERMINAL = {succeeded = true, ...}`: a local, because Valkey refuses scripts
/// that create globals.
fn terminal_table() -> String {
    let entries: Vec<String> = TaskStatus::ALL
        .iter()
        .filter(|status| status.is_terminal())
        .map(|status| format!("{} = true", status.as_str()))
        .collect();
    format!("local TERMINAL = {{{}}}", entries.join(", "))
}

/// `outstanding_key(tenant)`: the tenant's outstanding-count key, as
/// [`keys::outstanding`] names it.
fn outstanding_function() -> String {
    let sample = keys::outstanding("\u{0}");
    let (prefix, suffix) = sample
        .split_once('\u{0}')
        .expect("the key contains the tenant");
    format!("local function outstanding_key(tenant) return '{prefix}' .. tenant .. '{suffix}' end")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lua_terminal_table_lists_exactly_the_final_statuses() {
        assert_eq!(
            terminal_table(),
            "local TERMINAL = {succeeded = true, failed = true, dead = true, cancelled = true}"
        );
    }

    #[test]
    fn the_lua_outstanding_key_is_the_rust_one() {
        assert_eq!(
            outstanding_function(),
            "local function outstanding_key(tenant) return 'tasklane:tenant:' .. tenant .. ':outstanding' end"
        );
    }
}

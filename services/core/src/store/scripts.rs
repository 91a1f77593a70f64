//! The Lua scripts behind every write that must be atomic, loaded from `scripts/*.lua`.
//!
//! Scripts that must leave a finished task alone read a `TERMINAL` table that is
//! generated from [`TaskStatus::is_terminal`] and put in front of them here, so the
//! list of final statuses has one owner for Rust and Lua alike.

use fred::types::scripts::Script;

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
    pub(crate) idempotency_let_go: Script,
}

impl Scripts {
    pub(crate) fn load() -> Self {
        Self {
            record_queued_many: Script::from_lua(include_str!("scripts/record_queued_many.lua")),
            start_attempt_many: terminal_aware(include_str!("scripts/start_attempt_many.lua")),
            record_error: terminal_aware(include_str!("scripts/record_error.lua")),
            release_attempt: Script::from_lua(include_str!("scripts/release_attempt.lua")),
            finish_many: terminal_aware(include_str!("scripts/finish_many.lua")),
            idempotency_reserve: Script::from_lua(include_str!("scripts/idempotency_reserve.lua")),
            idempotency_let_go: Script::from_lua(include_str!("scripts/idempotency_let_go.lua")),
        }
    }
}

/// `body` with a `TERMINAL` lookup table of the final statuses in front of it.
fn terminal_aware(body: &str) -> Script {
    Script::from_lua(format!("{}\n{body}", terminal_table()))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lua_terminal_table_lists_exactly_the_final_statuses() {
        assert_eq!(
            terminal_table(),
            "local TERMINAL = {succeeded = true, failed = true, dead = true}"
        );
    }
}

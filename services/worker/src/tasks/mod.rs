//! Built-in task types, one per file.

pub mod echo;
pub mod fail;
pub mod sha256;
pub mod sleep;

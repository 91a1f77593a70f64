//! One module per API action. Each extracts what it needs, calls one function and
//! responds; submission is in `intake`, rendering in `respond`.

pub(crate) mod cancel_task;
pub(crate) mod dead_letters;
pub(crate) mod stats;
pub(crate) mod submit_batch;
pub(crate) mod submit_task;
pub(crate) mod task_status;

//! The built-in task types, one line each: `<file>::<handler>`. A line declares the
//! module `src/catalog/<file>.rs` and registers its handler, so a new type is that
//! file plus its line here.

use std::sync::Arc;

use crate::task_handler::TaskHandler;

macro_rules! catalog {
    ($($module:ident::$handler:ident),+ $(,)?) => {
        $(mod $module;)+

        /// One handler of each built-in type, in the order listed.
        pub(crate) fn all() -> Vec<Arc<dyn TaskHandler>> {
            vec![$(Arc::new(<$module::$handler>::default())),+]
        }
    };
}

catalog! {
    echo::Echo,
    sleep::Sleep,
    sha256::Sha256,
    fail::Fail,
    http::Http,
}

pub use http::{Http, HttpMethod, HttpMetrics, HttpPayload, MAX_URL_BYTES, RESERVED_HEADERS};

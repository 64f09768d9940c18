//! Views of the log: live subscriptions, resumable cursors and cached,
//! incremental projections.
//!
//! Views read through the core's small API (select, checked reads, the
//! durable watermark) and learn of new durable events from the hub, which
//! the core calls after every sync. They never see an event a crash could
//! take back, and never reach into the core's fields.

pub(crate) mod cursor;
pub(crate) mod hub;
pub(crate) mod projection;
pub(crate) mod subscription;

//! One download, whichever front asked for it (`get` on the command line, or the
//! browser's `start`): the rules both follow, so they cannot drift.
//!
//! - [`plan`]: from the probe, what the download is: the trusted digest (the one
//!   given must agree with the origin's), where it came from, whether a look-up
//!   goes on beside it, whether it has a swarm, and the `Job` it runs as;
//! - [`restart`]: after a failure, whether it starts over (a mirror spoiled the
//!   whole: again from the origin alone; the content changed on the origin: again,
//!   a few times) or fails;
//! - [`settle`]: after success, whether the seeding cache takes the file and
//!   whether a trusted group may learn its digest from it.
//!
//! The fronts only present: `get_command` names the file, draws the progress bar and
//! prints the summary; `native_messaging::session` offers the delivery and reports
//! to the browser.

pub mod plan;
pub mod restart;
pub mod settle;

pub use plan::{DigestConflict, Plan};
pub use restart::{MAX_RESTARTS, Restart, Restarts};

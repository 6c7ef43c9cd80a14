//! Resolution: how a download gets the SHA-256 that names its swarm, decided once
//! for both drivers. The driver sends the probe request and reads the response
//! through [`probe`]; the [`Resolver`] then asks it to fetch documents (a Metalink,
//! checksum lists, an index page) and the group's trackers, each within a budget,
//! and says what was found or why nothing was ([`Reason`]). [`DirectoryMemory`]
//! remembers directories without lists across downloads.
//!
//! The rules that make trusting a found digest the same as trusting the file's
//! origin:
//! - documents come from the download's own origin (scheme, host and port) only; a
//!   list that redirects off HTTPS for an HTTPS download does not count;
//! - a list names the file by the name the download resolves to (its
//!   `Content-Disposition` name, or the last segment of the URL);
//! - all lists that name the file must agree; a Metalink that contradicts the
//!   headers stops the download;
//! - nothing is looked up for a URL with credentials.

pub mod memory;
pub mod probe;
pub mod resolver;
#[cfg(test)]
mod tests;

pub use memory::DirectoryMemory;
pub use probe::{Asked, Headers, Probe, ProbeError, ProbeStep, read_response};
pub use resolver::{
    Action, Budgets, Document, Fetch, FetchId, Found, HOLD, NoDocument, Reason, Resolution,
    Resolver, Setup, group_subject,
};

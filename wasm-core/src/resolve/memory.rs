//! Directories known to have no checksum list, across downloads: a site without
//! lists costs each user one look-up per directory every [`NEGATIVE_TTL`], not one
//! per click. Bounded at [`NEGATIVE_ENTRIES`] whatever pages ask for.

use std::collections::HashMap;
use std::time::Duration;

use url::Url;

use crate::engine::Time;

/// How long a directory without any list is left alone.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10 * 60);
/// Directories remembered, at most.
pub const NEGATIVE_ENTRIES: usize = 4096;

#[derive(Debug, Default, Clone)]
pub struct DirectoryMemory {
    empty: HashMap<String, Time>,
}

impl DirectoryMemory {
    pub fn new() -> DirectoryMemory {
        DirectoryMemory::default()
    }

    /// Whether `dir` was found without lists lately.
    pub fn knows_empty(&self, dir: &Url, now: Time) -> bool {
        self.empty
            .get(dir.as_str())
            .is_some_and(|at| now.since(*at) < NEGATIVE_TTL)
    }

    pub fn len(&self) -> usize {
        self.empty.len()
    }

    pub fn is_empty(&self) -> bool {
        self.empty.is_empty()
    }

    /// Remembers `dir` as having no lists, as of `now`.
    pub fn remember_empty(&mut self, dir: &Url, now: Time) {
        if self.empty.len() >= NEGATIVE_ENTRIES {
            self.empty.retain(|_, at| now.since(*at) < NEGATIVE_TTL);
            if self.empty.len() >= NEGATIVE_ENTRIES {
                self.empty.clear();
            }
        }
        self.empty.insert(dir.as_str().to_string(), now);
    }
}

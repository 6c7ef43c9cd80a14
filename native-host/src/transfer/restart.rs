//! After a failed run, whether the download starts over: the one rule for `get`
//! and the browser's downloads.

use swarmload_core::engine::FailReason;

use crate::download::DownloadError;

/// How often a download whose content changed on the origin starts over.
pub const MAX_RESTARTS: u32 = 3;

/// Why a download starts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// The whole did not match its digest and mirrors served part of it: mirrors
    /// are not trusted, so the origin alone gets the next try.
    WithoutMirrors,
    /// The content changed on the origin: probe again and start from nothing.
    ContentChanged,
}

/// A download's restarts so far.
#[derive(Debug, Default)]
pub struct Restarts {
    changed: u32,
    mirrors_off: bool,
}

impl Restarts {
    /// Whether the mirrors may serve the next run.
    pub fn use_mirrors(&self) -> bool {
        !self.mirrors_off
    }

    /// Whether a run that failed with `e` starts over; `had_mirrors`: the run was
    /// offered mirrors.
    pub fn after(&mut self, e: &DownloadError, had_mirrors: bool) -> Option<Restart> {
        match e {
            DownloadError::Failed(FailReason::DigestMismatch { .. })
                if had_mirrors && !self.mirrors_off =>
            {
                self.mirrors_off = true;
                Some(Restart::WithoutMirrors)
            }
            DownloadError::Failed(FailReason::ContentChanged) if self.changed < MAX_RESTARTS => {
                self.changed += 1;
                Some(Restart::ContentChanged)
            }
            _ => None,
        }
    }

    /// Whether the content kept changing until the restarts ran out.
    pub fn kept_changing(&self, e: &DownloadError) -> bool {
        self.changed >= MAX_RESTARTS
            && matches!(e, DownloadError::Failed(FailReason::ContentChanged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmload_core::content::Hash32;

    fn mismatch() -> DownloadError {
        DownloadError::Failed(FailReason::DigestMismatch {
            expected: Hash32([1; 32]),
            actual: Hash32([2; 32]),
        })
    }

    #[test]
    fn a_spoiled_whole_starts_over_once_without_mirrors_and_changes_a_few_times() {
        let mut r = Restarts::default();
        // Without mirrors, a mismatch is final.
        assert_eq!(r.after(&mismatch(), false), None);
        assert_eq!(r.after(&mismatch(), true), Some(Restart::WithoutMirrors));
        assert!(!r.use_mirrors());
        assert_eq!(r.after(&mismatch(), true), None, "once only");
        let changed = DownloadError::Failed(FailReason::ContentChanged);
        for _ in 0..MAX_RESTARTS {
            assert_eq!(r.after(&changed, false), Some(Restart::ContentChanged));
        }
        assert_eq!(r.after(&changed, false), None);
        assert!(r.kept_changing(&changed));
        assert_eq!(r.after(&DownloadError::Cancelled, true), None);
    }
}

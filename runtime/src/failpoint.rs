//! Failpoints for crash tests: `SOUK_FAILPOINT` makes a component crash or freeze at a chosen
//! point of a batch, so the tests can prove what a crash there leaves behind. Unset in production
//! (the check is one relaxed load per batch).
//!
//! - `changelog:<k>[:<skip>[:<min_n>]]` — in the first batch after `skip` batches (default 1) whose
//!   changelog has at least `min_n` records (default 10, and always more than `k`), the engine
//!   produces the first `k` of them, waits for their acks, and aborts the process (`k` may be
//!   `last` for n−1, or `half`).
//! - `stop-before-changelog[:<skip>]` — the engine freezes itself with SIGSTOP after the batch's
//!   outputs were produced and before its changelog (a zombie in the making), in the batch after
//!   `skip` batches that wrote a changelog (default 1). The test resumes it with SIGCONT.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A parsed `SOUK_FAILPOINT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failpoint {
    /// Die after `keep` changelog records of a batch were acked.
    CrashInChangelog { keep: Keep, skip: u64, min_n: usize },
    /// SIGSTOP before the changelog of a batch.
    StopBeforeChangelog { skip: u64 },
}

/// How many changelog records of the batch survive a [`Failpoint::CrashInChangelog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Exactly this many.
    Count(usize),
    /// Half of them (rounded down).
    Half,
    /// All but the last one.
    AllButLast,
}

impl Keep {
    /// The number of records kept out of `n` (always < n).
    pub fn of(self, n: usize) -> usize {
        match self {
            Keep::Count(k) => k,
            Keep::Half => n / 2,
            Keep::AllButLast => n.saturating_sub(1),
        }
    }
}

impl std::str::FromStr for Failpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let skip = |i: usize| parts.get(i).map(|v| v.parse::<u64>().map_err(|e| format!("failpoint {s}: {e}"))).transpose().map(|v| v.unwrap_or(1));
        match parts[0] {
            "changelog" => {
                let keep = match parts.get(1).copied() {
                    Some("last") => Keep::AllButLast,
                    Some("half") => Keep::Half,
                    Some(k) => Keep::Count(k.parse().map_err(|e| format!("failpoint {s}: {e}"))?),
                    None => return Err(format!("failpoint {s}: changelog:<k>[:<skip>]")),
                };
                let min_n = parts.get(3).map(|v| v.parse::<usize>().map_err(|e| format!("failpoint {s}: {e}"))).transpose()?.unwrap_or(10);
                Ok(Failpoint::CrashInChangelog { keep, skip: skip(2)?, min_n })
            }
            "stop-before-changelog" => Ok(Failpoint::StopBeforeChangelog { skip: skip(1)? }),
            other => Err(format!("unknown failpoint {other:?}")),
        }
    }
}

fn configured() -> Option<&'static Failpoint> {
    static FP: OnceLock<Option<Failpoint>> = OnceLock::new();
    FP.get_or_init(|| {
        let v = std::env::var("SOUK_FAILPOINT").ok().filter(|v| !v.is_empty())?;
        match v.parse() {
            Ok(fp) => {
                tracing::warn!(failpoint = %v, "failpoint armed (crash tests only)");
                Some(fp)
            }
            Err(e) => panic!("SOUK_FAILPOINT: {e}"),
        }
    })
    .as_ref()
}

static CHANGELOG_BATCHES: AtomicU64 = AtomicU64::new(0);

/// Called by the engine before it writes a batch's `n` changelog records (key records first,
/// then stream-time markers): `Some(k)` when the failpoint says to crash after `k` of them.
pub fn changelog_crash(n: usize) -> Option<usize> {
    let Failpoint::CrashInChangelog { keep, skip, min_n } = configured()? else { return None };
    let k = keep.of(n);
    (n >= *min_n && k < n && CHANGELOG_BATCHES.load(Ordering::Relaxed) >= *skip).then_some(k)
}

/// Counts a batch that wrote its changelog (for the `skip` of the failpoints).
pub fn changelog_written() {
    if configured().is_some() {
        CHANGELOG_BATCHES.fetch_add(1, Ordering::Relaxed);
    }
}

/// Called by the engine between a batch's outputs and its changelog: freezes the process when
/// the failpoint says so (once).
pub fn maybe_stop_before_changelog() {
    let Some(Failpoint::StopBeforeChangelog { skip }) = configured() else { return };
    static DONE: OnceLock<()> = OnceLock::new();
    if CHANGELOG_BATCHES.load(Ordering::Relaxed) == *skip && DONE.set(()).is_ok() {
        tracing::warn!("failpoint stop-before-changelog: freezing this process (SIGSTOP)");
        eprintln!("souk failpoint: SIGSTOP before changelog");
        let _ = std::process::Command::new("kill").args(["-STOP", &std::process::id().to_string()]).status();
        tracing::warn!("failpoint stop-before-changelog: resumed");
    }
}

/// Ends the process like a crash (no destructors, no flush).
pub fn crash(what: &str) -> ! {
    eprintln!("souk failpoint: crashing {what}");
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!("changelog:0".parse(), Ok(Failpoint::CrashInChangelog { keep: Keep::Count(0), skip: 1, min_n: 10 }));
        assert_eq!("changelog:last:3:40".parse(), Ok(Failpoint::CrashInChangelog { keep: Keep::AllButLast, skip: 3, min_n: 40 }));
        assert_eq!("stop-before-changelog".parse(), Ok(Failpoint::StopBeforeChangelog { skip: 1 }));
        assert!("changelog".parse::<Failpoint>().is_err());
        assert!("explode".parse::<Failpoint>().is_err());
        assert_eq!(Keep::AllButLast.of(5), 4);
        assert_eq!(Keep::Half.of(5), 2);
    }
}

//! When the writer forces records to disk, as a pure schedule the tests drive with their own
//! instants.

use std::time::{Duration, Instant};

use super::config::{AuditConfig, FsyncPolicy};

/// Tracks unsynced records and says when an fsync is due.
#[derive(Debug, Clone)]
pub struct FsyncSchedule {
    policy: FsyncPolicy,
    interval: Duration,
    every: u64,
    unsynced: u64,
    first_unsynced_at: Option<Instant>,
}

impl FsyncSchedule {
    /// The schedule `config` asks for.
    pub fn new(config: &AuditConfig) -> Self {
        FsyncSchedule {
            policy: config.fsync,
            interval: config.fsync_interval(),
            every: config.fsync_every_records.max(1),
            unsynced: 0,
            first_unsynced_at: None,
        }
    }

    /// Notes one record written at `now`; true when an fsync is due now.
    pub fn wrote(&mut self, now: Instant) -> bool {
        self.unsynced += 1;
        self.first_unsynced_at.get_or_insert(now);
        match self.policy {
            FsyncPolicy::Always => true,
            FsyncPolicy::Never => false,
            FsyncPolicy::Interval => self.unsynced >= self.every || self.due(now),
        }
    }

    /// True when unsynced records have waited the interval (`fsync: interval`) by `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.policy != FsyncPolicy::Never
            && self
                .first_unsynced_at
                .is_some_and(|first| now.saturating_duration_since(first) >= self.interval)
    }

    /// Notes that everything written is on disk.
    pub fn synced(&mut self) {
        self.unsynced = 0;
        self.first_unsynced_at = None;
    }

    /// Records written but not yet synced.
    pub fn pending(&self) -> u64 {
        self.unsynced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(policy: FsyncPolicy) -> FsyncSchedule {
        FsyncSchedule::new(&AuditConfig {
            fsync: policy,
            fsync_interval_ms: 100,
            fsync_every_records: 3,
            ..AuditConfig::default()
        })
    }

    #[test]
    fn interval_syncs_after_n_records_or_the_interval() {
        let t0 = Instant::now();
        let mut s = schedule(FsyncPolicy::Interval);
        assert!(!s.wrote(t0));
        assert!(!s.wrote(t0 + Duration::from_millis(10)));
        assert!(s.wrote(t0 + Duration::from_millis(20)), "third record");
        s.synced();
        assert!(!s.wrote(t0 + Duration::from_millis(30)));
        assert!(!s.due(t0 + Duration::from_millis(129)));
        assert!(
            s.due(t0 + Duration::from_millis(130)),
            "interval since the first unsynced record"
        );
    }

    #[test]
    fn always_and_never() {
        let t0 = Instant::now();
        assert!(schedule(FsyncPolicy::Always).wrote(t0));
        let mut never = schedule(FsyncPolicy::Never);
        for i in 0..10 {
            assert!(!never.wrote(t0 + Duration::from_secs(i)));
        }
        assert!(!never.due(t0 + Duration::from_secs(60)));
        assert_eq!(never.pending(), 10);
    }
}

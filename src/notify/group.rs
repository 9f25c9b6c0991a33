//! Grouping duplicates: the first event of a kind is posted at once; identical ones within the
//! window are only counted, and when the window closes one follow-up message carries the count
//! ("×N in the last 5 min"). Pure: time is passed in.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::event::Event;

/// Most distinct events tracked at once; beyond that new kinds are posted ungrouped.
const MAX_OPEN: usize = 4096;

/// What to do with an offered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Post it now.
    Post,
    /// A duplicate within the window: counted, posted later as part of the summary.
    Grouped,
}

/// A closed window that saw duplicates: post `event` once more with `count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The latest event of the group.
    pub(crate) event: Event,
    /// Occurrences within the window, the first one included.
    pub(crate) count: u64,
}

struct Open {
    closes: Instant,
    count: u64,
    latest: Event,
}

/// Open windows by group key.
pub(crate) struct Grouper {
    window: Duration,
    open: HashMap<String, Open>,
}

impl Grouper {
    /// Groups within `window`.
    pub(crate) fn new(window: Duration) -> Grouper {
        Grouper {
            window,
            open: HashMap::new(),
        }
    }

    /// Offers `event` seen at `now`.
    pub(crate) fn offer(&mut self, event: &Event, now: Instant) -> Offer {
        let key = event.group_key();
        if let Some(open) = self.open.get_mut(&key) {
            if now < open.closes {
                open.count += 1;
                open.latest = event.clone();
                return Offer::Grouped;
            }
        }
        if self.open.len() < MAX_OPEN || self.open.contains_key(&key) {
            self.open.insert(
                key,
                Open {
                    closes: now + self.window,
                    count: 1,
                    latest: event.clone(),
                },
            );
        }
        Offer::Post
    }

    /// When the next window closes.
    pub(crate) fn next_close(&self) -> Option<Instant> {
        self.open.values().map(|o| o.closes).min()
    }

    /// Closes the windows due at `now`; those that saw duplicates come back as summaries.
    pub(crate) fn close_due(&mut self, now: Instant) -> Vec<Summary> {
        let due: Vec<String> = self
            .open
            .iter()
            .filter(|(_, o)| o.closes <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for key in due {
            if let Some(open) = self.open.remove(&key) {
                if open.count > 1 {
                    out.push(Summary {
                        event: open.latest,
                        count: open.count,
                    });
                }
            }
        }
        out
    }

    /// Closes every window (shutdown).
    pub(crate) fn close_all(&mut self) -> Vec<Summary> {
        self.open
            .drain()
            .filter(|(_, o)| o.count > 1)
            .map(|(_, o)| Summary {
                event: o.latest,
                count: o.count,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::SystemEvent;

    fn reload(error: &str) -> Event {
        Event::System(SystemEvent::PackReloadFailed { error: error.into() })
    }

    #[test]
    fn duplicates_within_the_window_become_one_summary() {
        let t0 = Instant::now();
        let mut g = Grouper::new(Duration::from_secs(10));
        assert_eq!(g.offer(&reload("a"), t0), Offer::Post);
        assert_eq!(g.offer(&reload("a"), t0 + Duration::from_secs(1)), Offer::Grouped);
        assert_eq!(g.offer(&reload("a"), t0 + Duration::from_secs(2)), Offer::Grouped);
        assert_eq!(g.offer(&reload("b"), t0 + Duration::from_secs(2)), Offer::Post);
        assert_eq!(g.next_close(), Some(t0 + Duration::from_secs(10)));
        assert!(g.close_due(t0 + Duration::from_secs(9)).is_empty());
        let summaries = g.close_due(t0 + Duration::from_secs(10));
        assert_eq!(
            summaries,
            vec![Summary {
                event: reload("a"),
                count: 3
            }]
        );
        assert_eq!(g.offer(&reload("a"), t0 + Duration::from_secs(11)), Offer::Post);
        assert!(g.close_all().is_empty());
    }
}

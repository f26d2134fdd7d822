//! The merge/de-duplication step (retrieval-api.md §4), over timestamps.
//!
//! Sources are consumed one after another (oldest tier first), not k-way
//! merged. Until the first sample is emitted, samples at or before `from`
//! are held (a later arrival replaces the held one); the held sample is
//! emitted before the first sample after `from`, or at the very end. After
//! each source ends, the next one skips samples not after the last emitted
//! one, until its first later sample; the rest of it passes unchecked.

use crate::types::Timestamp;

/// What to do with an offered sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Drop it.
    Skip,
    /// Keep it as the held (leading) sample, replacing any held one.
    Hold,
    /// Emit the held sample first (if any), then this one.
    EmitHeldThenThis,
    /// Emit the held sample (if any) and drop this one (not after it).
    EmitHeldOnly,
    /// Emit this one.
    Emit,
}

/// Merge state machine; the caller keeps the held sample's payload.
#[derive(Debug, Clone)]
pub struct Merge {
    from: Timestamp,
    held: Option<Timestamp>,
    started: bool,
    dedup: bool,
    last: Option<Timestamp>,
}

impl Merge {
    /// A merge for a request starting at `from`.
    pub fn new(from: Timestamp) -> Self {
        Merge {
            from,
            held: None,
            started: false,
            dedup: false,
            last: None,
        }
    }

    /// Decides about a sample with time `ts` from the current source.
    #[inline]
    pub fn offer(&mut self, ts: Timestamp) -> Verdict {
        if self.dedup {
            if self.last.is_some_and(|l| ts <= l) {
                return Verdict::Skip;
            }
            self.dedup = false;
        }
        if !self.started {
            if ts <= self.from {
                self.held = Some(ts);
                return Verdict::Hold;
            }
            self.started = true;
            return match self.held.take() {
                Some(h) if ts <= h => {
                    self.last = Some(h);
                    Verdict::EmitHeldOnly
                }
                Some(_) => {
                    self.last = Some(ts);
                    Verdict::EmitHeldThenThis
                }
                None => {
                    self.last = Some(ts);
                    Verdict::Emit
                }
            };
        }
        self.last = Some(ts);
        Verdict::Emit
    }

    /// The current source ended.
    pub fn end_source(&mut self) {
        self.dedup = true;
    }

    /// All sources ended: true if a held sample must still be emitted.
    pub fn finish(&mut self) -> bool {
        let h = self.held.take();
        if let Some(h) = h {
            self.last = Some(h);
            self.started = true;
        }
        h.is_some()
    }

    /// True when the current source's remaining samples pass unchecked
    /// (leading sample settled, no de-duplication pending).
    pub fn steady(&self) -> bool {
        self.started && !self.dedup && self.held.is_none()
    }

    /// Records `ts` as emitted (after a bulk copy).
    pub fn emitted(&mut self, ts: Timestamp) {
        self.last = Some(ts);
    }

    /// Time of the last emitted sample.
    pub fn last_emitted(&self) -> Option<Timestamp> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(from: i64, sources: &[&[i64]]) -> Vec<i64> {
        let mut m = Merge::new(Timestamp::new(from, 0));
        let mut held = None;
        let mut out = Vec::new();
        for src in sources {
            for &t in *src {
                match m.offer(Timestamp::new(t, 0)) {
                    Verdict::Skip => {}
                    Verdict::Hold => held = Some(t),
                    Verdict::EmitHeldThenThis => {
                        out.extend(held.take());
                        out.push(t);
                    }
                    Verdict::EmitHeldOnly => out.extend(held.take()),
                    Verdict::Emit => out.push(t),
                }
            }
            m.end_source();
        }
        if m.finish() {
            out.extend(held.take());
        }
        out
    }

    #[test]
    fn continuity_sample_leads() {
        // LTS has old data, STS the recent part; the newest sample <= from leads.
        assert_eq!(run(100, &[&[10, 50, 90], &[95, 120, 130]]), vec![95, 120, 130]);
        // A sample exactly at from is the leading one.
        assert_eq!(run(100, &[&[90, 100, 110]]), vec![100, 110]);
        // Only old data: the newest is emitted at the end.
        assert_eq!(run(100, &[&[10, 20], &[30]]), vec![30]);
        // Nothing before from.
        assert_eq!(run(100, &[&[110, 120]]), vec![110, 120]);
    }

    #[test]
    fn boundary_duplicates_are_removed() {
        // MTS and STS overlap (ETL copied, not yet deleted).
        assert_eq!(
            run(0, &[&[10, 20, 30], &[20, 30, 40, 35]]),
            vec![10, 20, 30, 40, 35]
        );
        assert_eq!(run(0, &[&[10, 20], &[], &[5, 15, 25]]), vec![10, 20, 25]);
    }

    #[test]
    fn held_replaced_by_later_arrival_even_if_older() {
        // Java keeps the last *received* sample <= from.
        assert_eq!(run(100, &[&[90], &[80, 150]]), vec![80, 150]);
    }
}

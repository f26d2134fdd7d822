//! Java's merge consumer rule for the leading samples, applied to an
//! operator's output (Java runs it after the post-processor):
//! the first sample is held; until something is emitted each sample at or
//! before `from` replaces the held one; the first sample after `from`
//! releases the held sample and then itself if it is strictly later; a
//! still-held sample is emitted at the end. Afterwards samples pass through.
//! The rule is idempotent, so a caller that applies it again changes nothing.

use crate::storage::EventStream;
use crate::types::{ArchiverSample, EventStreamDesc, SampleValue, Timestamp};

/// Wraps an operator's output with the leading-sample rule.
pub(crate) struct Leading {
    inner: Box<dyn EventStream>,
    from: Timestamp,
    held: ArchiverSample,
    has_held: bool,
    pending: ArchiverSample,
    has_pending: bool,
    /// True once the held sample was released (or the input ended).
    pushed: bool,
}

impl Leading {
    pub(crate) fn new(inner: Box<dyn EventStream>, from: Timestamp) -> Self {
        Leading {
            inner,
            from,
            held: ArchiverSample::at(0, 0, SampleValue::Double(0.0)),
            has_held: false,
            pending: ArchiverSample::at(0, 0, SampleValue::Double(0.0)),
            has_pending: false,
            pushed: false,
        }
    }
}

impl EventStream for Leading {
    fn description(&self) -> &EventStreamDesc {
        self.inner.description()
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = ArchiverSample::at(0, 0, SampleValue::Double(0.0));
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        if self.pushed {
            if self.has_pending {
                self.has_pending = false;
                std::mem::swap(out, &mut self.pending);
                return Ok(true);
            }
            return self.inner.next_event_into(out);
        }
        loop {
            if !self.inner.next_event_into(&mut self.pending)? {
                self.pushed = true;
                if self.has_held {
                    self.has_held = false;
                    std::mem::swap(out, &mut self.held);
                    return Ok(true);
                }
                return Ok(false);
            }
            if !self.has_held {
                std::mem::swap(&mut self.held, &mut self.pending);
                self.has_held = true;
                continue;
            }
            let ts = self.pending.ts();
            if ts <= self.from {
                std::mem::swap(&mut self.held, &mut self.pending);
                continue;
            }
            self.pushed = true;
            self.has_held = false;
            self.has_pending = ts > self.held.ts();
            std::mem::swap(out, &mut self.held);
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::postprocessors::testutil::{collect, dbl, VecStream};

    fn run(input: Vec<ArchiverSample>, from: i64) -> Vec<(i64, f64)> {
        let mut s = Leading::new(Box::new(VecStream::new(input)), Timestamp::new(from, 0));
        collect(&mut s)
            .unwrap()
            .iter()
            .map(|s| (s.ts().secs, s.value.as_f64().unwrap()))
            .collect()
    }

    #[test]
    fn keeps_only_the_last_sample_at_or_before_from() {
        let input = vec![dbl(5, 1.0), dbl(8, 2.0), dbl(10, 3.0), dbl(11, 4.0), dbl(12, 5.0)];
        assert_eq!(run(input, 10), vec![(10, 3.0), (11, 4.0), (12, 5.0)]);
    }

    #[test]
    fn held_first_sample_after_from_and_equal_follower() {
        // First sample after `from` is held; a follower with the same time is dropped.
        let input = vec![dbl(12, 1.0), dbl(12, 2.0), dbl(13, 3.0)];
        assert_eq!(run(input, 10), vec![(12, 1.0), (13, 3.0)]);
    }

    #[test]
    fn only_early_samples_and_empty() {
        assert_eq!(run(vec![dbl(1, 1.0), dbl(2, 2.0)], 10), vec![(2, 2.0)]);
        assert_eq!(run(vec![], 10), vec![]);
    }
}

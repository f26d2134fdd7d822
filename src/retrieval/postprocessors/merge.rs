//! Java's merge consumer rule for the leading samples, applied to an
//! operator's output (Java runs it after the post-processor):
//! the first sample is held; until something is emitted each sample at or
//! before `from` replaces the held one; the first sample after `from`
//! releases the held sample and then itself if it is strictly later; a
//! still-held sample is emitted at the end. Afterwards samples pass through.
//! The rule is idempotent, so a caller that applies it again changes nothing.

use std::collections::VecDeque;

use crate::types::{ArchiverSample, EventStreamDesc, Timestamp};

use super::pump::{scratch, Flow, Operator, Out};

/// The leading-sample rule over an operator's output.
pub(crate) struct Leading {
    from: Timestamp,
    held: ArchiverSample,
    has_held: bool,
    /// True once the held sample was released: the rest passes through.
    released: bool,
}

impl Leading {
    pub(crate) fn new(from: Timestamp) -> Self {
        Leading {
            from,
            held: scratch(),
            has_held: false,
            released: false,
        }
    }
}

impl Operator for Leading {
    /// The operator's description, unchanged.
    fn describe(&self, input: &EventStreamDesc, _name: &str) -> EventStreamDesc {
        input.clone()
    }

    fn push(&mut self, sample: &mut ArchiverSample, out: &mut Out<'_>) -> anyhow::Result<Flow> {
        if self.released {
            std::mem::swap(out.sample, sample);
            return Ok(Flow::Emitted);
        }
        if !self.has_held || sample.ts() <= self.from {
            std::mem::swap(&mut self.held, sample);
            self.has_held = true;
            return Ok(Flow::More);
        }
        self.released = true;
        self.has_held = false;
        let later = sample.ts() > self.held.ts();
        std::mem::swap(out.sample, &mut self.held);
        if later {
            out.queue.push_back(std::mem::replace(sample, scratch()));
        }
        Ok(Flow::Emitted)
    }

    fn finish(&mut self, queue: &mut VecDeque<ArchiverSample>) {
        // A still-held sample is emitted at the end.
        if self.has_held {
            self.has_held = false;
            queue.push_back(std::mem::replace(&mut self.held, scratch()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retrieval::postprocessors::pump::Pumped;
    use crate::retrieval::postprocessors::testutil::{collect, dbl, VecStream};

    fn run(input: Vec<ArchiverSample>, from: i64) -> Vec<(i64, f64)> {
        let mut s = Pumped::new(
            Box::new(VecStream::new(input)),
            "op",
            Leading::new(Timestamp::new(from, 0)),
        );
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

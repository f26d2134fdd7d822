//! Building an operator's output stream from a parsed spec and a range, and
//! the seed [`PostProcessor`] binding.

use crate::storage::{EventStream, PostProcessor};
use crate::types::Timestamp;

use super::bins::BinGrid;
use super::spec::{Op, PpSpec};
use super::{caplot, filter, lttb, merge, optimized, select, summary};

impl PpSpec {
    /// Applies the operator to ONE input stream for the query [from, to] (inclusive). The input is
    /// time-ordered, already de-duplicated across tiers, and begins with the newest sample at or before
    /// `from` (the continuity sample) when one exists. The output is a lazy EventStream.
    ///
    /// Memory stays bounded by one bin (median, kurtosis, skewness, loess and
    /// the flyers operators keep one bin's values), two buckets (lttb) or
    /// `n + 1` samples (`optimized`/`optimLastSample`, which read that many
    /// ahead here to fix the output type). Errors (input failures,
    /// non-numeric samples for numeric operators) surface from `next_event`.
    pub fn apply(&self, input: Box<dyn EventStream>, from: Timestamp, to: Timestamp) -> Box<dyn EventStream> {
        let name = self.name();
        let inner: Box<dyn EventStream> = match &self.op {
            Op::FirstSample { interval } => Box::new(select::FirstSample::new(
                input,
                name,
                BinGrid::new(*interval, from, to),
            )),
            Op::LastSample { interval } => Box::new(select::LastSample::new(
                input,
                name,
                BinGrid::new(*interval, from, to),
            )),
            Op::FirstFill { interval } => Box::new(select::FillSelect::new(
                input,
                name,
                BinGrid::new(*interval, from, to),
                false,
            )),
            Op::LastFill { interval } => Box::new(select::FillSelect::new(
                input,
                name,
                BinGrid::new(*interval, from, to),
                true,
            )),
            Op::Nth { n } => Box::new(select::Nth::new(input, name, *n, from, to)),
            Op::NCount => Box::new(select::NCount::new(input, name, from, to)),
            Op::Summary { stat, interval, fill } => summary::summary_stream(
                input,
                name,
                *stat,
                BinGrid::new(*interval, from, to),
                from,
                to,
                *fill,
            ),
            Op::Flyers {
                interval,
                k,
                keep_outliers,
            } => Box::new(filter::Flyers::new(input, name, *interval, *k, *keep_outliers)),
            Op::DeadBand { adel } => Box::new(filter::DeadBand::new(input, name, *adel)),
            Op::Optimized { n, fill } => optimized::optimized(input, name, *n, from, to, *fill),
            Op::OptimLast { n, fill } => optimized::optim_last(input, name, *n, from, to, *fill),
            Op::CaPlot { interval } => Box::new(caplot::CaPlot::new(
                input,
                name,
                BinGrid::new(*interval, from, to),
            )),
            Op::Lttb { n } => Box::new(lttb::Lttb::new(input, name, *n, from, to)),
        };
        Box::new(merge::Leading::new(inner, from))
    }

    /// Binds the range to get an object implementing the seed `PostProcessor` trait.
    pub fn bind(&self, from: Timestamp, to: Timestamp) -> Box<dyn PostProcessor> {
        Box::new(Bound {
            name: self.name(),
            interval: self.interval_for(from, to),
            spec: self.clone(),
            from,
            to,
        })
    }
}

/// A spec with its range: the seed [`PostProcessor`].
struct Bound {
    name: String,
    interval: u64,
    spec: PpSpec,
    from: Timestamp,
    to: Timestamp,
}

impl PostProcessor for Bound {
    fn name(&self) -> &str {
        &self.name
    }

    fn interval_secs(&self) -> u64 {
        self.interval
    }

    fn process(&self, input: Box<dyn EventStream>) -> Box<dyn EventStream> {
        self.spec.apply(input, self.from, self.to)
    }
}

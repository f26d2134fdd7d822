//! Building an operator's output stream from a parsed spec and a range, and
//! the seed [`PostProcessor`] binding.

use crate::storage::{EventStream, PostProcessor};
use crate::types::Timestamp;

use super::bins::BinGrid;
use super::pump::Pumped;
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
        let grid = |interval: u32| BinGrid::new(interval, from, to);
        let inner: Box<dyn EventStream> = match &self.op {
            Op::FirstSample { interval } => {
                Pumped::boxed(input, &name, select::FirstSample::new(grid(*interval)))
            }
            Op::LastSample { interval } => {
                Pumped::boxed(input, &name, select::LastSample::new(grid(*interval)))
            }
            Op::FirstFill { interval } => {
                Pumped::boxed(input, &name, select::FillSelect::new(grid(*interval), false))
            }
            Op::LastFill { interval } => {
                Pumped::boxed(input, &name, select::FillSelect::new(grid(*interval), true))
            }
            Op::Nth { n } => Pumped::boxed(input, &name, select::Nth::new(*n, from, to)),
            Op::NCount => Pumped::boxed(input, &name, select::NCount::new(from, to)),
            Op::Summary { stat, interval, fill } => {
                summary::summary_stream(input, name.clone(), *stat, grid(*interval), from, to, *fill)
            }
            Op::Flyers {
                interval,
                k,
                keep_outliers,
            } => {
                let op = filter::Flyers::new(name.clone(), *interval, *k, *keep_outliers);
                Pumped::boxed(input, &name, op)
            }
            Op::DeadBand { adel } => Pumped::boxed(input, &name, filter::DeadBand::new(name.clone(), *adel)),
            Op::Optimized { n, fill } => optimized::optimized(input, name.clone(), *n, from, to, *fill),
            Op::OptimLast { n, fill } => optimized::optim_last(input, name.clone(), *n, from, to, *fill),
            Op::CaPlot { interval } => {
                Pumped::boxed(input, &name, caplot::CaPlot::new(name.clone(), grid(*interval)))
            }
            Op::Lttb { n } => Pumped::boxed(input, &name, lttb::Lttb::new(name.clone(), *n, from, to)),
        };
        Pumped::boxed(inner, &name, merge::Leading::new(from))
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

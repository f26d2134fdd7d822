//! The one driver of the operators' output streams. [`Pumped`] owns the
//! input, reads it one sample at a time into a reused buffer and hands each
//! sample to an [`Operator`], which writes output straight into the
//! caller's sample, queues it, or holds it back for [`Operator::emit`]
//! (bins, fillers); at the end of the input [`Operator::finish`] releases
//! what was held. [`BinOutput`] is the emit side shared by the operators
//! that emit one sample per bin with optional fill.
//!
//! Order of output: queued samples, then what `emit` has, then more input.
//! After the end of the input (or [`Flow::Stop`]) the input is not read
//! again.

use std::collections::VecDeque;

use crate::storage::EventStream;
use crate::types::{ArchiverSample, EventStreamDesc, SampleValue};

/// A sample to read into (its allocations are reused).
pub(crate) fn scratch() -> ArchiverSample {
    ArchiverSample::at(0, 0, SampleValue::Double(0.0))
}

/// What an operator did with one input sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Nothing to output yet: read on.
    More,
    /// Output was queued or made ready for [`Operator::emit`].
    Ready,
    /// An output sample was written into `out`.
    Emitted,
    /// The rest of the input is not needed (the operator is finished).
    Stop,
}

/// Where [`Operator::push`] puts output: the caller's sample (the push then
/// returns [`Flow::Emitted`]) or the queue, which is emitted before
/// anything else.
pub(crate) struct Out<'a> {
    pub sample: &'a mut ArchiverSample,
    pub queue: &'a mut VecDeque<ArchiverSample>,
}

/// One post-processing operator over one input stream.
pub(crate) trait Operator: Send {
    /// The output description for an input described by `input`, under the
    /// operator name `name`. Default: the input type, renamed.
    fn describe(&self, input: &EventStreamDesc, name: &str) -> EventStreamDesc {
        super::bins::same_type_desc(input, name)
    }

    /// Takes the next input sample. The operator may keep its contents by
    /// swapping them out (the driver reads the next sample into whatever is
    /// left), write an output sample or queue output.
    fn push(&mut self, sample: &mut ArchiverSample, out: &mut Out<'_>) -> anyhow::Result<Flow>;

    /// The input has ended (or the operator stopped it): queue or ready
    /// what is held back.
    fn finish(&mut self, _queue: &mut VecDeque<ArchiverSample>) {}

    /// Writes the next output sample the operator computes on demand (bins,
    /// fillers) into `out`; `input_ended` after [`Operator::finish`].
    fn emit(&mut self, _out: &mut ArchiverSample, _input_ended: bool) -> bool {
        false
    }
}

/// The output stream of an [`Operator`] over an input stream.
pub(crate) struct Pumped<O> {
    desc: EventStreamDesc,
    input: Box<dyn EventStream>,
    /// The buffer input samples are read into.
    sample: ArchiverSample,
    op: O,
    queue: VecDeque<ArchiverSample>,
    input_ended: bool,
}

impl<O: Operator + 'static> Pumped<O> {
    /// `op`, named `name`, over `input`, as the stream a post-processor returns.
    pub(crate) fn boxed(input: Box<dyn EventStream>, name: &str, op: O) -> Box<dyn EventStream> {
        Box::new(Self::new(input, name, op))
    }
}

impl<O: Operator> Pumped<O> {
    /// `op`, named `name`, over `input`.
    pub(crate) fn new(input: Box<dyn EventStream>, name: &str, op: O) -> Self {
        Self::with_queue(input, name, op, VecDeque::new())
    }

    /// As [`Pumped::new`], with `queued` output before any other.
    pub(crate) fn with_queue(
        input: Box<dyn EventStream>,
        name: &str,
        op: O,
        queued: VecDeque<ArchiverSample>,
    ) -> Self {
        Pumped {
            desc: op.describe(input.description(), name),
            input,
            sample: scratch(),
            op,
            queue: queued,
            input_ended: false,
        }
    }

    fn end_input(&mut self) {
        self.op.finish(&mut self.queue);
        self.input_ended = true;
    }
}

impl<O: Operator> EventStream for Pumped<O> {
    fn description(&self) -> &EventStreamDesc {
        &self.desc
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        let mut s = scratch();
        Ok(self.next_event_into(&mut s)?.then_some(s))
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        loop {
            if let Some(s) = self.queue.pop_front() {
                *out = s;
                return Ok(true);
            }
            if self.op.emit(out, self.input_ended) {
                return Ok(true);
            }
            if self.input_ended {
                return Ok(false);
            }
            loop {
                if !self.input.next_event_into(&mut self.sample)? {
                    self.end_input();
                    break;
                }
                let mut to = Out {
                    sample: out,
                    queue: &mut self.queue,
                };
                match self.op.push(&mut self.sample, &mut to)? {
                    Flow::More => {}
                    Flow::Ready => break,
                    Flow::Emitted => return Ok(true),
                    Flow::Stop => {
                        self.end_input();
                        break;
                    }
                }
            }
        }
    }
}

/// The emit side of a binned operator: a committed bin waits until it is
/// emitted; with fill, every empty bin after an emitted one, up to the next
/// committed bin or, once the input has ended, up to the last bin of the
/// range, is emitted too, as a filler made from the previous output.
pub(crate) struct BinOutput<T> {
    fill: bool,
    ready: Option<(i64, T)>,
    /// The previous output (the fill template).
    last: Option<T>,
    /// The bin after the previous output.
    next_bin: i64,
}

impl<T> BinOutput<T> {
    pub(crate) fn new(fill: bool) -> Self {
        BinOutput {
            fill,
            ready: None,
            last: None,
            next_bin: 0,
        }
    }

    /// Commits `bin` (later than every bin committed before). Invariant:
    /// the previous committed bin was emitted.
    pub(crate) fn commit(&mut self, bin: i64, value: T) {
        debug_assert!(self.ready.is_none(), "a committed bin was not emitted");
        self.ready = Some((bin, value));
    }

    /// What the driver does next: emit a committed bin, or read on.
    pub(crate) fn flow(&self) -> Flow {
        match self.ready {
            Some(_) => Flow::Ready,
            None => Flow::More,
        }
    }

    /// The next bin to write and its value: fillers before the ready bin,
    /// the ready bin, and after the end of the input fillers up to
    /// `last_bin`. `to_filler` turns the previous output into the filler of
    /// the next empty bin.
    pub(crate) fn next(
        &mut self,
        input_ended: bool,
        last_bin: i64,
        to_filler: impl FnOnce(&mut T),
    ) -> Option<(i64, &T)> {
        let fill_to = match &self.ready {
            Some((bin, _)) => bin - 1,
            None if input_ended => last_bin,
            None => return None,
        };
        if self.fill && self.next_bin <= fill_to && self.last.is_some() {
            let bin = self.next_bin;
            self.next_bin += 1;
            let template = self.last.as_mut()?;
            to_filler(template);
            return Some((bin, template));
        }
        let (bin, value) = self.ready.take()?;
        self.next_bin = bin + 1;
        Some((bin, self.last.insert(value)))
    }
}

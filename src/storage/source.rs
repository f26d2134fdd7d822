//! Streams that a store hands to retrieval: a partition file, a single
//! sample from the index (continuity), or samples still in a write buffer.
//! Each gives decoded samples and, for the raw format, the stored bytes.

use std::fs::File;

use super::deadline::TierFile;
use crate::plainpb::{decode_sample, escape_into, FrameRead, RawLine, SampleStream};
use crate::storage::EventStream;
use crate::types::{ArchiverSample, EventStreamDesc, Timestamp};

/// One source of samples for one PV, in time order.
pub enum Source {
    /// A partition file read from a position found by binary search.
    File(Box<SampleStream<File>>),
    /// A partition file of a tier, read on the tier's reader pool within
    /// its deadline (see [`super::deadline`]).
    Tier(Box<SampleStream<TierFile>>),
    /// A compressed (`.pb.zst`) partition, decompressed one frame at a time
    /// from the frame holding the start, on the tier's
    /// reader pool.
    Compressed(Box<SampleStream<FrameRead<TierFile>>>),
    /// Escaped sample lines held in memory (one sample from the index, or a
    /// write buffer's contents), each with its timestamp.
    Mem(MemLines),
}

/// Escaped lines in memory.
pub struct MemLines {
    desc: EventStreamDesc,
    /// Concatenated escaped lines without newlines.
    bytes: Vec<u8>,
    /// `(ts, start, end)` of each line in `bytes`.
    lines: Vec<(Timestamp, usize, usize)>,
    next: usize,
}

impl MemLines {
    /// Empty set of lines for `desc`.
    pub fn new(desc: EventStreamDesc) -> Self {
        MemLines {
            desc,
            bytes: Vec::new(),
            lines: Vec::new(),
            next: 0,
        }
    }

    /// Adds an escaped line (no newline) with its timestamp.
    pub fn push_escaped(&mut self, ts: Timestamp, escaped: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(escaped);
        self.lines.push((ts, start, self.bytes.len()));
    }

    /// Adds an unescaped sample message with its timestamp.
    pub fn push_raw(&mut self, ts: Timestamp, raw: &[u8]) {
        let start = self.bytes.len();
        escape_into(raw, &mut self.bytes);
        self.lines.push((ts, start, self.bytes.len()));
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when no lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

impl Source {
    /// Stream description (PV, type, year, headers).
    pub fn desc(&self) -> &EventStreamDesc {
        match self {
            Source::File(f) => f.desc(),
            Source::Tier(f) => f.desc(),
            Source::Compressed(f) => f.desc(),
            Source::Mem(m) => &m.desc,
        }
    }

    /// Mutable description.
    pub fn desc_mut(&mut self) -> &mut EventStreamDesc {
        match self {
            Source::File(f) => f.desc_mut(),
            Source::Tier(f) => f.desc_mut(),
            Source::Compressed(f) => f.desc_mut(),
            Source::Mem(m) => &mut m.desc,
        }
    }

    /// Next stored line with its time; bad lines come back as errors and
    /// reading continues after them.
    pub fn next_raw(&mut self) -> anyhow::Result<Option<RawLine<'_>>> {
        match self {
            Source::File(f) => Ok(f.next_raw()?),
            Source::Tier(f) => Ok(f.next_raw()?),
            Source::Compressed(f) => Ok(f.next_raw()?),
            Source::Mem(m) => {
                let Some(&(ts, a, b)) = m.lines.get(m.next) else {
                    return Ok(None);
                };
                m.next += 1;
                Ok(Some(RawLine {
                    ts,
                    line: &m.bytes[a..b],
                }))
            }
        }
    }

    /// Copies the rest of the source unchanged when that is known to be safe
    /// (a file whose remaining lines are all complete and within the range);
    /// `Ok(Some((bytes, newest time)))`, or `Ok(None)` to read line by line.
    pub fn copy_rest(
        &mut self,
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> anyhow::Result<Option<(u64, Timestamp)>> {
        match self {
            Source::File(f) => {
                let Some(last) = f.bulk_last() else {
                    return Ok(None);
                };
                Ok(f.copy_rest(out)?.map(|n| (n, last)))
            }
            Source::Tier(f) => {
                let Some(last) = f.bulk_last() else {
                    return Ok(None);
                };
                Ok(f.copy_rest(out)?.map(|n| (n, last)))
            }
            Source::Compressed(_) | Source::Mem(_) => Ok(None),
        }
    }

    /// Decodes the next sample into `out`.
    #[inline]
    pub fn next_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        Ok(self.next_into_ts(out)?.is_some())
    }

    /// Decodes the next sample into `out` and returns its time (`None` at
    /// the end).
    #[inline]
    pub fn next_into_ts(&mut self, out: &mut ArchiverSample) -> anyhow::Result<Option<Timestamp>> {
        match self {
            Source::File(f) => Ok(f.next_sample_into_ts(out)?),
            Source::Tier(f) => Ok(f.next_sample_into_ts(out)?),
            Source::Compressed(f) => Ok(f.next_sample_into_ts(out)?),
            Source::Mem(m) => {
                let Some(&(ts, a, b)) = m.lines.get(m.next) else {
                    return Ok(None);
                };
                m.next += 1;
                let mut raw = Vec::with_capacity(b - a);
                crate::plainpb::unescape_into(&m.bytes[a..b], &mut raw)?;
                *out = decode_sample(m.desc.db_type, &raw, m.desc.year)?;
                Ok(Some(ts))
            }
        }
    }
}

impl EventStream for Source {
    fn description(&self) -> &EventStreamDesc {
        self.desc()
    }

    fn next_event(&mut self) -> anyhow::Result<Option<ArchiverSample>> {
        match self {
            Source::File(f) => Ok(f.next_sample()?),
            Source::Tier(f) => Ok(f.next_sample()?),
            Source::Compressed(f) => Ok(f.next_sample()?),
            Source::Mem(_) => {
                let mut s =
                    ArchiverSample::new(std::time::UNIX_EPOCH, crate::types::SampleValue::Double(0.0));
                Ok(self.next_into(&mut s)?.then_some(s))
            }
        }
    }

    fn next_event_into(&mut self, out: &mut ArchiverSample) -> anyhow::Result<bool> {
        self.next_into(out)
    }
}

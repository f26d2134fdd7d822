//! Streaming one PlainPB file's samples in a time range, forward from the
//! line a search found, with a bounded line buffer; raw lines for the raw
//! format, decoded samples otherwise, and a bulk copy when an index record
//! vouches for the remaining lines.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::codec::{
    decode_canonical_escaped_line_into, decode_canonical_line_into, decode_into_at, decode_sample_at,
    decode_timestamp, SampleCodecError,
};
use super::escape::unescape_into;
use super::file::PbFile;
use super::lines::{LineEvent, LineReader};
use super::{Error, NEWLINE};
use crate::types::{year_start, ArchDbType, ArchiverSample, EventStreamDesc, Timestamp};

/// Buffered bytes needed before trying the one-pass decoder (longer than
/// any canonical scalar line; shorter remainders take the general path).
const FAST_LOOKAHEAD: usize = 64;

/// One escaped sample line with its decoded timestamp.
#[derive(Debug, Clone, Copy)]
pub struct RawLine<'a> {
    /// Sample time.
    pub ts: Timestamp,
    /// The escaped record, without newline, exactly as stored.
    pub line: &'a [u8],
}

impl PbFile {
    /// Streams samples from the newest one at or before `start` (or the
    /// first sample) through the last one `<= end` (inclusive).
    pub fn stream(self, start: Option<Timestamp>, end: Option<Timestamp>) -> Result<SampleStream, Error> {
        let offset = match start {
            None => self.data_start,
            Some(t) => {
                let (first_after, before) = self.search(t)?;
                before.unwrap_or(first_after)
            }
        };
        let mut file = self.file;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io("seek", &self.path, e))?;
        Ok(SampleStream {
            reader: LineReader::new(file, offset),
            path: self.path,
            desc: self.desc,
            year_start: self.year_start,
            end,
            scratch: Vec::new(),
            done: false,
            truncated_tail: None,
            bulk: None,
        })
    }
}

/// `(offset, escaped line, unescaped line)`.
type FetchedLine<'a> = (u64, &'a [u8], &'a [u8]);

/// A forward stream of a file's samples in a time range.
pub struct SampleStream<R: Read = File> {
    reader: LineReader<R>,
    path: PathBuf,
    desc: EventStreamDesc,
    year_start: i64,
    end: Option<Timestamp>,
    scratch: Vec<u8>,
    done: bool,
    truncated_tail: Option<u64>,
    /// `(byte end, last time)` when every line up to `byte end` is known
    /// (from an index record) to be complete and within the range.
    bulk: Option<(u64, Timestamp)>,
}

/// Reads at an offset without moving a cursor (`FileExt::read_exact_at`
/// for files; wrappers that read a file elsewhere implement it too).
pub trait ReadAt {
    /// Fills `buf` from offset `at`; an error if the source ends first.
    fn read_exact_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<()>;
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, at)
    }
}

impl<R: Read + ReadAt> SampleStream<R> {
    /// Copies the remaining lines unchanged (each ending with a newline) to
    /// `out`, if [`SampleStream::set_bulk`] allowed it; returns the bytes
    /// copied, or `None` when the stream must be read line by line.
    pub fn copy_rest(
        &mut self,
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<Option<u64>, Error> {
        let Some((end, _)) = self.bulk else {
            return Ok(None);
        };
        if self.done {
            return Ok(Some(0));
        }
        let (buffered, file_pos) = self.reader.buffered();
        let pos = self.reader.position();
        let io = |e| Error::io("read", &self.path, e);
        // Only whole lines go to `out`, so a read that fails part way
        // leaves `out` at a line boundary; `end` is one.
        let take = (end.saturating_sub(pos) as usize).min(buffered.len());
        let mut buf = vec![0u8; (1 << 20).max(2 * take)];
        buf[..take].copy_from_slice(&buffered[..take]);
        let mut filled = take;
        let mut at = file_pos.max(pos + take as u64);
        let mut copied = 0u64;
        loop {
            let cut = if at >= end {
                filled
            } else {
                memchr::memrchr(NEWLINE, &buf[..filled]).map_or(0, |i| i + 1)
            };
            if cut > 0 {
                out(&buf[..cut]).map_err(io)?;
                copied += cut as u64;
                buf.copy_within(cut..filled, 0);
                filled -= cut;
            }
            if at >= end {
                break;
            }
            if filled == buf.len() {
                // One line longer than the buffer.
                buf.resize(buf.len() * 2, 0);
            }
            let want = ((end - at) as usize).min(buf.len() - filled);
            self.reader
                .get_ref()
                .read_exact_at(&mut buf[filled..filled + want], at)
                .map_err(io)?;
            filled += want;
            at += want as u64;
        }
        self.done = true;
        Ok(Some(copied))
    }
}

impl<R: Read> SampleStream<R> {
    /// The same stream reading through `f(reader)`, which must read the
    /// same bytes from the same position (e.g. on another thread).
    pub fn map_reader<R2: Read>(self, f: impl FnOnce(R) -> R2) -> SampleStream<R2> {
        SampleStream {
            reader: self.reader.map_inner(f),
            path: self.path,
            desc: self.desc,
            year_start: self.year_start,
            end: self.end,
            scratch: self.scratch,
            done: self.done,
            truncated_tail: self.truncated_tail,
            bulk: self.bulk,
        }
    }

    /// A stream over an arbitrary reader positioned at the first sample line
    /// (`base` = its offset, used in error messages).
    pub fn from_reader(
        reader: R,
        base: u64,
        path: PathBuf,
        desc: EventStreamDesc,
        end: Option<Timestamp>,
    ) -> Self {
        let year_start = year_start(desc.year);
        SampleStream {
            reader: LineReader::new(reader, base),
            path,
            desc,
            year_start,
            end,
            scratch: Vec::new(),
            done: false,
            truncated_tail: None,
            bulk: None,
        }
    }

    /// The header description.
    pub fn desc(&self) -> &EventStreamDesc {
        &self.desc
    }

    /// Mutable description (retrieval adds headers such as EGU).
    pub fn desc_mut(&mut self) -> &mut EventStreamDesc {
        &mut self.desc
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Offset of a partial trailing line, once the stream has reached it.
    pub fn truncated_tail(&self) -> Option<u64> {
        self.truncated_tail
    }

    /// Next complete line: `(offset, escaped bytes, unescaped bytes)`, or
    /// `None` at the end (a partial tail is logged and ends the stream).
    fn fetch<'a>(
        reader: &'a mut LineReader<R>,
        scratch: &'a mut Vec<u8>,
        path: &Path,
        done: &mut bool,
        truncated_tail: &mut Option<u64>,
    ) -> Result<Option<FetchedLine<'a>>, Error> {
        if *done {
            return Ok(None);
        }
        let ev = reader.next_line().map_err(|e| Error::io("read", path, e))?;
        let (offset, bytes, plain) = match ev {
            None => {
                *done = true;
                return Ok(None);
            }
            Some(LineEvent::Partial { offset, len }) => {
                *done = true;
                *truncated_tail = Some(offset);
                tracing::warn!(path = %path.display(), offset, len, "ignoring truncated last line");
                return Ok(None);
            }
            Some(LineEvent::Line { offset, bytes, plain }) => (offset, bytes, plain),
        };
        if plain {
            return Ok(Some((offset, bytes, bytes)));
        }
        scratch.clear();
        unescape_into(bytes, scratch).map_err(|e| Error::BadSample {
            path: path.to_path_buf(),
            offset,
            reason: e.to_string(),
        })?;
        Ok(Some((offset, bytes, scratch.as_slice())))
    }

    /// Next sample line with its timestamp, without decoding the value.
    /// Lines whose timestamp cannot be read are returned as errors; the
    /// stream continues with the next line on the following call.
    pub fn next_raw(&mut self) -> Result<Option<RawLine<'_>>, Error> {
        let (year_start, end) = (self.year_start, self.end);
        let Some((offset, line, raw)) = Self::fetch(
            &mut self.reader,
            &mut self.scratch,
            &self.path,
            &mut self.done,
            &mut self.truncated_tail,
        )?
        else {
            return Ok(None);
        };
        let (soy, nano) = decode_timestamp(raw).map_err(|e| Error::BadSample {
            path: self.path.clone(),
            offset,
            reason: e.to_string(),
        })?;
        let ts = Timestamp::new(year_start + i64::from(soy), nano);
        if end.is_some_and(|end| ts > end) {
            self.done = true;
            return Ok(None);
        }
        Ok(Some(RawLine { ts, line }))
    }

    /// Decodes the next sample into `out` (reusing its allocations);
    /// `Ok(false)` at the end of the range or file. After an error the
    /// stream continues with the next line.
    pub fn next_sample_into(&mut self, out: &mut ArchiverSample) -> Result<bool, Error> {
        Ok(self.next_sample_into_ts(out)?.is_some())
    }

    /// [`SampleStream::next_sample_into`] that also returns the sample's
    /// time (`None` at the end), sparing callers the conversion back from
    /// `SystemTime`.
    #[inline]
    pub fn next_sample_into_ts(&mut self, out: &mut ArchiverSample) -> Result<Option<Timestamp>, Error> {
        let (ty, year_start, end) = (self.desc.db_type, self.year_start, self.end);
        if !self.done {
            // One pass over a plain canonical scalar line in the buffer.
            let buf = self.reader.peek();
            if buf.len() >= FAST_LOOKAHEAD {
                let fast = decode_canonical_line_into(ty, buf, year_start, out)
                    .or_else(|| decode_canonical_escaped_line_into(ty, buf, year_start, out));
                if let Some((ts, used)) = fast {
                    if end.is_some_and(|end| ts > end) {
                        self.done = true;
                        return Ok(None);
                    }
                    self.reader.consume(used);
                    return Ok(Some(ts));
                }
            }
        }
        let Some((offset, _, raw)) = Self::fetch(
            &mut self.reader,
            &mut self.scratch,
            &self.path,
            &mut self.done,
            &mut self.truncated_tail,
        )?
        else {
            return Ok(None);
        };
        let ts = match decode_into_at(ty, raw, year_start, out) {
            Ok(ts) => ts,
            Err(e) => {
                return Err(Error::BadSample {
                    path: self.path.clone(),
                    offset,
                    reason: e.to_string(),
                })
            }
        };
        if end.is_some_and(|end| ts > end) {
            self.done = true;
            return Ok(None);
        }
        Ok(Some(ts))
    }

    /// Next decoded sample (`None` at the end of the range or file).
    pub fn next_sample(&mut self) -> Result<Option<ArchiverSample>, Error> {
        let (ty, year_start, end) = (self.desc.db_type, self.year_start, self.end);
        let Some((offset, _, raw)) = Self::fetch(
            &mut self.reader,
            &mut self.scratch,
            &self.path,
            &mut self.done,
            &mut self.truncated_tail,
        )?
        else {
            return Ok(None);
        };
        let sample =
            decode_sample_at(ty, raw, year_start).map_err(|e: SampleCodecError| Error::BadSample {
                path: self.path.clone(),
                offset,
                reason: e.to_string(),
            })?;
        if end.is_some_and(|end| Timestamp::from_system_time(sample.timestamp) > end) {
            self.done = true;
            return Ok(None);
        }
        Ok(Some(sample))
    }

    /// Declares that the file's complete lines end at byte `end` and the
    /// newest of them is `last`, which is within the stream's range, so the
    /// rest of the stream may be copied without looking at each line.
    pub fn set_bulk(&mut self, end: u64, last: Timestamp) {
        if self.end.is_none_or(|e| last <= e) {
            self.bulk = Some((end, last));
        }
    }

    /// The newest time of the lines [`SampleStream::copy_rest`] would copy.
    pub fn bulk_last(&self) -> Option<Timestamp> {
        self.bulk.map(|(_, t)| t)
    }

    /// The payload type of the stream.
    pub fn db_type(&self) -> ArchDbType {
        self.desc.db_type
    }
}

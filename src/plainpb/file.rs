//! Reading one PlainPB file: header, first/last sample, binary search by
//! time over byte offsets (plainpb.md §7), and streaming of a time range.
//!
//! Never loads a large file whole: streams use a bounded line buffer and the
//! search reads small blocks at chosen offsets.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::codec::{
    decode_canonical_escaped_line_into, decode_canonical_line_into, decode_into_at, decode_sample_at,
    decode_timestamp, SampleCodecError,
};
use super::escape::{is_plain, unescape_into};
use super::header::decode_header;
use super::lines::{LineEvent, LineReader};
use super::{Error, NEWLINE};
use crate::pb::PayloadInfo;
use crate::types::{year_start, ArchDbType, ArchiverSample, EventStreamDesc, Timestamp};

const BLOCK: usize = 16 * 1024;
/// Files up to this size are searched in memory after one read.
const SMALL_FILE: u64 = 16 * 1024;
/// Buffered bytes needed before trying the one-pass decoder (longer than
/// any canonical scalar line; shorter remainders take the general path).
const FAST_LOOKAHEAD: usize = 64;
/// First read of a large file's head (header line).
const HEAD_READ: u64 = 512;
/// Java steps back at most this many lines looking for a parseable last sample.
const MAX_BACKTRACK: usize = 1000;

/// Random access to a file's bytes, in memory for small files.
enum Bytes<'f> {
    Mem(&'f [u8]),
    File { file: &'f File, len: u64 },
}

impl Bytes<'_> {
    fn len(&self) -> u64 {
        match self {
            Bytes::Mem(v) => v.len() as u64,
            Bytes::File { len, .. } => *len,
        }
    }

    fn read(&self, a: u64, b: u64) -> std::io::Result<Cow<'_, [u8]>> {
        match self {
            Bytes::Mem(v) => Ok(Cow::Borrowed(&v[a as usize..b as usize])),
            Bytes::File { file, .. } => {
                let mut buf = vec![0u8; (b - a) as usize];
                file.read_exact_at(&mut buf, a)?;
                Ok(Cow::Owned(buf))
            }
        }
    }

    /// Offset of the first newline at or after `from`. Reads small blocks
    /// first (sample lines are short), growing for long lines.
    fn newline_after(&self, from: u64) -> std::io::Result<Option<u64>> {
        let len = self.len();
        if let Bytes::Mem(v) = self {
            let start = (from as usize).min(v.len());
            return Ok(memchr::memchr(NEWLINE, &v[start..]).map(|i| from + i as u64));
        }
        let mut at = from;
        let mut step = 256u64;
        while at < len {
            let end = (at + step).min(len);
            let block = self.read(at, end)?;
            if let Some(i) = memchr::memchr(NEWLINE, &block) {
                return Ok(Some(at + i as u64));
            }
            at = end;
            step = (step * 4).min(BLOCK as u64 * 4);
        }
        Ok(None)
    }

    /// Offset of the last newline strictly before `before`.
    fn newline_before(&self, before: u64, floor: u64) -> std::io::Result<Option<u64>> {
        let mut end = before;
        while end > floor {
            let start = end.saturating_sub(BLOCK as u64).max(floor);
            let block = self.read(start, end)?;
            if let Some(i) = memchr::memrchr(NEWLINE, &block) {
                return Ok(Some(start + i as u64));
            }
            end = start;
        }
        Ok(None)
    }
}

/// One escaped sample line with its decoded timestamp.
#[derive(Debug, Clone, Copy)]
pub struct RawLine<'a> {
    /// Sample time.
    pub ts: Timestamp,
    /// The escaped record, without newline, exactly as stored.
    pub line: &'a [u8],
}

/// What a file holds, found by reading its head and tail only.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// The header.
    pub header: PayloadInfo,
    /// Header as a description.
    pub desc: EventStreamDesc,
    /// Offset of the first sample line.
    pub data_start: u64,
    /// File size in bytes.
    pub len: u64,
    /// First sample, if any parses.
    pub first: Option<ArchiverSample>,
    /// Last parseable complete sample.
    pub last: Option<ArchiverSample>,
    /// The escaped last line (as stored), for index records.
    pub last_line: Option<Vec<u8>>,
    /// End offset (after its newline) of the last good line; appends go here.
    pub good_len: u64,
    /// Offset of trailing bytes that are not a complete parseable line.
    pub damaged_tail: Option<u64>,
    /// Sample lines before `good_len`, when the file was small enough to be
    /// read whole.
    pub lines: Option<u64>,
}

/// An open PlainPB file.
pub struct PbFile {
    path: PathBuf,
    file: File,
    len: u64,
    header: PayloadInfo,
    desc: EventStreamDesc,
    data_start: u64,
    year_start: i64,
    /// The whole file, for files up to `SMALL_FILE` bytes (read once at open).
    mem: Option<Vec<u8>>,
}

impl PbFile {
    /// Opens `path` and parses its header line.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        Self::from_file(path, file, len)
    }

    /// Opens `path` looking only at its first `len` bytes, which the caller
    /// knows to be complete lines (an index record's size); bytes appended
    /// since are not seen. Saves the `stat` of [`PbFile::open`]. A file
    /// shorter than `len` makes reads fail: callers fall back to `open`.
    pub fn open_prefix(path: &Path, len: u64) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        Self::from_file(path, file, len)
    }

    /// Parses the header of an already open file of size `len`.
    pub fn from_file(path: &Path, file: File, len: u64) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadHeader {
            path: path.to_path_buf(),
            reason,
        };
        if len == 0 {
            return Err(bad("empty file".into()));
        }
        let mem = if len <= SMALL_FILE {
            let mut v = vec![0u8; len as usize];
            file.read_exact_at(&mut v, 0)
                .map_err(|e| Error::io("read", path, e))?;
            Some(v)
        } else {
            None
        };
        let bytes = match &mem {
            Some(v) => Bytes::Mem(v),
            None => Bytes::File { file: &file, len },
        };
        // Headers are short: one read of the head usually holds the line.
        let head = match &mem {
            Some(_) => None,
            None => {
                let mut v = vec![0u8; len.min(HEAD_READ) as usize];
                file.read_exact_at(&mut v, 0)
                    .map_err(|e| Error::io("read", path, e))?;
                memchr::memchr(NEWLINE, &v).map(|i| {
                    v.truncate(i);
                    v
                })
            }
        };
        let (nl, escaped) = match head {
            Some(v) => (v.len() as u64, Cow::Owned(v)),
            None => {
                let nl = bytes
                    .newline_after(0)
                    .map_err(|e| Error::io("read", path, e))?
                    .ok_or_else(|| bad("no complete header line".into()))?;
                (nl, bytes.read(0, nl).map_err(|e| Error::io("read", path, e))?)
            }
        };
        let mut raw = Vec::with_capacity(escaped.len());
        unescape_into(&escaped, &mut raw).map_err(|e| bad(e.to_string()))?;
        let header = decode_header(&raw).map_err(|e| bad(e.to_string()))?;
        let desc = header
            .to_desc()
            .ok_or_else(|| bad(format!("unknown payload type {}", header.r#type)))?;
        let year_start = year_start(header.year);
        Ok(PbFile {
            path: path.to_path_buf(),
            file,
            len,
            header,
            desc,
            data_start: nl + 1,
            year_start,
            mem,
        })
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header.
    pub fn header(&self) -> &PayloadInfo {
        &self.header
    }

    /// The header as a description.
    pub fn desc(&self) -> &EventStreamDesc {
        &self.desc
    }

    /// File size when opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the file has no sample bytes after its header.
    pub fn is_empty(&self) -> bool {
        self.len <= self.data_start
    }

    /// Offset of the first sample line.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    fn bytes(&self) -> Result<Bytes<'_>, Error> {
        if let Some(v) = &self.mem {
            Ok(Bytes::Mem(v))
        } else {
            Ok(Bytes::File {
                file: &self.file,
                len: self.len,
            })
        }
    }

    fn unescape<'a>(
        &self,
        escaped: &'a [u8],
        scratch: &'a mut Vec<u8>,
        offset: u64,
    ) -> Result<&'a [u8], Error> {
        if is_plain(escaped) {
            return Ok(escaped);
        }
        scratch.clear();
        unescape_into(escaped, scratch).map_err(|e| self.bad_sample(offset, e.to_string()))?;
        Ok(scratch)
    }

    fn bad_sample(&self, offset: u64, reason: String) -> Error {
        Error::BadSample {
            path: self.path.clone(),
            offset,
            reason,
        }
    }

    fn ts_of(&self, escaped: &[u8], offset: u64) -> Result<Timestamp, Error> {
        let mut scratch = Vec::new();
        let raw = self.unescape(escaped, &mut scratch, offset)?;
        let (soy, nano) = decode_timestamp(raw).map_err(|e| self.bad_sample(offset, e.to_string()))?;
        Ok(Timestamp::new(self.year_start + i64::from(soy), nano))
    }

    fn decode_at(&self, escaped: &[u8], offset: u64) -> Result<ArchiverSample, Error> {
        let mut scratch = Vec::new();
        let raw = self.unescape(escaped, &mut scratch, offset)?;
        decode_sample_at(self.desc.db_type, raw, self.year_start)
            .map_err(|e| self.bad_sample(offset, e.to_string()))
    }

    /// Number of newline-terminated sample lines before byte `upto`
    /// (one sequential read; no decoding).
    pub fn count_lines(&self, upto: u64) -> Result<u64, Error> {
        let upto = upto.min(self.len);
        let mut at = self.data_start;
        let mut buf = vec![0u8; (upto.saturating_sub(at) as usize).min(1 << 20)];
        let mut n = 0u64;
        while at < upto {
            let want = ((upto - at) as usize).min(buf.len());
            self.file
                .read_exact_at(&mut buf[..want], at)
                .map_err(|e| Error::io("read", &self.path, e))?;
            n += memchr::memchr_iter(NEWLINE, &buf[..want]).count() as u64;
            at += want as u64;
        }
        Ok(n)
    }

    /// Head and tail facts: first and last parseable samples, the end of the
    /// last good line and whether a damaged tail follows it.
    pub fn info(&self) -> Result<FileInfo, Error> {
        let bytes = self.bytes()?;
        let io = |e| Error::io("read", &self.path, e);
        let mut first = None;
        if let Some(nl) = bytes.newline_after(self.data_start).map_err(io)? {
            let line = bytes.read(self.data_start, nl).map_err(io)?;
            first = self.decode_at(&line, self.data_start).ok();
        }
        // Walk back from the end over complete lines until one parses.
        let mut last = None;
        let mut last_line = None;
        let mut good_len = self.data_start;
        let mut end_nl = if self.len > self.data_start {
            bytes.newline_before(self.len, self.data_start).map_err(io)?
        } else {
            None
        };
        let mut tries = 0;
        while let Some(nl) = end_nl {
            if nl < self.data_start || tries >= MAX_BACKTRACK {
                break;
            }
            tries += 1;
            let start = match bytes.newline_before(nl, self.data_start).map_err(io)? {
                Some(p) => p + 1,
                None => self.data_start,
            };
            let line = bytes.read(start, nl).map_err(io)?;
            if let Ok(s) = self.decode_at(&line, start) {
                last = Some(s);
                last_line = Some(line.into_owned());
                good_len = nl + 1;
                break;
            }
            end_nl = if start > self.data_start {
                Some(start - 1)
            } else {
                None
            };
        }
        if last.is_none() {
            good_len = self.data_start;
            first = None;
        }
        let damaged_tail = (good_len < self.len).then_some(good_len);
        let lines = match &bytes {
            Bytes::Mem(v) => Some(
                memchr::memchr_iter(NEWLINE, &v[self.data_start as usize..good_len as usize]).count() as u64,
            ),
            Bytes::File { .. } => None,
        };
        Ok(FileInfo {
            header: self.header.clone(),
            desc: self.desc.clone(),
            data_start: self.data_start,
            len: self.len,
            first,
            last,
            last_line,
            good_len,
            damaged_tail,
            lines,
        })
    }

    /// Start offset and timestamp of the first decodable line starting at or
    /// after byte `p` (a line starts at `data_start` or after a newline).
    fn probe(&self, bytes: &Bytes<'_>, p: u64, limit: u64) -> Result<Option<(u64, Timestamp)>, Error> {
        let io = |e| Error::io("read", &self.path, e);
        let mut start = if p <= self.data_start {
            self.data_start
        } else {
            match bytes.newline_after(p - 1).map_err(io)? {
                Some(nl) => nl + 1,
                None => return Ok(None),
            }
        };
        while start < limit {
            let Some(nl) = bytes.newline_after(start).map_err(io)? else {
                return Ok(None);
            };
            if nl >= limit {
                return Ok(None);
            }
            let line = bytes.read(start, nl).map_err(io)?;
            match self.ts_of(&line, start) {
                Ok(ts) => return Ok(Some((start, ts))),
                Err(_) => start = nl + 1,
            }
        }
        Ok(None)
    }

    /// Binary search (plainpb.md §7.2): returns `(first_after, at_or_before)`,
    /// the start offset of the first line with time `> t` (file end if none)
    /// and the start offset of the line before it (`None` if `t` precedes
    /// every sample). O(log size) block reads.
    pub fn search(&self, t: Timestamp) -> Result<(u64, Option<u64>), Error> {
        let bytes = self.bytes()?;
        self.search_in(&bytes, t)
    }

    fn search_in(&self, bytes: &Bytes<'_>, t: Timestamp) -> Result<(u64, Option<u64>), Error> {
        let limit = self.len;
        let (mut lo, mut hi) = (self.data_start, limit);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.probe(bytes, mid, limit)? {
                Some((_, ts)) if ts <= t => lo = mid + 1,
                _ => hi = mid,
            }
        }
        let first_after = match self.probe(bytes, lo, limit)? {
            Some((start, _)) => start,
            None => limit,
        };
        let before = if lo > self.data_start { Some(lo - 1) } else { None };
        // A damaged line between `before` and `first_after` can break the
        // adjacency argument; confirm `before` is a line start with ts <= t.
        let before = match before {
            Some(b) => match self.probe(bytes, b, limit)? {
                Some((s, ts)) if s == b && ts <= t => Some(b),
                _ => self.scan_back_for(bytes, first_after, t)?,
            },
            None => None,
        };
        Ok((first_after, before))
    }

    /// Slow path: walk back line by line from `from` to a line with ts <= t.
    fn scan_back_for(&self, bytes: &Bytes<'_>, from: u64, t: Timestamp) -> Result<Option<u64>, Error> {
        let io = |e| Error::io("read", &self.path, e);
        let mut end = from;
        for _ in 0..MAX_BACKTRACK {
            if end <= self.data_start {
                return Ok(None);
            }
            let nl = end - 1;
            let start = match bytes.newline_before(nl, self.data_start).map_err(io)? {
                Some(p) => p + 1,
                None => self.data_start,
            };
            let line = bytes.read(start, nl).map_err(io)?;
            if let Ok(ts) = self.ts_of(&line, start) {
                if ts <= t {
                    return Ok(Some(start));
                }
            }
            end = start;
        }
        Ok(None)
    }

    /// The newest sample with time `<= t` (or `< t` when `strict`), by binary search.
    pub fn last_at_or_before(&self, t: Timestamp, strict: bool) -> Result<Option<ArchiverSample>, Error> {
        let target = if strict {
            if t.nanos > 0 {
                Timestamp::new(t.secs, t.nanos - 1)
            } else {
                Timestamp::new(t.secs - 1, 999_999_999)
            }
        } else {
            t
        };
        let bytes = self.bytes()?;
        let (_, before) = self.search_in(&bytes, target)?;
        let Some(start) = before else { return Ok(None) };
        let io = |e| Error::io("read", &self.path, e);
        let Some(nl) = bytes.newline_after(start).map_err(io)? else {
            return Ok(None);
        };
        let line = bytes.read(start, nl).map_err(io)?;
        self.decode_at(&line, start).map(Some)
    }

    /// As [`PbFile::last_at_or_before`], guided by the file's first and last
    /// sample times (from an index): reads one small window at the
    /// interpolated position, which holds the answer for regularly spaced
    /// samples; otherwise falls back to the binary search.
    pub fn last_at_or_before_guided(
        &self,
        t: Timestamp,
        strict: bool,
        first: Timestamp,
        last: Timestamp,
    ) -> Result<Option<ArchiverSample>, Error> {
        const WINDOW: u64 = 2048;
        let target = if strict {
            if t.nanos > 0 {
                Timestamp::new(t.secs, t.nanos - 1)
            } else {
                Timestamp::new(t.secs - 1, 999_999_999)
            }
        } else {
            t
        };
        let span = last.as_f64() - first.as_f64();
        if target < first || target >= last || span <= 0.0 || self.len <= self.data_start {
            return self.last_at_or_before(t, strict);
        }
        let frac = ((target.as_f64() - first.as_f64()) / span).clamp(0.0, 1.0);
        let body = self.len - self.data_start;
        let pos = self.data_start + (frac * body as f64) as u64;
        let a = pos.saturating_sub(WINDOW / 2).max(self.data_start);
        let b = (a + WINDOW).min(self.len);
        let mut buf = vec![0u8; (b - a) as usize];
        self.file
            .read_exact_at(&mut buf, a)
            .map_err(|e| Error::io("read", &self.path, e))?;
        let mut at = if a == self.data_start {
            0
        } else {
            match memchr::memchr(NEWLINE, &buf) {
                Some(i) => i + 1,
                None => return self.last_at_or_before(t, strict),
            }
        };
        let mut cand: Option<(usize, usize)> = None;
        let mut saw_after = false;
        while let Some(i) = memchr::memchr(NEWLINE, &buf[at..]) {
            let line = &buf[at..at + i];
            if let Ok(ts) = self.ts_of(line, a + at as u64) {
                if ts <= target {
                    cand = Some((at, at + i));
                } else {
                    saw_after = true;
                    break;
                }
            }
            at += i + 1;
        }
        match cand {
            Some((x, y)) if saw_after => self.decode_at(&buf[x..y], a + x as u64).map(Some),
            _ => self.last_at_or_before(t, strict),
        }
    }

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

impl SampleStream<File> {
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
        let mut copied = 0u64;
        if pos < end {
            let take = ((end - pos) as usize).min(buffered.len());
            out(&buffered[..take]).map_err(io)?;
            copied += take as u64;
        }
        let mut at = file_pos.max(pos + copied);
        let mut buf = vec![0u8; 1 << 20];
        while at < end {
            let want = ((end - at) as usize).min(buf.len());
            self.reader
                .get_ref()
                .read_exact_at(&mut buf[..want], at)
                .map_err(io)?;
            out(&buf[..want]).map_err(io)?;
            copied += want as u64;
            at += want as u64;
        }
        self.done = true;
        Ok(Some(copied))
    }
}

impl<R: Read> SampleStream<R> {
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

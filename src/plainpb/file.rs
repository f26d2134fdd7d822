//! One open PlainPB file: its header, random access to its bytes (in memory
//! for small files) and the facts of its head and tail. The binary search by
//! time is in [`super::search`], streaming a time range in [`super::stream`].
//!
//! Never loads a large file whole: the search and the tail walk read small
//! blocks at chosen offsets.

use std::borrow::Cow;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::codec::{decode_sample_at, decode_timestamp};
use super::escape::{is_plain, unescape_into};
use super::header::decode_header;
use super::{Error, NEWLINE};
use crate::pb::PayloadInfo;
use crate::types::{year_start, ArchiverSample, EventStreamDesc, Timestamp};

const BLOCK: usize = 16 * 1024;
/// Files up to this size are searched in memory after one read.
const SMALL_FILE: u64 = 16 * 1024;
/// First read of a large file's head (header line).
const HEAD_READ: u64 = 512;
/// Java steps back at most this many lines looking for a parseable last sample.
pub(super) const MAX_BACKTRACK: usize = 1000;

/// Random access to a file's bytes, in memory for small files.
pub(super) enum Bytes<'f> {
    Mem(&'f [u8]),
    File { file: &'f File, len: u64 },
}

impl Bytes<'_> {
    pub(super) fn len(&self) -> u64 {
        match self {
            Bytes::Mem(v) => v.len() as u64,
            Bytes::File { len, .. } => *len,
        }
    }

    pub(super) fn read(&self, a: u64, b: u64) -> std::io::Result<Cow<'_, [u8]>> {
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
    pub(super) fn newline_after(&self, from: u64) -> std::io::Result<Option<u64>> {
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
    pub(super) fn newline_before(&self, before: u64, floor: u64) -> std::io::Result<Option<u64>> {
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
    pub(super) path: PathBuf,
    pub(super) file: File,
    /// Bytes of the file considered (its size, or a prefix of it).
    pub(super) len: u64,
    header: PayloadInfo,
    pub(super) desc: EventStreamDesc,
    /// Offset of the first sample line (after the header's newline).
    pub(super) data_start: u64,
    /// Unix seconds of the header year's start (sample times are seconds
    /// into that year).
    pub(super) year_start: i64,
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

    pub(super) fn bytes(&self) -> Result<Bytes<'_>, Error> {
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

    pub(super) fn ts_of(&self, escaped: &[u8], offset: u64) -> Result<Timestamp, Error> {
        let mut scratch = Vec::new();
        let raw = self.unescape(escaped, &mut scratch, offset)?;
        let (soy, nano) = decode_timestamp(raw).map_err(|e| self.bad_sample(offset, e.to_string()))?;
        Ok(Timestamp::new(self.year_start + i64::from(soy), nano))
    }

    pub(super) fn decode_at(&self, escaped: &[u8], offset: u64) -> Result<ArchiverSample, Error> {
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
}

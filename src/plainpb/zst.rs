//! Compressed partitions (`.pb.zst`): a PlainPB file cut into independent
//! zstd frames at line boundaries, so a reader decompresses only the frame
//! holding the time it looks for, and decompressing the whole file gives
//! back the plain `.pb` byte for byte.
//!
//! ```text
//! offset 0             header frame  zstd frame: the escaped PayloadInfo line + 0x0A
//! frames[0].offset     data frame 0  zstd frame: whole escaped sample lines, each + 0x0A
//! …                    data frame n  (content size and checksum in every frame)
//! data_end             table         skippable frame, magic 0x184D2A5E, u32 LE length, then
//!                                      "SZFT" | version u8 (1) | 3 zero bytes | count u32
//!                                      count × 28 bytes: offset u64 | first secs i64 |
//!                                                        first nanos u32 | samples u32 | raw_len u32
//!                                      data_end u64 | FNV-1a 64 of the table bytes before it
//! ```
//! All integers little endian. The last 16 bytes of a file with a table are
//! `data_end` and the checksum, so the table is found from the end. The
//! table is a cache: a file without one (a crash before it was written) or
//! with a bad one is read by walking the frame headers, and a partial last
//! frame is reported as a damaged tail. Standard zstd decoders skip the
//! table (a skippable frame): `zstd -d x.pb.zst` yields the plain `.pb`.
//!
//! Appending: truncate at `data_end` (dropping the table), write new frames,
//! write a new table ([`ZstWriter::resume`]). Bytes before `data_end` are
//! never rewritten, so a reader using an older table is unaffected.
//!
//! Works on `Read`/`Seek`/`Write` only; no sled, no tiers.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::codec::{decode_sample_at, decode_timestamp};
use super::escape::{is_plain, unescape_into};
use super::header::decode_header;
use super::stream::SampleStream;
use super::{Error, NEWLINE};
use crate::pb::PayloadInfo;
use crate::types::{year_start, ArchiverSample, EventStreamDesc, Timestamp};

/// Extension of compressed partition files.
pub const ZST_EXTENSION: &str = ".pb.zst";
/// First bytes of every zstd frame (and so of every `.pb.zst` file).
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
const SKIPPABLE_LO: u32 = 0x184D_2A50;
const SKIPPABLE_HI: u32 = 0x184D_2A5F;
/// Magic of the table's skippable frame.
const TABLE_MAGIC: u32 = 0x184D_2A5E;
const TABLE_TAG: &[u8; 4] = b"SZFT";
const TABLE_VERSION: u8 = 1;
/// Tag, version, reserved, count.
const TABLE_HEAD: usize = 4 + 1 + 3 + 4;
const ENTRY_LEN: usize = 8 + 8 + 4 + 4 + 4;
/// `data_end` and checksum at the end of the table (and of the file).
const TABLE_TAIL: usize = 16;

/// True if `head` starts like a compressed partition (zstd magic).
pub fn is_compressed(head: &[u8]) -> bool {
    head.starts_with(&ZSTD_MAGIC)
}

/// One data frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameEntry {
    /// File offset of the frame.
    pub offset: u64,
    /// Time of its first sample.
    pub first: Timestamp,
    /// Sample lines in it.
    pub samples: u32,
    /// Uncompressed bytes.
    pub raw_len: u32,
}

/// The frames of a file and where they end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameTable {
    /// Data frames, oldest first.
    pub frames: Vec<FrameEntry>,
    /// Offset of the first data frame (= length of the header frame).
    pub data_start: u64,
    /// End of the last data frame (where the table starts).
    pub data_end: u64,
}

impl FrameTable {
    /// Samples in all frames.
    pub fn samples(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f.samples)).sum()
    }

    /// Uncompressed size of the data frames.
    pub fn raw_len(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f.raw_len)).sum()
    }

    /// Index of the last frame whose first sample is `<= t`.
    pub fn frame_for(&self, t: Timestamp) -> Option<usize> {
        self.frames.partition_point(|f| f.first <= t).checked_sub(1)
    }

    /// Compressed length of frame `i`.
    fn frame_len(&self, i: usize) -> u64 {
        let end = self.frames.get(i + 1).map_or(self.data_end, |f| f.offset);
        end - self.frames[i].offset
    }

    fn encode(&self) -> Vec<u8> {
        let mut c = Vec::with_capacity(TABLE_HEAD + self.frames.len() * ENTRY_LEN + TABLE_TAIL);
        c.extend_from_slice(TABLE_TAG);
        c.extend_from_slice(&[TABLE_VERSION, 0, 0, 0]);
        c.extend_from_slice(&(self.frames.len() as u32).to_le_bytes());
        for f in &self.frames {
            c.extend_from_slice(&f.offset.to_le_bytes());
            c.extend_from_slice(&f.first.secs.to_le_bytes());
            c.extend_from_slice(&f.first.nanos.to_le_bytes());
            c.extend_from_slice(&f.samples.to_le_bytes());
            c.extend_from_slice(&f.raw_len.to_le_bytes());
        }
        c.extend_from_slice(&self.data_end.to_le_bytes());
        let sum = fnv1a(&c);
        c.extend_from_slice(&sum.to_le_bytes());
        let mut out = Vec::with_capacity(8 + c.len());
        out.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
        out.extend_from_slice(&(c.len() as u32).to_le_bytes());
        out.extend_from_slice(&c);
        out
    }

    /// Decodes a table frame found at `data_end` (content after the 8-byte
    /// skippable header); `None` if it is not a consistent table.
    fn decode(content: &[u8], data_end: u64, data_start: u64) -> Option<FrameTable> {
        let n = content.len().checked_sub(8)?;
        let (body, sum) = content.split_at(n);
        if fnv1a(body) != u64::from_le_bytes(sum.try_into().ok()?) {
            return None;
        }
        if body.get(..4)? != TABLE_TAG || *body.get(4)? != TABLE_VERSION {
            return None;
        }
        let count = u32::from_le_bytes(body.get(8..12)?.try_into().ok()?) as usize;
        if body.len() != TABLE_HEAD + count * ENTRY_LEN + 8 {
            return None;
        }
        let u64_at = |b: &[u8], i: usize| {
            b.get(i..i + 8)
                .and_then(|x| x.try_into().ok())
                .map(u64::from_le_bytes)
        };
        let u32_at = |b: &[u8], i: usize| {
            b.get(i..i + 4)
                .and_then(|x| x.try_into().ok())
                .map(u32::from_le_bytes)
        };
        let mut frames = Vec::with_capacity(count);
        let mut expect = data_start;
        for k in 0..count {
            let e = &body[TABLE_HEAD + k * ENTRY_LEN..TABLE_HEAD + (k + 1) * ENTRY_LEN];
            let f = FrameEntry {
                offset: u64_at(e, 0)?,
                first: Timestamp::new(u64_at(e, 8)? as i64, u32_at(e, 16)?),
                samples: u32_at(e, 20)?,
                raw_len: u32_at(e, 24)?,
            };
            // Frames are contiguous from the header frame on; times increase.
            if (k == 0 && f.offset != expect) || f.offset < expect || f.offset >= data_end {
                return None;
            }
            if frames.last().is_some_and(|p: &FrameEntry| p.first >= f.first) {
                return None;
            }
            expect = f.offset + 1;
            frames.push(f);
        }
        if u64_at(body, body.len() - 8)? != data_end || (count == 0 && data_end != data_start) {
            return None;
        }
        Some(FrameTable {
            frames,
            data_start,
            data_end,
        })
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Compression settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZstOptions {
    /// zstd level (1–22).
    pub level: i32,
    /// Uncompressed bytes per frame; a frame closes at the first line
    /// boundary reaching it (a longer single line is a frame of its own).
    pub frame_bytes: usize,
}

impl Default for ZstOptions {
    fn default() -> Self {
        ZstOptions {
            level: 3,
            frame_bytes: 256 * 1024,
        }
    }
}

fn zerr(path: &Path, offset: u64, reason: impl ToString) -> Error {
    Error::Compressed {
        path: path.to_path_buf(),
        offset,
        reason: reason.to_string(),
    }
}

/// Timestamp of one escaped line of a file of `year_start`.
fn line_ts(line: &[u8], year_start: i64, scratch: &mut Vec<u8>) -> Option<Timestamp> {
    let raw = if is_plain(line) {
        line
    } else {
        scratch.clear();
        unescape_into(line, scratch).ok()?;
        scratch.as_slice()
    };
    let (soy, nano) = decode_timestamp(raw).ok()?;
    Some(Timestamp::new(year_start + i64::from(soy), nano))
}

/// Writes a compressed partition: header frame, data frames, table.
pub struct ZstWriter<W: Write> {
    out: W,
    path: PathBuf,
    pos: u64,
    opts: ZstOptions,
    cctx: zstd::bulk::Compressor<'static>,
    year_start: i64,
    table: FrameTable,
    pending: Vec<u8>,
    pending_lines: u32,
    pending_first: Option<Timestamp>,
    cbuf: Vec<u8>,
    scratch: Vec<u8>,
}

impl<W: Write> ZstWriter<W> {
    fn new(
        out: W,
        path: &Path,
        pos: u64,
        year: i32,
        table: FrameTable,
        opts: ZstOptions,
    ) -> Result<Self, Error> {
        let mut cctx =
            zstd::bulk::Compressor::new(opts.level).map_err(|e| Error::io("zstd init", path, e))?;
        cctx.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
            .and_then(|_| cctx.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true)))
            .map_err(|e| Error::io("zstd init", path, e))?;
        Ok(ZstWriter {
            out,
            path: path.to_path_buf(),
            pos,
            opts,
            cctx,
            year_start: year_start(year),
            table,
            pending: Vec::with_capacity(opts.frame_bytes.min(1 << 20)),
            pending_lines: 0,
            pending_first: None,
            cbuf: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Starts a new file on `out` (positioned at 0) with `header_line` (the
    /// escaped PayloadInfo line including its newline).
    pub fn create(out: W, path: &Path, header_line: &[u8], opts: ZstOptions) -> Result<Self, Error> {
        let bad = |reason: &str| Error::BadHeader {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let body = header_line
            .strip_suffix(&[NEWLINE])
            .filter(|b| !b.contains(&NEWLINE))
            .ok_or_else(|| bad("header must be one line ending with a newline"))?;
        let mut raw = Vec::new();
        unescape_into(body, &mut raw).map_err(|e| bad(&e.to_string()))?;
        let header = decode_header(&raw).map_err(|e| bad(&e.to_string()))?;
        let mut w = Self::new(out, path, 0, header.year, FrameTable::default(), opts)?;
        w.put_frame(header_line)?;
        w.table.data_start = w.pos;
        w.table.data_end = w.pos;
        Ok(w)
    }

    /// Continues a file whose data frames are `table` (`out` positioned at
    /// `table.data_end`, the old table already cut off) for header `year`.
    pub fn resume(
        out: W,
        path: &Path,
        year: i32,
        table: FrameTable,
        opts: ZstOptions,
    ) -> Result<Self, Error> {
        let pos = table.data_end;
        Self::new(out, path, pos, year, table, opts)
    }

    /// Compresses `raw` as one frame and writes it; returns its length.
    fn put_frame(&mut self, raw: &[u8]) -> Result<u64, Error> {
        self.cbuf.clear();
        self.cbuf.reserve(zstd::zstd_safe::compress_bound(raw.len()));
        self.cctx
            .compress_to_buffer(raw, &mut self.cbuf)
            .map_err(|e| Error::io("zstd compress", &self.path, e))?;
        self.out
            .write_all(&self.cbuf)
            .map_err(|e| Error::io("write", &self.path, e))?;
        let n = self.cbuf.len() as u64;
        self.pos += n;
        Ok(n)
    }

    fn close_frame(&mut self) -> Result<(), Error> {
        let Some(first) = self.pending_first.take() else {
            return Ok(());
        };
        let raw_len =
            u32::try_from(self.pending.len()).map_err(|_| zerr(&self.path, self.pos, "frame too large"))?;
        let offset = self.pos;
        let pending = std::mem::take(&mut self.pending);
        let r = self.put_frame(&pending);
        self.pending = pending;
        self.pending.clear();
        r?;
        self.table.frames.push(FrameEntry {
            offset,
            first,
            samples: self.pending_lines,
            raw_len,
        });
        self.table.data_end = self.pos;
        self.pending_lines = 0;
        Ok(())
    }

    /// Appends whole escaped sample lines (each ending with a newline),
    /// oldest first, after the ones written so far.
    pub fn write_lines(&mut self, lines: &[u8]) -> Result<(), Error> {
        if lines.last().is_some_and(|b| *b != NEWLINE) {
            return Err(zerr(&self.path, self.pos, "lines must end with a newline"));
        }
        let mut at = 0;
        while at < lines.len() {
            let nl = memchr::memchr(NEWLINE, &lines[at..]).map_or(lines.len(), |i| at + i + 1);
            let line = &lines[at..nl];
            if !self.pending.is_empty() && self.pending.len() + line.len() > self.opts.frame_bytes {
                self.close_frame()?;
            }
            if self.pending_first.is_none() {
                let ts = line_ts(&line[..line.len() - 1], self.year_start, &mut self.scratch).ok_or_else(
                    || zerr(&self.path, self.pos, "first line of a frame has no readable time"),
                )?;
                if self.table.frames.last().is_some_and(|f| f.first >= ts) {
                    return Err(zerr(&self.path, self.pos, "frame times must increase"));
                }
                self.pending_first = Some(ts);
            }
            self.pending.extend_from_slice(line);
            self.pending_lines += 1;
            at = nl;
        }
        Ok(())
    }

    /// Writes the last frame and the table; returns the output and the table.
    pub fn finish(mut self) -> Result<(W, FrameTable), Error> {
        self.close_frame()?;
        let t = self.table.encode();
        self.out
            .write_all(&t)
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.out.flush().map_err(|e| Error::io("flush", &self.path, e))?;
        Ok((self.out, self.table))
    }
}

/// What a frame header says.
enum FrameKind {
    Zstd,
    Skippable,
}

fn read_at<R: Read + Seek>(r: &mut R, off: u64, buf: &mut [u8]) -> io::Result<()> {
    r.seek(SeekFrom::Start(off))?;
    r.read_exact(buf)
}

/// Length of the frame at `off` from its headers alone (RFC 8878 §3.1);
/// `None` if the file ends inside it or the bytes are not a frame.
fn frame_len_at<R: Read + Seek>(r: &mut R, off: u64, len: u64) -> io::Result<Option<(u64, FrameKind)>> {
    if off + 8 > len {
        return Ok(None);
    }
    let mut head = [0u8; 8];
    read_at(r, off, &mut head)?;
    let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    if (SKIPPABLE_LO..=SKIPPABLE_HI).contains(&magic) {
        let n = 8 + u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        return Ok((off + n <= len).then_some((n, FrameKind::Skippable)));
    }
    if head[..4] != ZSTD_MAGIC {
        return Ok(None);
    }
    let fhd = head[4];
    let single = fhd & 0x20 != 0;
    let checksum = fhd & 0x04 != 0;
    let dict = [0u64, 1, 2, 4][usize::from(fhd & 3)];
    let fcs = match fhd >> 6 {
        0 => u64::from(single),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let mut p = off + 5 + u64::from(!single) + dict + fcs;
    loop {
        if p + 3 > len {
            return Ok(None);
        }
        let mut bh = [0u8; 3];
        read_at(r, p, &mut bh)?;
        let h = u32::from_le_bytes([bh[0], bh[1], bh[2], 0]);
        let size = u64::from(h >> 3);
        let content = match (h >> 1) & 3 {
            0 | 2 => size,
            1 => 1,
            _ => return Ok(None),
        };
        p += 3 + content;
        if h & 1 != 0 {
            break;
        }
    }
    if checksum {
        p += 4;
    }
    Ok((p <= len).then_some((p - off, FrameKind::Zstd)))
}

/// A compressed partition open for reading.
pub struct ZstReader<R> {
    inner: R,
    path: PathBuf,
    len: u64,
    header: PayloadInfo,
    desc: EventStreamDesc,
    header_line: Vec<u8>,
    year_start: i64,
    table: FrameTable,
    from_trailer: bool,
    damaged_tail: Option<u64>,
    dctx: zstd::bulk::Decompressor<'static>,
    cbuf: Vec<u8>,
}

impl<R: Read + Seek> ZstReader<R> {
    /// Opens a file of `len` bytes: reads the header frame and the table,
    /// or walks the frames when the table is missing or inconsistent.
    pub fn open(inner: R, len: u64, path: &Path) -> Result<Self, Error> {
        let mut r = Self::open_header(inner, len, path)?;
        match r.read_table()? {
            Some(t) => {
                r.table = t;
                r.from_trailer = true;
            }
            None => r.walk()?,
        }
        Ok(r)
    }

    /// Opens with a table known from elsewhere (the index); reads only the
    /// header frame. `table` must describe this file's frames.
    pub fn with_table(inner: R, len: u64, path: &Path, table: FrameTable) -> Result<Self, Error> {
        let mut r = Self::open_header(inner, len, path)?;
        if table.data_start != r.table.data_start || table.data_end > len {
            return Err(zerr(
                path,
                table.data_start,
                "frame table does not match the file",
            ));
        }
        r.table = table;
        Ok(r)
    }

    fn open_header(mut inner: R, len: u64, path: &Path) -> Result<Self, Error> {
        let io = |e| Error::io("read", path, e);
        let (hlen, kind) = frame_len_at(&mut inner, 0, len)
            .map_err(io)?
            .ok_or_else(|| zerr(path, 0, "no complete header frame"))?;
        if !matches!(kind, FrameKind::Zstd) {
            return Err(zerr(path, 0, "not a compressed partition"));
        }
        let mut dctx = zstd::bulk::Decompressor::new().map_err(|e| Error::io("zstd init", path, e))?;
        let mut cbuf = vec![0u8; hlen as usize];
        read_at(&mut inner, 0, &mut cbuf).map_err(io)?;
        let line = decompress(&mut dctx, &cbuf, None).map_err(|e| zerr(path, 0, e))?;
        let bad = |reason: String| Error::BadHeader {
            path: path.to_path_buf(),
            reason,
        };
        let body = line
            .strip_suffix(&[NEWLINE])
            .filter(|b| !b.contains(&NEWLINE))
            .ok_or_else(|| bad("header frame is not one line".into()))?;
        let mut raw = Vec::new();
        unescape_into(body, &mut raw).map_err(|e| bad(e.to_string()))?;
        let header = decode_header(&raw).map_err(|e| bad(e.to_string()))?;
        let desc = header
            .to_desc()
            .ok_or_else(|| bad(format!("unknown payload type {}", header.r#type)))?;
        Ok(ZstReader {
            inner,
            path: path.to_path_buf(),
            len,
            year_start: year_start(header.year),
            header,
            desc,
            header_line: line,
            table: FrameTable {
                frames: Vec::new(),
                data_start: hlen,
                data_end: hlen,
            },
            from_trailer: false,
            damaged_tail: None,
            dctx,
            cbuf,
        })
    }

    /// The table from the end of the file, if present and consistent.
    fn read_table(&mut self) -> Result<Option<FrameTable>, Error> {
        let io = |e| Error::io("read", &self.path, e);
        if self.len < self.table.data_start + 8 + (TABLE_HEAD + TABLE_TAIL) as u64 {
            return Ok(None);
        }
        let mut tail = [0u8; TABLE_TAIL];
        read_at(&mut self.inner, self.len - TABLE_TAIL as u64, &mut tail).map_err(io)?;
        let data_end = u64::from_le_bytes(tail[..8].try_into().unwrap_or_default());
        if data_end < self.table.data_start || data_end + 8 > self.len {
            return Ok(None);
        }
        let mut head = [0u8; 8];
        read_at(&mut self.inner, data_end, &mut head).map_err(io)?;
        let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let size = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        if magic != TABLE_MAGIC || data_end + 8 + size != self.len {
            return Ok(None);
        }
        let mut content = vec![0u8; size as usize];
        read_at(&mut self.inner, data_end + 8, &mut content).map_err(io)?;
        Ok(FrameTable::decode(&content, data_end, self.table.data_start))
    }

    /// Rebuilds the table by walking and decompressing every data frame;
    /// stops at the first incomplete or undecodable one (a damaged tail).
    fn walk(&mut self) -> Result<(), Error> {
        let mut p = self.table.data_start;
        let mut frames = Vec::new();
        let mut scratch = Vec::new();
        while p < self.len {
            let Some((n, kind)) =
                frame_len_at(&mut self.inner, p, self.len).map_err(|e| Error::io("read", &self.path, e))?
            else {
                break;
            };
            if matches!(kind, FrameKind::Skippable) {
                break;
            }
            self.cbuf.resize(n as usize, 0);
            read_at(&mut self.inner, p, &mut self.cbuf).map_err(|e| Error::io("read", &self.path, e))?;
            let Ok(raw) = decompress(&mut self.dctx, &self.cbuf, None) else {
                break;
            };
            let first_nl = memchr::memchr(NEWLINE, &raw);
            let (Some(nl), Some(&NEWLINE)) = (first_nl, raw.last()) else {
                break;
            };
            let Some(first) = line_ts(&raw[..nl], self.year_start, &mut scratch) else {
                break;
            };
            if frames.last().is_some_and(|f: &FrameEntry| f.first >= first) {
                break;
            }
            frames.push(FrameEntry {
                offset: p,
                first,
                samples: memchr::memchr_iter(NEWLINE, &raw).count() as u32,
                raw_len: raw.len() as u32,
            });
            p += n;
        }
        self.table.frames = frames;
        self.table.data_end = p;
        self.damaged_tail = (p < self.len).then_some(p);
        Ok(())
    }

    /// The header.
    pub fn header(&self) -> &PayloadInfo {
        &self.header
    }

    /// The header as a description.
    pub fn desc(&self) -> &EventStreamDesc {
        &self.desc
    }

    /// The escaped header line with its newline.
    pub fn header_line(&self) -> &[u8] {
        &self.header_line
    }

    /// The frame table.
    pub fn table(&self) -> &FrameTable {
        &self.table
    }

    /// True if the table came from the file's end (not from walking).
    pub fn has_table(&self) -> bool {
        self.from_trailer
    }

    /// Offset of bytes after the last good frame that are neither a frame
    /// nor a valid table (cut them and write a table to repair).
    pub fn damaged_tail(&self) -> Option<u64> {
        self.damaged_tail
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Uncompressed content of data frame `i` (whole lines).
    pub fn read_frame(&mut self, i: usize) -> Result<Vec<u8>, Error> {
        let mut cbuf = std::mem::take(&mut self.cbuf);
        let f = self.read_compressed(i, &mut cbuf)?;
        let raw = decompress(&mut self.dctx, &cbuf, Some(f.raw_len as usize));
        self.cbuf = cbuf;
        self.check_frame(&f, raw)
    }

    /// The compressed bytes of data frame `i` into `cbuf`; its table entry.
    fn read_compressed(&mut self, i: usize, cbuf: &mut Vec<u8>) -> Result<FrameEntry, Error> {
        let f = *self
            .table
            .frames
            .get(i)
            .ok_or_else(|| zerr(&self.path, self.table.data_end, format!("no frame {i}")))?;
        let n = self.table.frame_len(i) as usize;
        cbuf.resize(n, 0);
        read_at(&mut self.inner, f.offset, cbuf).map_err(|e| Error::io("read", &self.path, e))?;
        Ok(f)
    }

    /// A decompressed frame, if it is what the table says: `raw_len` bytes
    /// of whole lines.
    fn check_frame(&self, f: &FrameEntry, raw: io::Result<Vec<u8>>) -> Result<Vec<u8>, Error> {
        let raw = raw.map_err(|e| zerr(&self.path, f.offset, e))?;
        if raw.len() != f.raw_len as usize || raw.last() != Some(&NEWLINE) {
            return Err(zerr(&self.path, f.offset, "frame content differs from the table"));
        }
        Ok(raw)
    }

    /// Newest sample with time `<= t` (`< t` when `strict`): one frame is
    /// decompressed and binary-searched.
    pub fn last_at_or_before(&mut self, t: Timestamp, strict: bool) -> Result<Option<ArchiverSample>, Error> {
        let target = if !strict {
            t
        } else if t.nanos > 0 {
            Timestamp::new(t.secs, t.nanos - 1)
        } else {
            Timestamp::new(t.secs - 1, 999_999_999)
        };
        let Some(k) = self.table.frame_for(target) else {
            return Ok(None);
        };
        let raw = self.read_frame(k)?;
        let offset = self.table.frames[k].offset;
        let Some((a, b)) = last_line_at_or_before(&raw, target, self.year_start) else {
            return Ok(None);
        };
        let mut scratch = Vec::new();
        let line = &raw[a..b];
        let plain = if is_plain(line) {
            line
        } else {
            unescape_into(line, &mut scratch).map_err(|e| zerr(&self.path, offset, e))?;
            scratch.as_slice()
        };
        decode_sample_at(self.desc.db_type, plain, self.year_start)
            .map(Some)
            .map_err(|e| zerr(&self.path, offset, e))
    }

    /// The escaped last sample line (for index records), if any.
    pub fn last_line(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let Some(k) = self.table.frames.len().checked_sub(1) else {
            return Ok(None);
        };
        let raw = self.read_frame(k)?;
        let body = &raw[..raw.len() - 1];
        let start = memchr::memrchr(NEWLINE, body).map_or(0, |i| i + 1);
        Ok(Some(body[start..].to_vec()))
    }

    /// Streams samples from the newest one at or before `start` (or the
    /// first sample) through the last one `<= end`, decompressing one
    /// frame at a time.
    pub fn stream(
        mut self,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Result<SampleStream<FrameRead<R>>, Error> {
        let (k, skip) = match start.and_then(|s| self.table.frame_for(s).map(|k| (k, s))) {
            None => (0, None),
            Some((k, s)) => (k, Some(s)),
        };
        let mut buf = Vec::new();
        let mut pos = 0;
        if k < self.table.frames.len() {
            buf = self.read_frame(k)?;
            if let Some(s) = skip {
                pos = last_line_at_or_before(&buf, s, self.year_start).map_or(0, |(a, _)| a);
            }
        }
        let base = self.table.frames.get(k).map_or(0, |_| {
            self.header_line.len() as u64
                + self.table.frames[..k]
                    .iter()
                    .map(|f| u64::from(f.raw_len))
                    .sum::<u64>()
                + pos as u64
        });
        let (path, desc) = (self.path.clone(), self.desc.clone());
        let fr = FrameRead {
            reader: self,
            next: k + 1,
            buf,
            pos,
            ahead: None,
        };
        Ok(SampleStream::from_reader(fr, base, path, desc, end))
    }

    /// Writes the plain `.pb` this file holds (header line and every data
    /// frame's lines, byte for byte); returns the bytes written.
    pub fn to_plain<W: Write>(&mut self, mut out: W) -> Result<u64, Error> {
        let path = self.path.clone();
        let io = |e| Error::io("write", &path, e);
        out.write_all(&self.header_line).map_err(io)?;
        let mut n = self.header_line.len() as u64;
        for i in 0..self.table.frames.len() {
            let raw = self.read_frame(i)?;
            out.write_all(&raw).map_err(io)?;
            n += raw.len() as u64;
        }
        out.flush().map_err(io)?;
        Ok(n)
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

fn decompress(
    dctx: &mut zstd::bulk::Decompressor<'static>,
    src: &[u8],
    size: Option<usize>,
) -> io::Result<Vec<u8>> {
    let cap = match size {
        Some(n) => n,
        None => zstd::zstd_safe::get_frame_content_size(src)
            .ok()
            .flatten()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n <= 1 << 30)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "frame without a usable content size")
            })?,
    };
    let mut out = Vec::with_capacity(cap);
    dctx.decompress_to_buffer(src, &mut out)?;
    Ok(out)
}

/// `(start, end)` (newline excluded) of the newest line in `raw` (whole
/// lines, times increasing) with time `<= t`. Binary search over line
/// starts; a line whose time does not decode sends it to a linear scan.
fn last_line_at_or_before(raw: &[u8], t: Timestamp, year_start: i64) -> Option<(usize, usize)> {
    let mut starts = Vec::with_capacity(raw.len() / 16);
    starts.push(0usize);
    starts.extend(
        memchr::memchr_iter(NEWLINE, raw)
            .map(|i| i + 1)
            .filter(|i| *i < raw.len()),
    );
    let end_of = |i: usize| starts.get(i + 1).map_or(raw.len(), |s| *s) - 1;
    let mut scratch = Vec::new();
    let mut ts_at = |i: usize| line_ts(&raw[starts[i]..end_of(i)], year_start, &mut scratch);
    let (mut lo, mut hi) = (0, starts.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match ts_at(mid) {
            Some(ts) if ts <= t => lo = mid + 1,
            Some(_) => hi = mid,
            None => {
                // Linear: keep the last decodable line with ts <= t.
                let mut best = None;
                for i in 0..starts.len() {
                    match ts_at(i) {
                        Some(ts) if ts <= t => best = Some(i),
                        Some(_) => break,
                        None => {}
                    }
                }
                return best.map(|i| (starts[i], end_of(i)));
            }
        }
    }
    let i = lo.checked_sub(1)?;
    Some((starts[i], end_of(i)))
}

/// The uncompressed lines of a compressed partition from one frame on, as
/// a `Read` (what [`SampleStream`] reads).
pub struct FrameRead<R> {
    reader: ZstReader<R>,
    next: usize,
    buf: Vec<u8>,
    pos: usize,
    /// Decompresses the frame after the one being read on another thread
    /// (started once a stream reaches its second frame).
    ahead: Option<Ahead>,
}

/// A thread that decompresses one frame while the reader decodes the
/// previous one: reading a long compressed range then costs about what
/// the slower of the two costs, not their sum.
struct Ahead {
    /// Frame index, its compressed bytes, its uncompressed length.
    to: mpsc::SyncSender<(usize, Vec<u8>, usize)>,
    /// Frame index and its uncompressed bytes.
    from: mpsc::Receiver<(usize, io::Result<Vec<u8>>)>,
    /// The frame sent and not yet received.
    pending: Option<usize>,
}

impl Ahead {
    /// `None` when no thread can be started (frames are then read inline).
    fn start() -> Option<Ahead> {
        let (to, work) = mpsc::sync_channel::<(usize, Vec<u8>, usize)>(1);
        let (done, from) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("strata-zstd-ahead".into())
            .spawn(move || {
                let Ok(mut dctx) = zstd::bulk::Decompressor::new() else {
                    return;
                };
                // Ends when the reader (the sender) is dropped.
                while let Ok((i, cbuf, raw_len)) = work.recv() {
                    if done
                        .send((i, decompress(&mut dctx, &cbuf, Some(raw_len))))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        spawned.ok().map(|_| Ahead {
            to,
            from,
            pending: None,
        })
    }
}

impl<R> ZstReader<R> {
    /// The same reader over another handle of the same bytes (e.g. one
    /// whose reads run elsewhere); table and position are kept.
    pub fn map_inner<R2>(self, f: impl FnOnce(R) -> R2) -> ZstReader<R2> {
        ZstReader {
            inner: f(self.inner),
            path: self.path,
            len: self.len,
            header: self.header,
            desc: self.desc,
            header_line: self.header_line,
            year_start: self.year_start,
            table: self.table,
            from_trailer: self.from_trailer,
            damaged_tail: self.damaged_tail,
            dctx: self.dctx,
            cbuf: self.cbuf,
        }
    }
}

impl<R> FrameRead<R> {
    /// The same frames read through another handle of the same file.
    pub fn map_inner<R2>(self, f: impl FnOnce(R) -> R2) -> FrameRead<R2> {
        FrameRead {
            reader: self.reader.map_inner(f),
            next: self.next,
            buf: self.buf,
            pos: self.pos,
            ahead: self.ahead,
        }
    }
}

impl<R: Read + Seek> FrameRead<R> {
    /// Frame `self.next` (from the read-ahead thread when it has it);
    /// then sends the frame after it to that thread.
    fn next_frame(&mut self) -> Result<Vec<u8>, Error> {
        let i = self.next;
        let ahead = self.ahead.as_mut().and_then(|a| match a.pending.take() {
            Some(p) if p == i => a.from.recv().ok(),
            Some(_) => {
                // Not the frame wanted (cannot happen: frames are read in
                // order); drain it so the thread is free again.
                let _ = a.from.recv();
                None
            }
            None => None,
        });
        let raw = match ahead {
            Some((_, raw)) => {
                let f = self.reader.table.frames[i];
                self.reader.check_frame(&f, raw)?
            }
            None => self.reader.read_frame(i)?,
        };
        self.next += 1;
        // `stream` reads the first frame inline, so a read within one frame
        // never starts a thread.
        if self.next < self.reader.table.frames.len() {
            if self.ahead.is_none() {
                self.ahead = Ahead::start();
            }
            if let Some(a) = self.ahead.as_mut() {
                let mut cbuf = Vec::new();
                // A frame that cannot be read here is read (and its error
                // reported) inline when its turn comes.
                if let Ok(f) = self.reader.read_compressed(self.next, &mut cbuf) {
                    if a.to.send((self.next, cbuf, f.raw_len as usize)).is_ok() {
                        a.pending = Some(self.next);
                    } else {
                        self.ahead = None;
                    }
                }
            }
        }
        Ok(raw)
    }
}

impl<R: Read + Seek> Read for FrameRead<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            if self.next >= self.reader.table.frames.len() {
                return Ok(0);
            }
            self.buf = self.next_frame().map_err(io::Error::other)?;
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
#[path = "zst_test.rs"]
mod zst_test;

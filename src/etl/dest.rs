//! The destination side of an ETL move: the partitions of the destination
//! tier that one source file's samples go into, opened as samples reach
//! them, in either form:
//!
//! * plain `.pb` — lines appended through [`Appender`] (which cuts a
//!   damaged tail first), or the source's sample bytes copied verbatim
//!   (bulk);
//! * compressed `.pb.zst` — lines compressed into new zstd frames after the
//!   existing ones, then a new frame table ([`ZstAppender`], which repairs a
//!   damaged tail first). Never a byte copy: frames are always cut at line
//!   boundaries by the writer.
//!
//! The form of an existing partition wins (recorded, or an unrecorded file
//! of either name on disk), so a tier never holds both forms of one
//! partition; a new partition takes the destination's form (the chain's
//! `compress=`, else the tier's `compression`).

use std::collections::BTreeSet;

use crate::plainpb::encode_sample_at;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::run::EtlError;
use crate::index::entry::{to_ts, ts as entry_ts};
use crate::index::{frame_keys, Change, PartitionEntry};
use crate::plainpb::{
    compressed_path, is_compressed_path, unescape_into, AppendTarget, Appender, PbFile, SampleStream,
    ZstAppender, ZstOptions,
};
use crate::storage::{PlainPbStore, StoreError};
use crate::types::{ArchDbType, Timestamp};

/// A write intent `(pv, tier, partition start)`.
pub(crate) type Intent = (String, u8, i64);

/// Bytes buffered before a destination write.
const WRITE_CHUNK: usize = 1 << 20;

pub(crate) enum BulkError {
    Read(crate::plainpb::Error),
    Etl(EtlError),
}

/// Error of the line loop: reading the source or writing the destination.
pub(crate) enum LinesError {
    Read(crate::plainpb::Error),
    Etl(EtlError),
}

impl LinesError {
    pub(crate) fn or_file(self, pv: &str, path: &Path) -> EtlError {
        match self {
            LinesError::Read(e) => EtlError::File {
                pv: pv.to_string(),
                path: path.to_path_buf(),
                source: e,
            },
            LinesError::Etl(e) => e,
        }
    }
}

/// The open file of a destination partition.
pub(crate) enum DestOut {
    /// Plain `.pb`.
    Plain(Appender),
    /// Compressed `.pb.zst`.
    Zst(Box<ZstAppender>),
}

impl DestOut {
    fn path(&self) -> &Path {
        match self {
            DestOut::Plain(a) => a.path(),
            DestOut::Zst(z) => z.path(),
        }
    }

    fn created(&self) -> bool {
        match self {
            DestOut::Plain(a) => a.created,
            DestOut::Zst(z) => z.created,
        }
    }

    /// Newest sample in the file when it was examined on open.
    fn last_ts(&self) -> Option<Timestamp> {
        match self {
            DestOut::Plain(a) => a.last.as_ref().map(|s| s.ts()),
            DestOut::Zst(z) => z.last.as_ref().map(|s| s.ts()),
        }
    }
}

/// One destination partition written by a move.
pub(crate) struct DestWrite {
    start: i64,
    rel: String,
    ap: DestOut,
    old: Option<PartitionEntry>,
    /// The record matched the file when opened (nothing was read).
    trusted: bool,
    db_type: ArchDbType,
    year: i32,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    /// Unescaped last written sample.
    last_raw: Vec<u8>,
    /// Escaped last written line (unescaped at the end).
    last_line: Vec<u8>,
    pub(crate) written: u64,
    exact: bool,
    /// Bytes appended to the file.
    pub(crate) bytes: u64,
    buf: Vec<u8>,
}

impl DestWrite {
    /// The partition's file.
    pub(crate) fn path(&self) -> &Path {
        self.ap.path()
    }

    /// True if this move created the file.
    pub(crate) fn created(&self) -> bool {
        self.ap.created()
    }

    fn flush(&mut self, pv: &str) -> Result<(), EtlError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = match &mut self.ap {
            DestOut::Plain(a) => {
                self.bytes += self.buf.len() as u64;
                a.write_raw(&self.buf)
            }
            DestOut::Zst(z) => z.write_lines(&self.buf),
        };
        self.buf.clear();
        r.map_err(|e| EtlError::File {
            pv: pv.to_string(),
            path: self.ap.path().to_path_buf(),
            source: e,
        })
    }

    /// The partition's new record (`None`: nothing in it).
    pub(crate) fn entry(&self, pv: &str) -> Result<Option<PartitionEntry>, EtlError> {
        let ap = match &self.ap {
            DestOut::Plain(a) => a,
            DestOut::Zst(z) => return self.zst_entry(pv, z),
        };
        let old = self.old.as_ref();
        let (first, samples, exact) = if ap.created {
            (self.first, self.written, self.exact)
        } else if self.trusted {
            match old {
                Some(o) => (
                    Some(entry_ts(o.first)),
                    o.samples + self.written,
                    o.samples_exact && self.exact,
                ),
                None => (self.first, self.written, self.exact),
            }
        } else {
            let pb = PbFile::open(ap.path()).map_err(|e| EtlError::File {
                pv: pv.to_string(),
                path: ap.path().to_path_buf(),
                source: e,
            })?;
            let n = pb.count_lines(ap.len).map_err(|e| EtlError::File {
                pv: pv.to_string(),
                path: ap.path().to_path_buf(),
                source: e,
            })?;
            let examined = ap.first.as_ref().map(|s| s.ts());
            let first = match (examined, self.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            (first, n, true)
        };
        let (last, last_sample) = if self.written > 0 {
            (self.last, self.last_raw.clone())
        } else if let (false, Some(s)) = (self.trusted, ap.last.as_ref()) {
            // Nothing appended to a file that was examined (its size was
            // not the record's, e.g. an earlier wave appended and stopped
            // before recording): its own newest sample is the truth.
            let mut raw = Vec::new();
            encode_sample_at(s, s.ts(), self.year, &mut raw).map_err(|e| {
                EtlError::Store(StoreError::Encode {
                    pv: pv.to_string(),
                    reason: e.to_string(),
                })
            })?;
            (Some(s.ts()), raw)
        } else {
            match old {
                Some(o) => (Some(entry_ts(o.last)), o.last_sample.clone()),
                None => (None, Vec::new()),
            }
        };
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(None);
        };
        if samples == 0 {
            return Ok(None);
        }
        Ok(Some(PartitionEntry {
            path: self.rel.clone(),
            start: self.start,
            year: self.year,
            db_type: self.db_type.as_i32(),
            first: to_ts(first),
            last: to_ts(last),
            samples,
            samples_exact: exact,
            bytes: ap.len,
            last_sample,
            compressed: false,
        }))
    }

    /// The record of a compressed partition: counts and first sample from
    /// its frame table (exact), last sample from the move or the file.
    fn zst_entry(&self, pv: &str, z: &ZstAppender) -> Result<Option<PartitionEntry>, EtlError> {
        let t = z.table();
        let Some(first) = t.frames.first().map(|f| f.first) else {
            return Ok(None);
        };
        let (last, last_sample) = if self.written > 0 {
            (self.last, self.last_raw.clone())
        } else {
            let mut raw = Vec::new();
            if let Some(l) = &z.last_line {
                unescape_into(l, &mut raw).map_err(|e| {
                    EtlError::Store(StoreError::Encode {
                        pv: pv.to_string(),
                        reason: e.to_string(),
                    })
                })?;
            }
            (z.last.as_ref().map(|s| s.ts()), raw)
        };
        let Some(last) = last else {
            return Ok(None);
        };
        Ok(Some(PartitionEntry {
            path: self.rel.clone(),
            start: self.start,
            year: self.year,
            db_type: self.db_type.as_i32(),
            first: to_ts(first),
            last: to_ts(last),
            samples: t.samples(),
            samples_exact: true,
            bytes: z.len,
            last_sample,
            compressed: true,
        }))
    }

    /// The changes recording this partition in `tier` under storage key
    /// `key`: its record and, for a compressed one, its frame keys (both in
    /// the move's one index batch).
    pub(crate) fn changes(&self, pv: &str, tier: u8, key: &str) -> Result<Vec<Change>, EtlError> {
        let Some(entry) = self.entry(pv)? else {
            return Ok(Vec::new());
        };
        let start = entry.start;
        let mut out = vec![Change::Upsert {
            pv: pv.to_string(),
            tier,
            key: key.to_string(),
            entry,
        }];
        if let DestOut::Zst(z) = &self.ap {
            out.push(Change::Frames {
                pv: pv.to_string(),
                tier,
                start,
                frames: frame_keys(&z.table().frames),
            });
        }
        Ok(out)
    }
}

/// The destination partitions of one move, opened as samples reach them.
pub(crate) struct DestFiles<'a> {
    pub(crate) pv: &'a str,
    tier: &'a PlainPbStore,
    key: String,
    /// Form of new partitions (`Some`: compressed with these settings).
    form: Option<ZstOptions>,
    db_type: ArchDbType,
    element_count: Option<i32>,
    headers: Vec<(String, String)>,
    /// Samples at or before this are in the destination already.
    cutoff: Option<Timestamp>,
    cur: Option<DestWrite>,
    done: Vec<DestWrite>,
    intents: BTreeSet<i64>,
    /// Every partition opened: file and its length before this move
    /// (`None`: created by it) — what a rollback restores. (A compressed
    /// partition cut back there ends in a partial frame where its table
    /// was; the next open or reconcile repairs it, and readers use the
    /// frame keys of its unchanged record meanwhile.)
    pub(crate) opened: Vec<(PathBuf, Option<u64>)>,
}

impl<'a> DestFiles<'a> {
    /// The partitions of `pv` under storage key `key` in `tier`; new ones
    /// take the tier's form.
    pub(crate) fn new(pv: &'a str, tier: &'a PlainPbStore, key: String) -> Self {
        DestFiles {
            pv,
            tier,
            key,
            form: tier.zst_options(),
            db_type: ArchDbType::ScalarDouble,
            element_count: None,
            headers: Vec::new(),
            cutoff: None,
            cur: None,
            done: Vec::new(),
            intents: BTreeSet::new(),
            opened: Vec::new(),
        }
    }

    /// Overrides the form of new partitions (the chain's `compress=`):
    /// `None` keeps the tier's.
    pub(crate) fn with_form(mut self, form: Option<Option<ZstOptions>>) -> Self {
        if let Some(f) = form {
            self.form = f;
        }
        self
    }

    pub(crate) fn set_header(
        &mut self,
        db_type: ArchDbType,
        element_count: Option<i32>,
        headers: Vec<(String, String)>,
    ) {
        self.db_type = db_type;
        self.element_count = element_count;
        self.headers = headers;
    }

    /// Durable intents for the partitions of `starts` that have no record.
    pub(crate) fn intents(&mut self, starts: &[i64]) -> Result<(), EtlError> {
        let new = self.new_intents(starts)?;
        self.tier.inner.index.put_intents(&new)?;
        Ok(())
    }

    /// The intents `starts` need (partitions without a record, not asked
    /// for yet), taken as this move's; the caller stores them.
    pub(crate) fn new_intents(&mut self, starts: &[i64]) -> Result<Vec<Intent>, EtlError> {
        let index = &self.tier.inner.index;
        let mut new = Vec::new();
        for s in starts {
            if !self.intents.contains(s) && index.partition(self.pv, self.tier.tier(), *s)?.is_none() {
                self.intents.insert(*s);
                new.push((self.pv.to_string(), self.tier.tier(), *s));
            }
        }
        Ok(new)
    }

    /// Writes what the open partition holds in memory to its file.
    pub(crate) fn flush_current(&mut self) -> Result<(), EtlError> {
        match self.cur.as_mut() {
            Some(c) => c.flush(self.pv),
            None => Ok(()),
        }
    }

    /// Opens destination partition `start` for appending.
    fn open(&mut self, start: i64) -> Result<(), EtlError> {
        if let Some(mut c) = self.cur.take() {
            c.flush(self.pv)?;
            self.done.push(c);
        }
        let tier_no = self.tier.tier();
        let old = self.tier.inner.index.partition(self.pv, tier_no, start)?;
        if old.is_none() {
            self.intents(&[start])?;
        }
        if let Some(o) = &old {
            if o.db_type != self.db_type.as_i32() {
                return Err(EtlError::TypeMismatch {
                    pv: self.pv.to_string(),
                    path: o.path.clone(),
                    found: o.db_type,
                    moved: self.db_type.as_i32(),
                });
            }
        }
        let (rel, zst) = self.form_of(start, old.as_ref());
        let abs = self.tier.root().join(&rel);
        let year = crate::types::year_of(start);
        let target = AppendTarget {
            path: &abs,
            pv: self.pv,
            db_type: self.db_type,
            year,
            header_extra: Some((self.element_count, self.headers.as_slice())),
        };
        let file_err = |e| EtlError::File {
            pv: self.pv.to_string(),
            path: abs.clone(),
            source: e,
        };
        let ap = match zst {
            Some(opts) => DestOut::Zst(Box::new(ZstAppender::open(&target, opts).map_err(file_err)?)),
            None => DestOut::Plain(Appender::open(&target, old.as_ref().map(|o| o.bytes)).map_err(file_err)?),
        };
        self.opened.push((
            abs.clone(),
            (!ap.created()).then_some(match &ap {
                DestOut::Plain(a) => a.len,
                DestOut::Zst(z) => z.len,
            }),
        ));
        let trusted = match &ap {
            DestOut::Plain(a) => old.as_ref().is_some_and(|o| o.bytes == a.len) && a.last.is_none(),
            DestOut::Zst(_) => false,
        };
        if let Some(l) = ap.last_ts() {
            self.cutoff = Some(self.cutoff.map_or(l, |c| c.max(l)));
        }
        self.cur = Some(DestWrite {
            start,
            rel,
            ap,
            old,
            trusted,
            db_type: self.db_type,
            year,
            first: None,
            last: None,
            last_raw: Vec::new(),
            last_line: Vec::new(),
            written: 0,
            exact: true,
            bytes: 0,
            buf: Vec::with_capacity(WRITE_CHUNK + 4096),
        });
        Ok(())
    }

    /// Path (relative) and form of partition `start`: an existing
    /// partition's form wins (its record, else an unrecorded file of either
    /// name, plain first); a new one takes `self.form`.
    fn form_of(&self, start: i64, old: Option<&PartitionEntry>) -> (String, Option<ZstOptions>) {
        let opts = || self.form.or(self.tier.zst_options()).unwrap_or_default();
        if let Some(o) = old {
            let zst = (o.compressed || is_compressed_path(&o.path)).then(opts);
            return (o.path.clone(), zst);
        }
        let plain = self.tier.partition_path(&self.key, start);
        let packed = compressed_path(&plain);
        if self.tier.root().join(&plain).exists() {
            (plain, None)
        } else if self.tier.root().join(&packed).exists() {
            (packed, Some(opts()))
        } else if let Some(f) = self.form {
            (packed, Some(f))
        } else {
            (plain, None)
        }
    }

    /// True when the source (first sample `first`) can be copied verbatim
    /// into partition `start`: a plain partition holding nothing at or after it.
    pub(crate) fn can_bulk(&mut self, start: i64, first: Timestamp) -> Result<bool, EtlError> {
        if self.cur.as_ref().is_none_or(|c| c.start != start) {
            self.open(start)?;
        }
        let plain = self
            .cur
            .as_ref()
            .is_some_and(|c| matches!(c.ap, DestOut::Plain(_)));
        Ok(plain
            && self.cutoff.is_none_or(|c| first > c)
            && self.tier.granularity().partition_start(first.secs) == start)
    }

    /// Copies the sample bytes of `pb` (record `r`) into the open partition.
    pub(crate) fn bulk(&mut self, start: i64, pb: &PbFile, r: &PartitionEntry) -> Result<(), BulkError> {
        let pv = self.pv;
        let cur = match self.cur.as_mut() {
            Some(c) if c.start == start && matches!(c.ap, DestOut::Plain(_)) => c,
            _ => {
                return Err(BulkError::Etl(EtlError::Store(StoreError::Task(
                    "bulk destination not open".into(),
                ))))
            }
        };
        let file = std::fs::File::open(pb.path())
            .map_err(|e| BulkError::Read(crate::plainpb::Error::io("open", pb.path(), e)))?;
        let mut off = pb.data_start();
        while off < r.bytes {
            let n = ((r.bytes - off) as usize).min(WRITE_CHUNK);
            let at = cur.buf.len();
            cur.buf.resize(at + n, 0);
            file.read_exact_at(&mut cur.buf[at..], off)
                .map_err(|e| BulkError::Read(crate::plainpb::Error::io("read", pb.path(), e)))?;
            off += n as u64;
            cur.flush(pv).map_err(BulkError::Etl)?;
        }
        let (first, last) = (entry_ts(r.first), entry_ts(r.last));
        cur.first.get_or_insert(first);
        cur.last = Some(last);
        cur.last_raw.clone_from(&r.last_sample);
        cur.last_line.clear();
        cur.written += r.samples;
        cur.exact &= r.samples_exact;
        self.cutoff = Some(last);
        Ok(())
    }

    /// Appends every line of `stream` after `after` (and after what the
    /// destination holds).
    pub(crate) fn lines<R: std::io::Read>(
        &mut self,
        mut stream: SampleStream<R>,
        after: Option<Timestamp>,
    ) -> Result<(), LinesError> {
        if let Some(a) = after {
            self.cutoff = Some(self.cutoff.map_or(a, |c| c.max(a)));
        }
        while let Some(line) = stream.next_raw().map_err(LinesError::Read)? {
            let ts = line.ts;
            self.push(ts, line.line).map_err(LinesError::Etl)?;
        }
        Ok(())
    }

    /// Appends one escaped line (no newline) of time `ts`.
    pub(crate) fn push(&mut self, ts: Timestamp, line: &[u8]) -> Result<(), EtlError> {
        if self.cutoff.is_some_and(|c| ts <= c) {
            return Ok(());
        }
        let start = self.tier.granularity().partition_start(ts.secs);
        if self.cur.as_ref().is_none_or(|c| c.start != start) {
            self.open(start)?;
            if self.cutoff.is_some_and(|c| ts <= c) {
                return Ok(());
            }
        }
        let pv = self.pv;
        let Some(cur) = self.cur.as_mut() else {
            return Ok(());
        };
        cur.buf.extend_from_slice(line);
        cur.buf.push(crate::plainpb::NEWLINE);
        cur.first.get_or_insert(ts);
        cur.last = Some(ts);
        cur.last_line.clear();
        cur.last_line.extend_from_slice(line);
        cur.written += 1;
        self.cutoff = Some(ts);
        if cur.buf.len() >= WRITE_CHUNK {
            cur.flush(pv)?;
        }
        Ok(())
    }

    /// Flushes the open partition; returns every partition written and the
    /// intents stored (cleared with the move's index batch). A partition
    /// created by this move that received no sample is removed again.
    pub(crate) fn finish(mut self) -> Result<(Vec<DestWrite>, Vec<Intent>), EtlError> {
        if let Some(mut c) = self.cur.take() {
            c.flush(self.pv)?;
            self.done.push(c);
        }
        let mut out = Vec::new();
        for mut w in self.done {
            if !w.last_line.is_empty() {
                w.last_raw.clear();
                unescape_into(&w.last_line, &mut w.last_raw).map_err(|e| {
                    EtlError::Store(StoreError::Encode {
                        pv: self.pv.to_string(),
                        reason: e.to_string(),
                    })
                })?;
            }
            if let DestOut::Zst(z) = &mut w.ap {
                let before = z.len;
                z.finish().map_err(|e| EtlError::File {
                    pv: self.pv.to_string(),
                    path: z.path().to_path_buf(),
                    source: e,
                })?;
                w.bytes = z.len.saturating_sub(before);
            }
            if w.ap.created() && w.written == 0 {
                let path = w.ap.path().to_path_buf();
                drop(w);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(EtlError::Io {
                            pv: self.pv.to_string(),
                            op: "delete",
                            path,
                            source: e,
                        })
                    }
                }
                continue;
            }
            out.push(w);
        }
        let tier = self.tier.tier();
        let intents = self
            .intents
            .iter()
            .map(|s| (self.pv.to_string(), tier, *s))
            .collect();
        Ok((out, intents))
    }
}

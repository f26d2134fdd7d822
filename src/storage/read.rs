//! The read path of one tier: the sources of a time range (previous
//! partition's last sample, partition files, in-flight and buffered
//! samples), the newest sample before a time, and the newest sample.

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use super::buffer::lock;
use super::deadline::{DeadlineError, Pending, TierReader};
use super::error::StoreError;
use super::source::{MemLines, Source};
use super::store::{Inner, PlainPbStore};
use crate::index::entry::{to_ts, ts as entry_ts};
use crate::index::FrameWindow;
use crate::index::PartitionEntry;
use crate::plainpb::{decode_sample, zst_data_end, FrameEntry, FrameTable, PbFile, ZstReader};
use crate::storage::AppendMeta;
use crate::types::{ArchDbType, ArchiverSample, EventStreamDesc, Timestamp};

impl PlainPbStore {
    /// last sample when needed, partition files, then buffered samples.
    pub fn sources_blocking(
        &self,
        pv: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Source>, StoreError> {
        self.inner.sources(pv, from, to)
    }

    /// Newest sample strictly before `t` (blocking).
    pub fn last_before_blocking(&self, pv: &str, t: Timestamp) -> Result<Option<ArchiverSample>, StoreError> {
        self.inner.last_before(pv, t)
    }

    /// Newest sample (buffered or stored).
    pub fn last_known(&self, pv: &str) -> Result<Option<ArchiverSample>, StoreError> {
        self.inner.last_known(pv)
    }
}

/// Partition files being opened on a tier's reader pool.
pub(crate) type OpenedFiles = Pending<Result<Vec<Source>, StoreError>>;

/// Where the newest sample before a time is.
pub(crate) enum LastBefore {
    /// Answered from buffers or the index.
    Known(Option<ArchiverSample>),
    /// In this partition file (a read on the tier's file system); for a
    /// compressed one, the frame that holds it as the index tells.
    InFile(PartitionEntry, Option<FrameWindow>),
}

/// A partition to open; a compressed one with its frame keys from the
/// index (`None`: no keys, the file's own table is read).
type ToOpen = (PartitionEntry, Option<Vec<FrameEntry>>);

/// Opens the partitions `files` of `pv` for streaming `[from, to]`
/// (runs on the tier's reader pool; later reads go through `reader`).
fn open_partitions(
    root: &Path,
    tier: &str,
    pv: &str,
    files: Vec<ToOpen>,
    from: Timestamp,
    to: Timestamp,
    reader: &TierReader,
) -> Result<Vec<Source>, StoreError> {
    let mut out = Vec::with_capacity(files.len());
    for (e, frames) in files {
        let path = root.join(&e.path);
        if e.compressed {
            let Some(r) = open_zst(pv, &path, &e, frames)? else {
                tracing::warn!(pv, path = %path.display(), "indexed file missing; skipped (reconcile will drop it)");
                continue;
            };
            let start = (entry_ts(e.first) < from).then_some(from);
            let st = r.stream(start, Some(to))?;
            let mut st = st.map_reader(|fr| fr.map_inner(|f| reader.file(f)));
            st.desc_mut().source = tier.to_string();
            out.push(Source::Compressed(Box::new(st)));
            continue;
        }
        let file = match PbFile::open(&path) {
            Ok(f) => f,
            Err(crate::plainpb::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                tracing::warn!(pv, path = %path.display(), "indexed file missing; skipped (reconcile will drop it)");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let start = (entry_ts(e.first) < from).then_some(from);
        let st = file.stream(start, Some(to))?;
        let mut st = st.map_reader(|f| reader.file(f));
        st.desc_mut().source = tier.to_string();
        st.set_bulk(e.bytes, entry_ts(e.last));
        out.push(Source::Tier(Box::new(st)));
    }
    Ok(out)
}

impl Inner {
    fn desc_for(
        &self,
        pv: &str,
        db_type: ArchDbType,
        year: i32,
        meta: Option<&AppendMeta>,
    ) -> EventStreamDesc {
        let mut d = EventStreamDesc::new(pv, db_type, year);
        d.source = self.name.clone();
        if let Some(m) = meta {
            d.element_count = m.element_count;
            d.headers = m.headers.clone();
        }
        d
    }

    fn sample_from_record(db_type: i32, year: i32, raw: &[u8]) -> Result<Option<ArchiverSample>, StoreError> {
        let Some(ty) = ArchDbType::from_i32(db_type) else {
            return Ok(None);
        };
        if raw.is_empty() {
            return Ok(None);
        }
        match decode_sample(ty, raw, year) {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                tracing::warn!(error = %e, "undecodable last sample in index record");
                Ok(None)
            }
        }
    }

    pub(crate) fn sources(
        &self,
        pv: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Source>, StoreError> {
        match self.sources_within(pv, from, to)? {
            (out, None) => Ok(out),
            (_, Some(missed)) => Err(missed.into()),
        }
    }

    /// The sources of `[from, to]`; when the tier's files do not answer
    /// within the deadline, what the index and buffers hold and why the
    /// files are missing.
    pub(crate) fn sources_within(
        &self,
        pv: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Vec<Source>, Option<DeadlineError>), StoreError> {
        let (mut out, files) = self.plan_sources(pv, from, to)?;
        // Frame keys are index look-ups, done here rather than on the pool.
        let files = files
            .into_iter()
            .map(|e| {
                let frames = if e.compressed {
                    self.frame_entries(pv, &e)?
                } else {
                    None
                };
                Ok((e, frames))
            })
            .collect::<Result<Vec<ToOpen>, StoreError>>()?;
        let mut missed = None;
        // Opened right after the listing (before the next tier is listed):
        // ETL records a move's destination before it deletes the source.
        match self.open_files(pv, files, from, to) {
            Ok(None) => {}
            Ok(Some(pending)) => match pending.wait(Instant::now() + self.guard.deadline()) {
                Ok(files) => out.extend(files?),
                Err(d) if d.is_not_answering() => missed = Some(d),
                Err(d) => return Err(d.into()),
            },
            Err(d) if d.is_not_answering() => missed = Some(d),
            Err(d) => return Err(d.into()),
        }
        self.buffered_sources(pv, from, to, &mut out);
        Ok((out, missed))
    }

    /// From the index alone: the previous partition's last sample (when
    /// the range starts before this tier's first hit) and the partitions
    /// to open.
    pub(crate) fn plan_sources(
        &self,
        pv: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Vec<Source>, Vec<PartitionEntry>), StoreError> {
        let (previous, hits) = self.index.overlapping(pv, self.tier, from, to)?;
        let mut out = Vec::with_capacity(hits.len() + 2);
        let needs_previous = hits.first().is_none_or(|e| entry_ts(e.first) > from);
        if needs_previous {
            if let Some(p) = previous {
                if let Some(ty) = ArchDbType::from_i32(p.db_type) {
                    let mut m = MemLines::new(self.desc_for(pv, ty, p.year, None));
                    m.push_raw(entry_ts(p.last), &p.last_sample);
                    out.push(Source::Mem(m));
                }
            }
        }
        Ok((out, hits))
    }

    /// Opens `files` on the tier's reader pool (`None` when there are none):
    /// the only step of a range read that touches the tier's file system.
    pub(crate) fn open_files(
        &self,
        pv: &str,
        files: Vec<ToOpen>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Option<OpenedFiles>, DeadlineError> {
        if files.is_empty() {
            return Ok(None);
        }
        let (root, name, pv) = (self.root.clone(), self.name.clone(), pv.to_string());
        let reader = self.guard.reader();
        let job = move || open_partitions(&root, &name, &pv, files, from, to, &reader);
        self.guard.submit(job).map(Some)
    }

    /// Samples not yet recorded: in a running flush, then in the buffer.
    pub(crate) fn buffered_sources(&self, pv: &str, from: Timestamp, to: Timestamp, out: &mut Vec<Source>) {
        let Some(st_arc) = self.buffers.existing(pv) else {
            return;
        };
        let (inflight, segments, meta) = {
            let st = lock(&st_arc);
            (st.inflight.clone(), st.segments.clone(), st.meta.clone())
        };
        for seg in inflight.iter().map(|s| s.as_ref()).chain(segments.iter()) {
            if seg.first > to {
                continue;
            }
            let lo = seg.partition_point(|t| t <= from).saturating_sub(1);
            let hi = seg.partition_point(|t| t <= to);
            if lo >= hi {
                continue;
            }
            let mut m = MemLines::new(self.desc_for(pv, seg.db_type, seg.year, meta.as_ref()));
            for i in lo..hi {
                m.push_escaped(seg.ts_at(i), seg.line(i));
            }
            out.push(Source::Mem(m));
        }
    }

    fn buffered_before(&self, pv: &str, t: Timestamp) -> Result<Option<ArchiverSample>, StoreError> {
        let Some(st_arc) = self.buffers.existing(pv) else {
            return Ok(None);
        };
        let st = lock(&st_arc);
        for seg in st
            .segments
            .iter()
            .rev()
            .chain(st.inflight.iter().rev().map(|s| s.as_ref()))
        {
            let i = seg.partition_point(|ts| ts < t);
            if i == 0 {
                continue;
            }
            let mut raw = Vec::new();
            crate::plainpb::unescape_into(seg.line(i - 1), &mut raw).map_err(|e| StoreError::Encode {
                pv: pv.to_string(),
                reason: e.to_string(),
            })?;
            return Ok(decode_sample(seg.db_type, &raw, seg.year).ok());
        }
        Ok(None)
    }

    pub(crate) fn last_before(&self, pv: &str, t: Timestamp) -> Result<Option<ArchiverSample>, StoreError> {
        match self.plan_last_before(pv, t)? {
            LastBefore::Known(s) => Ok(s),
            LastBefore::InFile(e, w) => {
                let until = Instant::now() + self.guard.deadline();
                self.read_last_before(pv, e, w, t)?.wait(until)?
            }
        }
    }

    /// The newest sample before `t` as far as buffers and index tell, or
    /// the partition that holds it.
    pub(crate) fn plan_last_before(&self, pv: &str, t: Timestamp) -> Result<LastBefore, StoreError> {
        if let Some(s) = self.buffered_before(pv, t)? {
            return Ok(LastBefore::Known(Some(s)));
        }
        // The summary (one point look-up) settles a tier without this PV,
        // a `t` before all its data and a `t` after all of it.
        let Some(sum) = self.index.summary(pv, self.tier)? else {
            return Ok(LastBefore::Known(None));
        };
        if sum.first.is_some_and(|f| entry_ts(f) >= t) {
            return Ok(LastBefore::Known(None));
        }
        if sum.last.is_some_and(|l| entry_ts(l) < t) {
            return Ok(LastBefore::Known(Self::sample_from_record(
                sum.db_type,
                sum.last_year,
                &sum.last_sample,
            )?));
        }
        for e in self.index.at_or_before(pv, self.tier, t) {
            let e = e?;
            if entry_ts(e.first) >= t {
                continue;
            }
            if entry_ts(e.last) < t {
                return Ok(LastBefore::Known(Self::sample_from_record(
                    e.db_type,
                    e.year,
                    &e.last_sample,
                )?));
            }
            let w = if e.compressed {
                self.index
                    .frame_window(pv, self.tier, e.start, to_ts(just_before(t)))?
            } else {
                None
            };
            return Ok(LastBefore::InFile(e, w));
        }
        Ok(LastBefore::Known(None))
    }

    /// Searches partition `e` for the newest sample before `t` on the
    /// tier's reader pool.
    pub(crate) fn read_last_before(
        &self,
        pv: &str,
        e: PartitionEntry,
        w: Option<FrameWindow>,
        t: Timestamp,
    ) -> Result<Pending<Result<Option<ArchiverSample>, StoreError>>, DeadlineError> {
        let path = self.root.join(&e.path);
        let pv = pv.to_string();
        let job = move || -> Result<Option<ArchiverSample>, StoreError> {
            if e.compressed {
                return zst_last_before(&pv, &path, &e, w, t);
            }
            let (first, last) = (entry_ts(e.first), entry_ts(e.last));
            // The answer lies in the indexed bytes (`t` <= the entry's last
            // time); a file that no longer matches its record is read whole.
            let quick = PbFile::open_prefix(&path, e.bytes)
                .and_then(|f| f.last_at_or_before_guided(t, true, first, last));
            match quick {
                Ok(s) => Ok(s),
                Err(_) => Ok(PbFile::open(&path)?.last_at_or_before_guided(t, true, first, last)?),
            }
        };
        self.guard.submit(job)
    }

    /// The frame keys of compressed partition `e` as a table's entries
    /// (`None` when the index has none).
    fn frame_entries(&self, pv: &str, e: &PartitionEntry) -> Result<Option<Vec<FrameEntry>>, StoreError> {
        let frames: Vec<FrameEntry> = self
            .index
            .frames(pv, self.tier, e.start)?
            .into_iter()
            .map(|(first, f)| FrameEntry {
                offset: f.offset,
                first: entry_ts(first),
                samples: f.samples,
                raw_len: f.raw_len,
            })
            .collect();
        Ok((!frames.is_empty()).then_some(frames))
    }

    pub(crate) fn last_known(&self, pv: &str) -> Result<Option<ArchiverSample>, StoreError> {
        if let Some(st_arc) = self.buffers.existing(pv) {
            let st = lock(&st_arc);
            if let Some(seg) = st.segments.last().or(st.inflight.last().map(|s| s.as_ref())) {
                return Ok(decode_sample(seg.db_type, &seg.last_raw, seg.year).ok());
            }
        }
        match self.index.summary(pv, self.tier)? {
            Some(s) => Self::sample_from_record(s.db_type, s.last_year, &s.last_sample),
            None => Ok(None),
        }
    }
}

/// The latest time strictly before `t`.
fn just_before(t: Timestamp) -> Timestamp {
    if t.nanos > 0 {
        Timestamp::new(t.secs, t.nanos - 1)
    } else {
        Timestamp::new(t.secs - 1, 999_999_999)
    }
}

/// Opens compressed partition `e` at `path` with the frame table from the
/// index (the file's own table when the keys are missing or do not fit
/// the file); `None` if the file is gone. Runs on the tier's pool.
fn open_zst(
    pv: &str,
    path: &Path,
    e: &PartitionEntry,
    frames: Option<Vec<FrameEntry>>,
) -> Result<Option<ZstReader<File>>, StoreError> {
    let open = || match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(StoreError::io("open", path, err)),
    };
    let Some(file) = open()? else {
        return Ok(None);
    };
    let len = file
        .metadata()
        .map_err(|err| StoreError::io("stat", path, err))?
        .len();
    if let Some(table) = frames.and_then(|f| FrameTable::for_file(f, e.bytes)) {
        match ZstReader::with_table(file, len, path, table) {
            Ok(r) => return Ok(Some(r)),
            Err(err) => {
                tracing::warn!(pv, path = %path.display(), error = %err, "frame keys do not fit the file; reading its table");
            }
        }
    }
    let Some(file) = open()? else {
        return Ok(None);
    };
    Ok(Some(ZstReader::open(file, len, path)?))
}

/// Newest sample strictly before `t` inside compressed partition `e`
/// (`e.first < t <= e.last`): the frame `w` from the index, one frame
/// decompressed; the file's table if the keys do not serve. Runs on the
/// tier's pool.
fn zst_last_before(
    pv: &str,
    path: &Path,
    e: &PartitionEntry,
    w: Option<FrameWindow>,
    t: Timestamp,
) -> Result<Option<ArchiverSample>, StoreError> {
    let file = File::open(path).map_err(|err| StoreError::io("open", path, err))?;
    let len = file
        .metadata()
        .map_err(|err| StoreError::io("stat", path, err))?
        .len();
    if let Some(w) = w {
        let quick = (|| {
            let data_end = match w.next_offset {
                Some(o) => o,
                None => zst_data_end(&file, e.bytes.min(len), path)?,
            };
            let table = FrameTable {
                frames: vec![FrameEntry {
                    offset: w.frame.offset,
                    first: entry_ts(w.first),
                    samples: w.frame.samples,
                    raw_len: w.frame.raw_len,
                }],
                data_start: w.data_start,
                data_end,
            };
            ZstReader::with_table(&file, len, path, table)?.last_at_or_before(t, true)
        })();
        match quick {
            Ok(s) => return Ok(s),
            Err(err) => {
                tracing::warn!(pv, path = %path.display(), error = %err, "frame keys do not fit the file; reading its table");
            }
        }
    }
    Ok(ZstReader::open(file, len, path)?.last_at_or_before(t, true)?)
}

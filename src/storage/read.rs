//! The read path of one tier: the sources of a time range (previous
//! partition's last sample, partition files, in-flight and buffered
//! samples), the newest sample before a time, and the newest sample.

use std::fs::File;

use super::buffer::lock;
use super::error::StoreError;
use super::source::{MemLines, Source};
use super::store::{Inner, PlainPbStore};
use crate::index::entry::{to_ts, ts as entry_ts};
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
        for e in hits {
            let path = self.root.join(&e.path);
            if e.compressed {
                let Some(r) = self.open_zst(pv, &e)? else {
                    tracing::warn!(pv, path = %path.display(), "indexed file missing; skipped (reconcile will drop it)");
                    continue;
                };
                let start = (entry_ts(e.first) < from).then_some(from);
                let mut st = r.stream(start, Some(to))?;
                st.desc_mut().source = self.name.clone();
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
            let mut st = file.stream(start, Some(to))?;
            st.desc_mut().source = self.name.clone();
            st.set_bulk(e.bytes, entry_ts(e.last));
            out.push(Source::File(Box::new(st)));
        }
        // Samples not yet recorded: in a running flush, then in the buffer.
        if let Some(st_arc) = self.buffers.existing(pv) {
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
        Ok(out)
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
        if let Some(s) = self.buffered_before(pv, t)? {
            return Ok(Some(s));
        }
        // The summary (one point look-up) settles a tier without this PV,
        // a `t` before all its data and a `t` after all of it.
        let Some(sum) = self.index.summary(pv, self.tier)? else {
            return Ok(None);
        };
        if sum.first.is_some_and(|f| entry_ts(f) >= t) {
            return Ok(None);
        }
        if sum.last.is_some_and(|l| entry_ts(l) < t) {
            return Self::sample_from_record(sum.db_type, sum.last_year, &sum.last_sample);
        }
        for e in self.index.at_or_before(pv, self.tier, t) {
            let e = e?;
            if entry_ts(e.first) >= t {
                continue;
            }
            if entry_ts(e.last) < t {
                return Self::sample_from_record(e.db_type, e.year, &e.last_sample);
            }
            if e.compressed {
                return self.zst_last_before(pv, &e, t);
            }
            let path = self.root.join(&e.path);
            let (first, last) = (entry_ts(e.first), entry_ts(e.last));
            // The answer lies in the indexed bytes (`t` <= the entry's last
            // time); a file that no longer matches its record is read whole.
            let quick = PbFile::open_prefix(&path, e.bytes)
                .and_then(|f| f.last_at_or_before_guided(t, true, first, last));
            return match quick {
                Ok(s) => Ok(s),
                Err(_) => Ok(PbFile::open(&path)?.last_at_or_before_guided(t, true, first, last)?),
            };
        }
        Ok(None)
    }

    /// Opens compressed partition `e` with the frame table from the index
    /// (the file's own table when the keys are missing or do not fit the
    /// file); `None` if the file is gone.
    fn open_zst(&self, pv: &str, e: &PartitionEntry) -> Result<Option<ZstReader<File>>, StoreError> {
        let path = self.root.join(&e.path);
        let open = || match File::open(&path) {
            Ok(f) => Ok(Some(f)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(StoreError::io("open", &path, err)),
        };
        let Some(file) = open()? else {
            return Ok(None);
        };
        let len = file
            .metadata()
            .map_err(|err| StoreError::io("stat", &path, err))?
            .len();
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
        if let Some(table) = FrameTable::for_file(frames, e.bytes) {
            match ZstReader::with_table(file, len, &path, table) {
                Ok(r) => return Ok(Some(r)),
                Err(err) => {
                    tracing::warn!(pv, path = %path.display(), error = %err, "frame keys do not fit the file; reading its table");
                }
            }
        }
        let Some(file) = open()? else {
            return Ok(None);
        };
        Ok(Some(ZstReader::open(file, len, &path)?))
    }

    /// Newest sample strictly before `t` inside compressed partition `e`
    /// (`e.first < t <= e.last`): the frame from the index (three seeks),
    /// one frame decompressed; the file's table if the keys do not serve.
    fn zst_last_before(
        &self,
        pv: &str,
        e: &PartitionEntry,
        t: Timestamp,
    ) -> Result<Option<ArchiverSample>, StoreError> {
        let path = self.root.join(&e.path);
        let target = if t.nanos > 0 {
            Timestamp::new(t.secs, t.nanos - 1)
        } else {
            Timestamp::new(t.secs - 1, 999_999_999)
        };
        if let Some(w) = self.index.frame_window(pv, self.tier, e.start, to_ts(target))? {
            let file = File::open(&path).map_err(|err| StoreError::io("open", &path, err))?;
            let len = file
                .metadata()
                .map_err(|err| StoreError::io("stat", &path, err))?
                .len();
            let quick = (|| {
                let data_end = match w.next_offset {
                    Some(o) => o,
                    None => zst_data_end(&file, e.bytes.min(len), &path)?,
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
                ZstReader::with_table(&file, len, &path, table)?.last_at_or_before(t, true)
            })();
            match quick {
                Ok(s) => return Ok(s),
                Err(err) => {
                    tracing::warn!(pv, path = %path.display(), error = %err, "frame keys do not fit the file; reading its table");
                }
            }
        }
        let file = File::open(&path).map_err(|err| StoreError::io("open", &path, err))?;
        let len = file
            .metadata()
            .map_err(|err| StoreError::io("stat", &path, err))?
            .len();
        Ok(ZstReader::open(file, len, &path)?.last_at_or_before(t, true)?)
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

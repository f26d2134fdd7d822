//! Frame keys of compressed partitions (`Z` keys, [`super::keys::frame`]):
//! written and dropped with their partition record, read to seek inside a
//! `.pb.zst` without reading its table from the file.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::entry::{decode, encode, FrameRecord, Ts};
use super::kv::Batch;
use super::{keys, Index, IndexError, TREE};
use crate::plainpb::FrameEntry;

/// One frame as keyed: `(first sample time, record)`.
pub type FrameKey = (Ts, FrameRecord);

/// The keys of a compressed partition's frames (its table's entries).
pub fn frame_keys(frames: &[FrameEntry]) -> Vec<FrameKey> {
    frames
        .iter()
        .map(|f| {
            (
                super::entry::to_ts(f.first),
                FrameRecord {
                    offset: f.offset,
                    samples: f.samples,
                    raw_len: f.raw_len,
                },
            )
        })
        .collect()
}

/// The frame of a partition holding a time, found by seeks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameWindow {
    /// Offset of the partition's first data frame (= end of its header frame).
    pub data_start: u64,
    /// The frame's first sample time.
    pub first: Ts,
    /// The frame.
    pub frame: FrameRecord,
    /// Offset of the next frame (`None`: it is the last one).
    pub next_offset: Option<u64>,
}

impl Index {
    /// Frame keys of compressed partition `start` of `(pv, tier)`, oldest first.
    pub fn frames(&self, pv: &str, tier: u8, start: i64) -> Result<Vec<FrameKey>, IndexError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(&keys::frame_prefix(pv, tier, start)) {
            let (k, v) = item?;
            if let Some((_, _, _, first)) = keys::parse_frame(&k) {
                out.push((first, decode(TREE, &v)?));
            }
        }
        Ok(out)
    }

    /// The newest frame of partition `start` whose first sample is `<= t`,
    /// with what a reader needs to decompress it alone (three seeks).
    pub fn frame_window(
        &self,
        pv: &str,
        tier: u8,
        start: i64,
        t: Ts,
    ) -> Result<Option<FrameWindow>, IndexError> {
        let prefix = keys::frame_prefix(pv, tier, start);
        let Some(head) = self.tree.scan_prefix(&prefix).next() else {
            return Ok(None);
        };
        let data_start = decode::<FrameRecord>(TREE, &head?.1)?.offset;
        let at = keys::frame(pv, tier, start, t);
        let Some(item) = self
            .tree
            .range(Bound::Included(&prefix), Bound::Included(&at), true)
            .next()
        else {
            return Ok(None);
        };
        let (k, v) = item?;
        let Some((_, _, _, first)) = keys::parse_frame(&k) else {
            return Ok(None);
        };
        let frame: FrameRecord = decode(TREE, &v)?;
        let next = match super::kv::prefix_end(&prefix) {
            Some(end) => self
                .tree
                .range(Bound::Excluded(&k), Bound::Excluded(&end), false)
                .next(),
            None => self
                .tree
                .range(Bound::Excluded(&k), Bound::Unbounded, false)
                .next(),
        };
        let next_offset = match next {
            Some(item) => Some(decode::<FrameRecord>(TREE, &item?.1)?.offset),
            None => None,
        };
        Ok(Some(FrameWindow {
            data_start,
            first,
            frame,
            next_offset,
        }))
    }

    /// Every frame key `(pv, tier, partition start, frame)`, in key order.
    pub fn all_frames(&self) -> Result<Vec<(String, u8, i64, FrameKey)>, IndexError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(&[keys::FRAME]) {
            let (k, v) = item?;
            if let Some((pv, tier, start, first)) = keys::parse_frame(&k) {
                out.push((pv.to_string(), tier, start, (first, decode(TREE, &v)?)));
            }
        }
        Ok(out)
    }

    /// Adds to `batch`: for every partition touched, the removal of its
    /// frame keys that `new` does not give again, and `new`'s keys.
    pub(super) fn frame_ops<'a>(
        &self,
        touched: impl Iterator<Item = &'a (String, u8, i64)>,
        new: &'a BTreeMap<(String, u8, i64), &[FrameKey]>,
        batch: &mut Batch,
    ) -> Result<(), IndexError> {
        let all: BTreeSet<&(String, u8, i64)> = touched.chain(new.keys()).collect();
        for p in all {
            let (pv, tier, start) = p;
            let want: BTreeMap<Vec<u8>, Vec<u8>> = new
                .get(p)
                .into_iter()
                .flat_map(|fs| fs.iter())
                .map(|(first, rec)| (keys::frame(pv, *tier, *start, *first), encode(rec)))
                .collect();
            for item in self.tree.scan_prefix(&keys::frame_prefix(pv, *tier, *start)) {
                let (k, v) = item?;
                match want.get(&k) {
                    Some(w) if *w == v => {}
                    Some(_) => {}
                    None => batch.delete(k),
                }
            }
            for (k, v) in want {
                batch.put(k, v);
            }
        }
        Ok(())
    }
}

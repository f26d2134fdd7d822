//! Key layout of the partition index tree. All keys are built here.
//!
//! ```text
//! P <pv> 00 <tier:u8> <partition start:i64 BE, sign flipped>  -> PartitionEntry
//! S <pv> 00 <tier:u8>                                         -> PvSummary
//! T <tier:u8>                                                 -> TierTotals
//! J <from pv>                                                 -> rename journal
//! W <pv> 00 <tier:u8> <partition start>                       -> () new file being written
//! D <pv> 00 <tier:u8> <partition start>                       -> PendingDelete (ETL source
//!                                                                 moved, file still to delete)
//! Z <pv> 00 <tier:u8> <partition start> <first secs> <nanos:u32 BE>
//!                                                             -> FrameRecord (one zstd frame
//!                                                                 of a compressed partition)
//! ```
//! PV names never contain 0x00, so `<pv> 00` sorts all of a PV's keys
//! together and apart from any PV whose name extends it.

/// Tag of partition records.
pub const PARTITION: u8 = b'P';
/// Tag of per-(PV, tier) summaries.
pub const SUMMARY: u8 = b'S';
/// Tag of per-tier totals.
pub const TOTALS: u8 = b'T';
/// Tag of rename journal records.
pub const JOURNAL: u8 = b'J';
/// Tag of write intents (a new partition file is about to be created).
pub const INTENT: u8 = b'W';

/// Tag of ETL pending deletes (source recorded as moved, file not yet deleted).
pub const PENDING_DELETE: u8 = b'D';
/// Tag of the frames of compressed partitions.
pub const FRAME: u8 = b'Z';

/// Key of an ETL pending delete.
pub fn pending_delete(pv: &str, tier: u8, start: i64) -> Vec<u8> {
    let mut k = partition(pv, tier, start);
    k[0] = PENDING_DELETE;
    k
}

/// Splits a pending-delete key into `(pv, tier, start)`.
pub fn parse_pending_delete(key: &[u8]) -> Option<(&str, u8, i64)> {
    let rest = key.strip_prefix(&[PENDING_DELETE])?;
    retag(rest)
}

/// `(pv, tier, start)` of a key body laid out as a partition key's.
fn retag(rest: &[u8]) -> Option<(&str, u8, i64)> {
    if rest.len() < 10 {
        return None;
    }
    let (head, start) = rest.split_at(rest.len() - 8);
    let (pv, tail) = head.split_at(head.len() - 2);
    if tail[0] != 0 {
        return None;
    }
    Some((std::str::from_utf8(pv).ok()?, tail[1], from_be_i64(start)?))
}

/// Prefix of the frame keys of one compressed partition.
pub fn frame_prefix(pv: &str, tier: u8, start: i64) -> Vec<u8> {
    let mut k = partition(pv, tier, start);
    k[0] = FRAME;
    k
}

/// Key of the frame whose first sample is at `(secs, nanos)`; frames of a
/// partition sort by time.
pub fn frame(pv: &str, tier: u8, start: i64, first: (i64, u32)) -> Vec<u8> {
    let mut k = frame_prefix(pv, tier, start);
    k.extend_from_slice(&be_i64(first.0));
    k.extend_from_slice(&first.1.to_be_bytes());
    k
}

/// Splits a frame key into `(pv, tier, start, (secs, nanos))`.
pub fn parse_frame(key: &[u8]) -> Option<(&str, u8, i64, (i64, u32))> {
    let rest = key.strip_prefix(&[FRAME])?;
    let (body, first) = rest.split_at(rest.len().checked_sub(12)?);
    let (pv, tier, start) = retag(body)?;
    let secs = from_be_i64(&first[..8])?;
    let nanos = u32::from_be_bytes(first[8..].try_into().ok()?);
    Some((pv, tier, start, (secs, nanos)))
}

/// Key of a write intent.
pub fn intent(pv: &str, tier: u8, start: i64) -> Vec<u8> {
    let mut k = partition(pv, tier, start);
    k[0] = INTENT;
    k
}

/// Splits an intent key into `(pv, tier, start)`.
pub fn parse_intent(key: &[u8]) -> Option<(&str, u8, i64)> {
    let rest = key.strip_prefix(&[INTENT])?;
    let mut k = vec![PARTITION];
    k.extend_from_slice(rest);
    let (pv, tier, start) = parse_partition(&k)?;
    let pv_len = pv.len();
    Some((std::str::from_utf8(&rest[..pv_len]).ok()?, tier, start))
}

/// Order-preserving encoding of a signed second.
pub fn be_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`be_i64`].
pub fn from_be_i64(b: &[u8]) -> Option<i64> {
    let a: [u8; 8] = b.try_into().ok()?;
    Some((u64::from_be_bytes(a) ^ (1 << 63)) as i64)
}

/// Prefix of all partition keys of `(pv, tier)`.
pub fn partition_prefix(pv: &str, tier: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(pv.len() + 11);
    k.push(PARTITION);
    k.extend_from_slice(pv.as_bytes());
    k.push(0);
    k.push(tier);
    k
}

/// Key of one partition.
pub fn partition(pv: &str, tier: u8, start: i64) -> Vec<u8> {
    let mut k = partition_prefix(pv, tier);
    k.extend_from_slice(&be_i64(start));
    k
}

/// Splits a partition key into `(pv, tier, start)`.
pub fn parse_partition(key: &[u8]) -> Option<(&str, u8, i64)> {
    let rest = key.strip_prefix(&[PARTITION])?;
    if rest.len() < 10 {
        return None;
    }
    let (head, start) = rest.split_at(rest.len() - 8);
    let (pv, tail) = head.split_at(head.len() - 2);
    if tail[0] != 0 {
        return None;
    }
    Some((std::str::from_utf8(pv).ok()?, tail[1], from_be_i64(start)?))
}

/// Key of the summary of `(pv, tier)`.
pub fn summary(pv: &str, tier: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(pv.len() + 3);
    k.push(SUMMARY);
    k.extend_from_slice(pv.as_bytes());
    k.push(0);
    k.push(tier);
    k
}

/// Splits a summary key into `(pv, tier)`.
pub fn parse_summary(key: &[u8]) -> Option<(&str, u8)> {
    let rest = key.strip_prefix(&[SUMMARY])?;
    if rest.len() < 2 || rest[rest.len() - 2] != 0 {
        return None;
    }
    Some((
        std::str::from_utf8(&rest[..rest.len() - 2]).ok()?,
        rest[rest.len() - 1],
    ))
}

/// Key of a tier's totals.
pub fn totals(tier: u8) -> [u8; 2] {
    [TOTALS, tier]
}

/// Key of a rename journal record.
pub fn journal(from: &str) -> Vec<u8> {
    let mut k = vec![JOURNAL];
    k.extend_from_slice(from.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_order() {
        let a = partition("A:B", 1, -5);
        let b = partition("A:B", 1, 5);
        let c = partition("A:B", 1, 1_710_000_000);
        assert!(a < b && b < c);
        assert_eq!(parse_partition(&c), Some(("A:B", 1, 1_710_000_000)));
        assert!(partition("A:B", 1, i64::MAX) < partition("A:B", 2, i64::MIN));
        // A PV whose name extends another's never interleaves with it.
        assert!(partition("A:B", 3, i64::MAX) < partition("A:BC", 0, i64::MIN));
        assert_eq!(parse_summary(&summary("X{}-1", 2)), Some(("X{}-1", 2)));
        assert!(c.starts_with(&partition_prefix("A:B", 1)));
    }
}

#[cfg(test)]
mod etl_key_tests {
    use super::*;

    #[test]
    fn pending_delete_and_frame_keys_round_trip_and_sort() {
        let d = pending_delete("A:b-c", 1, 1_700_000_000);
        assert_eq!(parse_pending_delete(&d), Some(("A:b-c", 1, 1_700_000_000)));
        assert_eq!(parse_pending_delete(&intent("A", 1, 5)), None);
        let f1 = frame("A:B", 2, 1_704_067_200, (1_704_067_200, 5));
        let f2 = frame("A:B", 2, 1_704_067_200, (1_704_067_200, 6));
        let f3 = frame("A:B", 2, 1_704_067_200, (1_704_067_201, 0));
        assert!(f1 < f2 && f2 < f3);
        assert!(f3 < frame_prefix("A:B", 2, 1_735_689_600));
        assert!(f1.starts_with(&frame_prefix("A:B", 2, 1_704_067_200)));
        assert!(!f1.starts_with(&frame_prefix("A:B", 2, 1_704_067_201)));
        assert_eq!(
            parse_frame(&f2),
            Some(("A:B", 2, 1_704_067_200, (1_704_067_200, 6)))
        );
        assert_eq!(parse_frame(b"Zshort"), None);
        // A PV whose name extends another's never interleaves with it.
        assert!(frame("A:B", 3, i64::MAX, (i64::MAX, u32::MAX)) < frame_prefix("A:BC", 0, i64::MIN));
    }
}

#[cfg(test)]
mod intent_tests {
    use super::*;

    #[test]
    fn intent_keys_round_trip() {
        let k = intent("A:b-c", 2, 1_700_000_000);
        assert_eq!(parse_intent(&k), Some(("A:b-c", 2, 1_700_000_000)));
    }
}

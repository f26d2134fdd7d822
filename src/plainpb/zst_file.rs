//! Whole compressed partition files (`.pb.zst`, format in [`super::zst`]):
//! examining one for an index record (with repair of a damaged tail), and
//! appending lines to one ([`ZstAppender`], the ETL writer's destination).
//!
//! Repair of a file left by a crash: the frames are walked, everything
//! after the last complete frame is cut, and a fresh table is written
//! (bytes before the last complete frame's end are never rewritten).
//!
//! Works on single files only; no sled, no tiers.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::codec::decode_sample;
use super::escape::unescape_into;
use super::header::header_line;
use super::writer::AppendTarget;
use super::zst::{FrameEntry, FrameTable, ZstOptions, ZstReader, ZstWriter, ZST_EXTENSION};
use super::{Error, PB_EXTENSION};
use crate::pb::PayloadInfo;
use crate::types::{ArchiverSample, EventStreamDesc, Timestamp};

/// Bytes of the table frame of a file with `count` data frames (skippable
/// frame header, tag/version/count, entries, `data_end`, checksum).
pub fn table_len(count: usize) -> u64 {
    8 + 12 + 28 * count as u64 + 16
}

impl FrameTable {
    /// The table of a file of `file_len` bytes (table included) whose data
    /// frames are `frames` (from the index); `None` if they cannot describe
    /// such a file.
    pub fn for_file(frames: Vec<FrameEntry>, file_len: u64) -> Option<FrameTable> {
        let data_start = frames.first()?.offset;
        let data_end = file_len.checked_sub(table_len(frames.len()))?;
        let ordered = frames
            .windows(2)
            .all(|w| w[0].offset < w[1].offset && w[0].first < w[1].first);
        let last_ok = frames.last().is_some_and(|f| f.offset < data_end);
        (ordered && last_ok).then_some(FrameTable {
            frames,
            data_start,
            data_end,
        })
    }
}

/// The compressed name of a plain partition path (`x:2024.pb` → `x:2024.pb.zst`).
pub fn compressed_path(plain: &str) -> String {
    match plain.strip_suffix(PB_EXTENSION) {
        Some(stem) => format!("{stem}{ZST_EXTENSION}"),
        None => format!("{plain}.zst"),
    }
}

/// True if a partition path names the compressed form.
pub fn is_compressed_path(path: &str) -> bool {
    path.ends_with(ZST_EXTENSION)
}

/// What a compressed partition holds.
#[derive(Debug, Clone)]
pub struct ZstInfo {
    /// The header.
    pub header: PayloadInfo,
    /// Header as a description.
    pub desc: EventStreamDesc,
    /// The data frames (after repair: what the file's table says).
    pub table: FrameTable,
    /// File size in bytes (after repair).
    pub len: u64,
    /// First sample time.
    pub first: Option<Timestamp>,
    /// The last sample.
    pub last: Option<ArchiverSample>,
    /// The escaped last line (as stored).
    pub last_line: Option<Vec<u8>>,
    /// Offset where a damaged tail (a partial frame or bad table) started.
    pub damaged_tail: Option<u64>,
    /// Bytes cut by the repair (0: none, or not repaired).
    pub trimmed: u64,
    /// True if the file ended with a valid table when examined.
    pub had_table: bool,
}

/// Examines a compressed partition. With `repair`, a damaged tail is cut
/// and a missing or bad table rewritten, so that the file afterwards reads
/// exactly as `info` says.
pub fn examine_zst(path: &Path, repair: bool) -> Result<ZstInfo, Error> {
    let file = OpenOptions::new()
        .read(true)
        .write(repair)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    let mut r = ZstReader::open(&file, len, path)?;
    let header = r.header().clone();
    let desc = r.desc().clone();
    let table = r.table().clone();
    let damaged_tail = r.damaged_tail();
    let needs_table = !r.has_table();
    let last_line = r.last_line()?;
    drop(r);
    let mut out_len = len;
    let mut trimmed = 0;
    if repair && needs_table {
        file.set_len(table.data_end)
            .map_err(|e| Error::io("truncate", path, e))?;
        let mut f = &file;
        f.seek(SeekFrom::Start(table.data_end))
            .map_err(|e| Error::io("seek", path, e))?;
        let w = ZstWriter::resume(f, path, header.year, table.clone(), ZstOptions::default())?;
        w.finish()?;
        out_len = table.data_end + table_len(table.frames.len());
        trimmed = len.saturating_sub(table.data_end);
        if trimmed > 0 {
            tracing::warn!(path = %path.display(), offset = table.data_end, cut = trimmed, "cut damaged tail of a compressed partition");
        }
    }
    let last = match &last_line {
        Some(l) => {
            let mut raw = Vec::new();
            unescape_into(l, &mut raw).map_err(|e| Error::Compressed {
                path: path.to_path_buf(),
                offset: table.data_end,
                reason: e.to_string(),
            })?;
            Some(
                decode_sample(desc.db_type, &raw, desc.year).map_err(|e| Error::Compressed {
                    path: path.to_path_buf(),
                    offset: table.data_end,
                    reason: e.to_string(),
                })?,
            )
        }
        None => None,
    };
    Ok(ZstInfo {
        header,
        desc,
        first: table.frames.first().map(|f| f.first),
        table,
        len: out_len,
        last,
        last_line,
        damaged_tail,
        trimmed,
        had_table: !needs_table,
    })
}

/// The newest sample time of a partition file of either form (`None`: no
/// sample).
pub fn last_sample_time(path: &Path) -> Result<Option<Timestamp>, Error> {
    let mut head = [0u8; 4];
    let n = {
        use std::io::Read;
        let mut f = File::open(path).map_err(|e| Error::io("open", path, e))?;
        f.read(&mut head).map_err(|e| Error::io("read", path, e))?
    };
    if super::zst::is_compressed(&head[..n]) {
        return Ok(examine_zst(path, false)?.last.map(|s| s.ts()));
    }
    Ok(super::PbFile::open(path)?.info()?.last.map(|s| s.ts()))
}

/// A compressed partition open for appending whole lines: new lines go
/// into new frames after the existing ones, then a new table.
pub struct ZstAppender {
    path: PathBuf,
    file: Option<File>,
    writer: Option<ZstWriter<BufWriter<File>>>,
    year: i32,
    opts: ZstOptions,
    table: FrameTable,
    /// True if this call created the file.
    pub created: bool,
    /// Bytes cut from a damaged tail before appending.
    pub trimmed: u64,
    /// Newest sample already in the file (`None` for a new file).
    pub last: Option<ArchiverSample>,
    /// Its escaped line.
    pub last_line: Option<Vec<u8>>,
    /// Current size in bytes (complete only after [`ZstAppender::finish`]).
    pub len: u64,
}

impl ZstAppender {
    /// Opens (creating directories and the header frame as needed). An
    /// existing file is checked (same PV, type, year) and repaired.
    pub fn open(target: &AppendTarget<'_>, opts: ZstOptions) -> Result<Self, Error> {
        let path = target.path;
        let exists = match std::fs::metadata(path) {
            Ok(md) => md.len() > 0,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io("stat", path, e)),
        };
        if exists {
            let info = examine_zst(path, true)?;
            let d = &info.desc;
            if d.pv_name != target.pv || d.db_type != target.db_type || d.year != target.year {
                return Err(Error::Mismatch {
                    path: path.to_path_buf(),
                    found: format!("{} {} {}", d.pv_name, d.db_type, d.year),
                    expected: format!("{} {} {}", target.pv, target.db_type, target.year),
                });
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(|e| Error::io("open for append", path, e))?;
            return Ok(ZstAppender {
                path: path.to_path_buf(),
                file: Some(file),
                writer: None,
                year: target.year,
                opts,
                table: info.table,
                created: false,
                trimmed: info.trimmed,
                last: info.last,
                last_line: info.last_line,
                len: info.len,
            });
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory for", path, e))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io("create", path, e))?;
        let mut info = PayloadInfo::for_file(target.db_type, target.pv, target.year);
        if let Some((count, headers)) = target.header_extra {
            info.element_count = count;
            info.headers = headers
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| crate::pb::FieldValue {
                    name: k.clone(),
                    val: v.clone(),
                })
                .collect();
        }
        let w = ZstWriter::create(BufWriter::new(file), path, &header_line(&info), opts)?;
        Ok(ZstAppender {
            path: path.to_path_buf(),
            file: None,
            writer: Some(w),
            year: target.year,
            opts,
            table: FrameTable::default(),
            created: true,
            trimmed: 0,
            last: None,
            last_line: None,
            len: 0,
        })
    }

    /// Appends whole escaped lines (each ending with a newline), newer than
    /// everything in the file.
    pub fn write_lines(&mut self, lines: &[u8]) -> Result<(), Error> {
        if lines.is_empty() {
            return Ok(());
        }
        if self.writer.is_none() {
            let Some(file) = self.file.take() else {
                return Err(Error::Compressed {
                    path: self.path.clone(),
                    offset: self.table.data_end,
                    reason: "appender already finished".into(),
                });
            };
            // Drop the table: new frames go where it was.
            file.set_len(self.table.data_end)
                .map_err(|e| Error::io("truncate", &self.path, e))?;
            let mut file = file;
            file.seek(SeekFrom::Start(self.table.data_end))
                .map_err(|e| Error::io("seek", &self.path, e))?;
            self.writer = Some(ZstWriter::resume(
                BufWriter::new(file),
                &self.path,
                self.year,
                self.table.clone(),
                self.opts,
            )?);
        }
        match self.writer.as_mut() {
            Some(w) => w.write_lines(lines),
            None => Ok(()),
        }
    }

    /// Writes the last frame and the table (nothing if nothing was
    /// appended to an existing file). Idempotent.
    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(w) = self.writer.take() {
            let (out, table) = w.finish()?;
            drop(
                out.into_inner()
                    .map_err(|e| Error::io("flush", &self.path, e.into_error()))?,
            );
            self.len = table.data_end + table_len(table.frames.len());
            self.table = table;
        }
        self.file = None;
        Ok(())
    }

    /// The data frames (complete after [`ZstAppender::finish`]).
    pub fn table(&self) -> &FrameTable {
        &self.table
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `data_end` of a compressed partition of `len` bytes, from the last 16
/// bytes of its table (one small read; checked by the frame's reader).
pub fn zst_data_end(file: &File, len: u64, path: &Path) -> Result<u64, Error> {
    use std::os::unix::fs::FileExt;
    let bad = || Error::Compressed {
        path: path.to_path_buf(),
        offset: len,
        reason: "no frame table at the end".into(),
    };
    let at = len.checked_sub(16).ok_or_else(bad)?;
    let mut b = [0u8; 8];
    file.read_exact_at(&mut b, at)
        .map_err(|e| Error::io("read", path, e))?;
    let end = u64::from_le_bytes(b);
    if end > at {
        return Err(bad());
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plainpb::{encode_sample, escape_into};
    use crate::types::{ArchDbType, SampleValue};

    /// 2024-01-01 00:00:00 UTC.
    const Y2024: i64 = 1_704_067_200;

    fn lines(from: i64, n: i64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut raw = Vec::new();
        for i in from..from + n {
            let s = ArchiverSample::at(Y2024 + i, 0, SampleValue::Double(i as f64 * 0.5));
            raw.clear();
            encode_sample(&s, 2024, &mut raw).unwrap();
            escape_into(&raw, &mut out);
            out.push(b'\n');
        }
        out
    }

    fn plain_of(path: &Path) -> Vec<u8> {
        let f = File::open(path).unwrap();
        let len = f.metadata().unwrap().len();
        let mut out = Vec::new();
        ZstReader::open(f, len, path).unwrap().to_plain(&mut out).unwrap();
        out
    }

    const OPTS: ZstOptions = ZstOptions {
        level: 3,
        frame_bytes: 200,
    };

    #[test]
    fn create_append_and_repair() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/pv:2024.pb.zst");
        let target = AppendTarget::new(&path, "A:pv", ArchDbType::ScalarDouble, 2024);
        let mut a = ZstAppender::open(&target, OPTS).unwrap();
        assert!(a.created);
        a.write_lines(&lines(0, 50)).unwrap();
        a.finish().unwrap();
        assert_eq!(a.len, std::fs::metadata(&path).unwrap().len());
        let first = a.table().clone();
        assert!(first.frames.len() > 3);
        let head = header_line(&PayloadInfo::for_file(ArchDbType::ScalarDouble, "A:pv", 2024));
        assert_eq!(plain_of(&path), [head.clone(), lines(0, 50)].concat());

        // Appending keeps every earlier frame where it was.
        let mut b = ZstAppender::open(&target, OPTS).unwrap();
        assert!(!b.created);
        assert_eq!(b.last.as_ref().map(|s| s.ts().secs), Some(Y2024 + 49));
        b.write_lines(&lines(50, 30)).unwrap();
        b.finish().unwrap();
        assert_eq!(b.table().frames[..first.frames.len()], first.frames[..]);
        assert_eq!(plain_of(&path), [head.clone(), lines(0, 80)].concat());

        // Opened and closed without a write: untouched.
        let before = std::fs::read(&path).unwrap();
        ZstAppender::open(&target, OPTS).unwrap().finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // A kill inside the last frame: cut back to the complete frames,
        // a fresh table written.
        let t = b.table().clone();
        let last = t.frames.last().unwrap();
        let cut = last.offset + 5;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let info = examine_zst(&path, true).unwrap();
        assert!(!info.had_table);
        assert_eq!(info.trimmed, 5);
        assert_eq!(info.table.frames[..], t.frames[..t.frames.len() - 1]);
        assert_eq!(info.len, std::fs::metadata(&path).unwrap().len());
        let again = examine_zst(&path, false).unwrap();
        assert!(again.had_table && again.damaged_tail.is_none());
        let kept = info.table.samples() as i64;
        assert_eq!(plain_of(&path), [head, lines(0, kept)].concat());
        assert_eq!(
            last_sample_time(&path).unwrap().map(|t| t.secs),
            Some(Y2024 + kept - 1)
        );

        // The index's view of the frames opens the file as its own table does.
        let ft = FrameTable::for_file(info.table.frames.clone(), info.len).unwrap();
        assert_eq!(ft, info.table);
    }

    #[test]
    fn another_pv_or_type_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pv:2024.pb.zst");
        let target = AppendTarget::new(&path, "A:pv", ArchDbType::ScalarDouble, 2024);
        let mut a = ZstAppender::open(&target, OPTS).unwrap();
        a.write_lines(&lines(0, 3)).unwrap();
        a.finish().unwrap();
        let other = AppendTarget::new(&path, "A:pv", ArchDbType::ScalarInt, 2024);
        assert!(matches!(
            ZstAppender::open(&other, OPTS),
            Err(Error::Mismatch { .. })
        ));
        assert_eq!(compressed_path("a/pv:2024.pb"), "a/pv:2024.pb.zst");
        assert!(is_compressed_path("a/pv:2024.pb.zst") && !is_compressed_path("a/pv:2024.pb"));
    }
}

//! Appending escaped sample lines to a partition file (plainpb.md §9).
//!
//! A new or empty file gets the Java file header (type, pvname, year only).
//! An existing file is checked (same PV and type) and, when its size is not
//! the one the caller last recorded, its tail is examined and a partial or
//! unparseable trailing record is cut off before anything is appended.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::file::PbFile;
use super::header::header_line;
use super::Error;
use crate::pb::PayloadInfo;
use crate::types::{ArchDbType, ArchiverSample};

/// Element count and header fields of a new file's header.
pub type HeaderExtra<'a> = (Option<i32>, &'a [(String, String)]);

/// The file an appender writes and what it must hold.
#[derive(Debug, Clone)]
pub struct AppendTarget<'a> {
    /// File path.
    pub path: &'a Path,
    /// Real PV name (header `pvname`).
    pub pv: &'a str,
    /// Payload type.
    pub db_type: ArchDbType,
    /// Year of the partition.
    pub year: i32,
    /// Element count and header fields for a newly created file's header
    /// (`None`: Java's file header, type/pvname/year only).
    pub header_extra: Option<HeaderExtra<'a>>,
}

impl<'a> AppendTarget<'a> {
    /// A target with Java's plain file header.
    pub fn new(path: &'a Path, pv: &'a str, db_type: ArchDbType, year: i32) -> Self {
        AppendTarget {
            path,
            pv,
            db_type,
            year,
            header_extra: None,
        }
    }
}

/// An open partition file positioned at its end.
pub struct Appender {
    file: File,
    path: PathBuf,
    /// Current size in bytes.
    pub len: u64,
    /// True if this call created the file (or filled an empty one).
    pub created: bool,
    /// Bytes cut from a damaged tail before appending (0 if none).
    pub trimmed: u64,
    /// Newest sample already in the file, when the tail was examined.
    pub last: Option<ArchiverSample>,
    /// Oldest sample in the file, when the file was examined.
    pub first: Option<ArchiverSample>,
    /// Offset of the first sample line (0 when the file was trusted unread).
    pub data_start: u64,
}

impl Appender {
    /// Opens (creating directories and the header as needed) for appending.
    /// `known_len` is the size the caller recorded after its last write; when
    /// it equals the actual size the tail is trusted without reading it.
    pub fn open(target: &AppendTarget<'_>, known_len: Option<u64>) -> Result<Self, Error> {
        let path = target.path;
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        let file = match opts.open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory for", path, e))?;
                }
                opts.open(path)
                    .map_err(|e| Error::io("open for append", path, e))?
            }
            Err(e) => return Err(Error::io("open for append", path, e)),
        };
        let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        if len == 0 {
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
            let header = header_line(&info);
            let mut ap = Appender {
                file,
                path: path.to_path_buf(),
                len: 0,
                created: true,
                trimmed: 0,
                last: None,
                first: None,
                data_start: header.len() as u64,
            };
            ap.write_raw(&header)?;
            return Ok(ap);
        }
        if known_len == Some(len) {
            // The caller's record matches the file: trust it, read nothing.
            return Ok(Appender {
                file,
                path: path.to_path_buf(),
                len,
                created: false,
                trimmed: 0,
                last: None,
                first: None,
                data_start: 0,
            });
        }
        let check = file.try_clone().map_err(|e| Error::io("open", path, e))?;
        let pb = PbFile::from_file(path, check, len)?;
        let desc = pb.desc();
        if desc.pv_name != target.pv || desc.db_type != target.db_type || desc.year != target.year {
            return Err(Error::Mismatch {
                path: path.to_path_buf(),
                found: format!("{} {} {}", desc.pv_name, desc.db_type, desc.year),
                expected: format!("{} {} {}", target.pv, target.db_type, target.year),
            });
        }
        let data_start = pb.data_start();
        let info = pb.info()?;
        let mut trimmed = 0;
        if info.good_len < len {
            trimmed = len - info.good_len;
            tracing::warn!(path = %path.display(), offset = info.good_len, bytes = trimmed,
                "cutting damaged tail before append");
            file.set_len(info.good_len)
                .map_err(|e| Error::io("truncate", path, e))?;
        }
        Ok(Appender {
            file,
            path: path.to_path_buf(),
            len: info.good_len,
            created: false,
            trimmed,
            last: info.last,
            first: info.first,
            data_start,
        })
    }

    /// Appends already escaped, newline-terminated sample lines.
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        use std::os::unix::fs::FileExt;
        // Positional write at our recorded end: never interleaves with a
        // damaged tail another process may have left past it.
        self.file
            .write_all_at(bytes, self.len)
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Flushes file data to stable storage (fdatasync).
    pub fn sync(&mut self) -> Result<(), Error> {
        self.file.flush().map_err(|e| Error::io("flush", &self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| Error::io("fsync", &self.path, e))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

//! The PlainPB format: line escaping, the PayloadInfo header, the sample
//! codec, PV → path mapping, partition file names, file reading/writing, and
//! the compressed (`.pb.zst`) partition form.
//!
//! Works on bytes, `Read`/`Write` and single files only; it knows nothing of
//! sled, tokio, tiers or the registry.

mod chunks;
mod codec;
mod error;
mod escape;
mod file;
mod header;
mod lines;
mod path;
mod search;
mod stream;
mod wire;
mod writer;
mod zst;
mod zst_file;

pub use chunks::{ChunkItem, ChunkReader, ChunkWriter};
pub use codec::{
    decode_sample, decode_sample_into, decode_timestamp, encode_sample, encode_sample_at, SampleCodecError,
};
pub use error::Error;
pub use escape::{escape_into, unescape_into, EscapeError};
pub use file::{FileInfo, PbFile};
pub use header::{decode_header, encode_header, header_line};
pub use lines::{LineEvent, LineReader};
pub use path::{
    key_to_relative_dir, partition_path, pv_key, split_file_name, PV_KEY_SEPARATORS, PV_KEY_TERMINATOR,
};
pub use stream::{RawLine, ReadAt, SampleStream};
pub use writer::{AppendTarget, Appender};
pub use zst::{
    is_compressed, FrameEntry, FrameRead, FrameTable, ZstOptions, ZstReader, ZstWriter, ZSTD_MAGIC,
    ZST_EXTENSION,
};
pub use zst_file::{
    compressed_path, examine_zst, is_compressed_path, last_sample_time, table_len, zst_data_end, ZstAppender,
    ZstInfo,
};

/// Line terminator.
pub const NEWLINE: u8 = 0x0A;
/// Escape byte.
pub const ESCAPE: u8 = 0x1B;
/// Extension of data files.
pub const PB_EXTENSION: &str = ".pb";

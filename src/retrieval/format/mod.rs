//! Response encodings: Java-style number text, JSON, `qw`, CSV, text and
//! PB/HTTP raw. Writers are driven by the retrieval pipeline one PV and one
//! sample at a time and write into any `io::Write`.

pub mod csv;
pub mod json;
mod pvjson;
pub mod raw;
pub mod text;
mod value;

use std::io;

use serde::{Deserialize, Serialize};

use crate::types::{ArchiverSample, EventStreamDesc, Timestamp};

pub use value::push_value_text;

/// Appends the JSON text of a value.
pub fn push_json_value(out: &mut String, v: &crate::types::SampleValue, nf: NonFinite) {
    value::push_value_json(out, v, nf)
}

/// How non-finite doubles appear in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NonFinite {
    /// `NaN`, `Infinity`, `-Infinity` unquoted, as Java (not valid JSON).
    #[default]
    Bare,
    /// `null`.
    Null,
    /// `"NaN"`, `"Infinity"`, `"-Infinity"`.
    String,
}

/// Response format, from the request's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `json`
    Json,
    /// `qw` (Quick-Web JSON: millis, `null` for NaN)
    Qw,
    /// `raw` (PB/HTTP)
    Raw,
    /// `csv`
    Csv,
    /// `txt`
    Txt,
}

impl Format {
    /// Format for an extension (`json`, `raw`, `csv`, `txt`, `qw`).
    pub fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext {
            "json" => Format::Json,
            "qw" => Format::Qw,
            "raw" => Format::Raw,
            "csv" => Format::Csv,
            "txt" => Format::Txt,
            _ => return None,
        })
    }

    /// HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json | Format::Qw => "application/json",
            Format::Raw => "application/x-protobuf",
            Format::Csv => "text/csv",
            Format::Txt => "text/plain",
        }
    }

    /// True if several PVs can share one response.
    pub fn multi_pv(self) -> bool {
        matches!(self, Format::Json | Format::Qw | Format::Raw)
    }
}

/// A response writer.
pub trait FormatWriter {
    /// Before anything else.
    fn begin(&mut self) -> io::Result<()>;
    /// Starts a PV (only called for PVs that have at least one sample).
    /// `name` is the name to echo; `meta` holds the header fields to show.
    fn begin_pv(&mut self, name: &str, meta: &EventStreamDesc) -> io::Result<()>;
    /// A new source stream starts (text format prints it).
    fn source(&mut self, _desc: &EventStreamDesc) -> io::Result<()> {
        Ok(())
    }
    /// One decoded sample; `desc` describes its stream.
    fn sample(&mut self, s: &ArchiverSample, desc: &EventStreamDesc) -> io::Result<()>;
    /// [`FormatWriter::sample`] when the caller already has the sample's
    /// time (`ts == s.ts()`).
    fn sample_at(&mut self, s: &ArchiverSample, _ts: Timestamp, desc: &EventStreamDesc) -> io::Result<()> {
        self.sample(s, desc)
    }
    /// One stored line, for writers that pass stored bytes through.
    fn raw_line(&mut self, _ts: Timestamp, _line: &[u8], _desc: &EventStreamDesc) -> io::Result<()> {
        Err(io::Error::other("this format needs decoded samples"))
    }
    /// Several stored lines, each ending with a newline, of one stream.
    fn raw_lines(&mut self, _first_ts: Timestamp, _lines: &[u8], _desc: &EventStreamDesc) -> io::Result<()> {
        Err(io::Error::other("this format needs decoded samples"))
    }
    /// True if this writer takes stored lines ([`FormatWriter::raw_line`]).
    fn wants_raw(&self) -> bool {
        false
    }
    /// Ends the current PV.
    fn end_pv(&mut self) -> io::Result<()>;
    /// After everything.
    fn finish(&mut self) -> io::Result<()>;
}

/// A writer for `format` over `out`.
pub fn writer<'a, W: io::Write + 'a>(
    format: Format,
    out: W,
    nonfinite: NonFinite,
) -> Box<dyn FormatWriter + 'a> {
    match format {
        Format::Json => Box::new(json::JsonWriter::new(out, nonfinite)),
        Format::Qw => Box::new(json::QwWriter::new(out)),
        Format::Raw => Box::new(raw::RawWriter::new(out)),
        Format::Csv => Box::new(csv::CsvWriter::new(out)),
        Format::Txt => Box::new(text::TextWriter::new(out)),
    }
}

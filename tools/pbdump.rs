//! `strata-pbdump [--format json|csv] FILE...`: prints the headers and
//! samples of PlainPB files (plain `.pb` or compressed `.pb.zst`) and PB/HTTP
//! captures. `--to-plain OUT FILE` writes a compressed partition back out as
//! the plain `.pb` Java tools read (byte-identical to the plain partition).
//!
//! JSON Lines: one header object per chunk, then one object per sample.
//! Bad lines are reported on stderr with file and offset; the exit status is
//! non-zero if any file had problems.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use serde_json::{json, Map, Value};
use strata::plainpb::{is_compressed, ChunkItem, ChunkReader, ZstReader};
use strata::types::java::{push_double, push_float};
use strata::types::{ArchiverSample, SampleValue};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Csv,
}

/// Print PlainPB (.pb) files and PB/HTTP (.raw) captures.
#[derive(Parser)]
#[command(name = "strata-pbdump", version)]
struct Args {
    /// Output format: JSON Lines (a header object per chunk, an object per
    /// sample) or CSV (`secs,val,severity,status,nanos`, as the appliance).
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Write the (one) input file's plain form to this path instead of printing.
    #[arg(long, value_name = "OUT")]
    to_plain: Option<PathBuf>,
    /// Files to print.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// The plain bytes of a compressed partition, or `None` for any other file.
fn plain_of(path: &PathBuf) -> anyhow::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 4];
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = std::io::Read::read(&mut f, &mut head)?;
    if !is_compressed(&head[..n]) {
        return Ok(None);
    }
    let len = f.metadata()?.len();
    let mut r = ZstReader::open(File::open(path)?, len, path)
        .with_context(|| format!("reading compressed partition {}", path.display()))?;
    let mut out = Vec::new();
    r.to_plain(&mut out)?;
    Ok(Some(out))
}

fn float_json(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(v)
    }
}

fn value_json(v: &SampleValue) -> Value {
    match v {
        SampleValue::String(s) => json!(s),
        SampleValue::Short(x) | SampleValue::Enum(x) => json!(x),
        SampleValue::Float(x) => float_json(f64::from(*x)),
        SampleValue::Byte(x) => json!(x),
        SampleValue::Int(x) => json!(x),
        SampleValue::Double(x) => float_json(*x),
        SampleValue::VString(x) => json!(x),
        SampleValue::VShort(x) | SampleValue::VEnum(x) => json!(x),
        SampleValue::VFloat(x) => Value::Array(x.iter().map(|f| float_json(f64::from(*f))).collect()),
        SampleValue::VByte(x) => Value::Array(x.iter().map(|b| json!(*b as i8)).collect()),
        SampleValue::VInt(x) => json!(x),
        SampleValue::VDouble(x) => Value::Array(x.iter().map(|f| float_json(*f)).collect()),
        SampleValue::V4Generic(x) => json!(x),
    }
}

fn sample_json(s: &ArchiverSample) -> Value {
    let ts = s.ts();
    let fields: Map<String, Value> = s
        .field_values()
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({"secs": ts.secs, "nanos": ts.nanos, "val": value_json(&s.value),
           "severity": s.severity, "status": s.status, "fields": fields})
}

fn csv_value(out: &mut String, v: &SampleValue) {
    use std::fmt::Write as _;
    let list = |out: &mut String, items: Vec<String>| {
        out.push('[');
        out.push_str(&items.join(","));
        out.push(']');
    };
    match v {
        SampleValue::String(s) => out.push_str(s),
        SampleValue::Double(x) => push_double(out, *x),
        SampleValue::Float(x) => push_float(out, *x),
        SampleValue::VDouble(x) => list(
            out,
            x.iter()
                .map(|f| {
                    let mut s = String::new();
                    push_double(&mut s, *f);
                    s
                })
                .collect(),
        ),
        SampleValue::VFloat(x) => list(
            out,
            x.iter()
                .map(|f| {
                    let mut s = String::new();
                    push_float(&mut s, *f);
                    s
                })
                .collect(),
        ),
        SampleValue::VString(x) => list(out, x.clone()),
        other => {
            let _ = write!(out, "{}", value_json(other));
        }
    }
}

fn dump(path: &PathBuf, format: Format, out: &mut impl Write) -> anyhow::Result<usize> {
    let input: Box<dyn std::io::Read> = match plain_of(path)? {
        Some(plain) => Box::new(std::io::Cursor::new(plain)),
        None => Box::new(File::open(path).with_context(|| format!("opening {}", path.display()))?),
    };
    let mut reader = ChunkReader::new(BufReader::with_capacity(1 << 20, input));
    let mut problems = 0;
    loop {
        match reader.next_item() {
            Ok(None) => break,
            Ok(Some(ChunkItem::Header(h))) => {
                if let Format::Json = format {
                    let headers: Map<String, Value> =
                        h.headers.iter().map(|f| (f.name.clone(), json!(f.val))).collect();
                    let line = json!({"pvName": h.pvname, "payloadType": h.r#type, "year": h.year,
                                      "elementCount": h.element_count, "headers": headers});
                    writeln!(out, "{line}")?;
                }
            }
            Ok(Some(ChunkItem::Sample(s))) => match format {
                Format::Json => writeln!(out, "{}", sample_json(&s))?,
                Format::Csv => {
                    let ts = s.ts();
                    let mut line = format!("{},", ts.secs);
                    csv_value(&mut line, &s.value);
                    writeln!(out, "{line},{},{},{}", s.severity, s.status, ts.nanos)?;
                }
            },
            Err((offset, reason)) => {
                problems += 1;
                eprintln!("{}: byte offset {offset}: {reason}", path.display());
                if reader.partial_tail.is_some() {
                    break;
                }
            }
        }
    }
    Ok(problems)
}

fn run() -> anyhow::Result<bool> {
    let args = Args::parse();
    if let Some(dest) = &args.to_plain {
        let [src] = args.files.as_slice() else {
            anyhow::bail!("--to-plain takes exactly one input file");
        };
        let bytes = match plain_of(src)? {
            Some(b) => b,
            None => std::fs::read(src).with_context(|| format!("reading {}", src.display()))?,
        };
        std::fs::write(dest, bytes).with_context(|| format!("writing {}", dest.display()))?;
        return Ok(true);
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut clean = true;
    for path in &args.files {
        match dump(path, args.format, &mut out) {
            Ok(0) => {}
            Ok(_) => clean = false,
            Err(e) => {
                clean = false;
                eprintln!("{e:#}");
            }
        }
    }
    out.flush()?;
    Ok(clean)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("strata-pbdump: {e:#}");
            ExitCode::from(2)
        }
    }
}

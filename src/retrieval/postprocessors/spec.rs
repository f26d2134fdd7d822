//! The operator grammar: Java's prefix registry, each operator's arguments
//! and defaults (`mean_600`, `deadBand_2.0`, `ignoreflyers_600_2.5`), the
//! canonical names, and the function-call syntax `op_N(PV)` / `op(PV,N)`.
//! What a parsed spec computes is built in [`super::apply`].

use crate::types::{ArchDbType, Timestamp};

use super::estimators::Stat;
use super::{
    bins, optimized, PpError, DEFAULT_ADEL, DEFAULT_FLYER_K, DEFAULT_INTERVAL, DEFAULT_POINTS,
    MAX_OPTIMIZED_POINTS,
};

/// One registry key: the family and, for the statistics, the fill flag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Key {
    FirstSample,
    LastSample,
    FirstFill,
    LastFill,
    Summary(Stat, bool),
    Flyers { keep_outliers: bool },
    NCount,
    Nth,
    Optimized(bool),
    OptimLast(bool),
    CaPlot,
    DeadBand,
    Lttb,
}

/// Java's registry in lookup order (`XSample` = no-fill variant registered
/// just before `X`), then the strata additions. The first key that the spec
/// starts with wins. Invariant: no added key is a prefix of a Java key or
/// has one as a prefix, so Java specs resolve exactly as in Java.
pub(super) const REGISTRY: &[(&str, Key)] = &[
    ("firstSample", Key::FirstSample),
    ("meanSample", Key::Summary(Stat::Mean, false)),
    ("mean", Key::Summary(Stat::Mean, true)),
    ("jitterSample", Key::Summary(Stat::Jitter, false)),
    ("jitter", Key::Summary(Stat::Jitter, true)),
    ("stdSample", Key::Summary(Stat::Std, false)),
    ("std", Key::Summary(Stat::Std, true)),
    ("ignoreflyers", Key::Flyers { keep_outliers: false }),
    ("flyers", Key::Flyers { keep_outliers: true }),
    ("linearSample", Key::Summary(Stat::Linear, false)),
    ("linear", Key::Summary(Stat::Linear, true)),
    ("loessSample", Key::Summary(Stat::Loess, false)),
    ("loess", Key::Summary(Stat::Loess, true)),
    ("medianSample", Key::Summary(Stat::Median, false)),
    ("median", Key::Summary(Stat::Median, true)),
    ("varianceSample", Key::Summary(Stat::Variance, false)),
    ("variance", Key::Summary(Stat::Variance, true)),
    ("popvarianceSample", Key::Summary(Stat::PopVariance, false)),
    ("popvariance", Key::Summary(Stat::PopVariance, true)),
    ("kurtosisSample", Key::Summary(Stat::Kurtosis, false)),
    ("kurtosis", Key::Summary(Stat::Kurtosis, true)),
    ("skewnessSample", Key::Summary(Stat::Skewness, false)),
    ("skewness", Key::Summary(Stat::Skewness, true)),
    ("firstFill", Key::FirstFill),
    ("lastFill", Key::LastFill),
    ("lastSample", Key::LastSample),
    ("maxSample", Key::Summary(Stat::Max, false)),
    ("max", Key::Summary(Stat::Max, true)),
    ("minSample", Key::Summary(Stat::Min, false)),
    ("min", Key::Summary(Stat::Min, true)),
    ("countSample", Key::Summary(Stat::Count, false)),
    ("count", Key::Summary(Stat::Count, true)),
    ("ncount", Key::NCount),
    ("nth", Key::Nth),
    ("statsSample", Key::Summary(Stat::Stats, false)),
    ("stats", Key::Summary(Stat::Stats, true)),
    ("optimLastSampleSample", Key::OptimLast(false)),
    ("optimLastSample", Key::OptimLast(true)),
    ("optimizedSample", Key::Optimized(false)),
    ("optimized", Key::Optimized(true)),
    ("caplotbinning", Key::CaPlot),
    ("deadBand", Key::DeadBand),
    ("errorbarSample", Key::Summary(Stat::Errorbar, false)),
    ("errorbar", Key::Summary(Stat::Errorbar, true)),
    // strata additions
    ("rmsSample", Key::Summary(Stat::Rms, false)),
    ("rms", Key::Summary(Stat::Rms, true)),
    ("sumSample", Key::Summary(Stat::Sum, false)),
    ("sum", Key::Summary(Stat::Sum, true)),
    ("lttb", Key::Lttb),
];

/// A parsed operator with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Op {
    FirstSample {
        interval: u32,
    },
    LastSample {
        interval: u32,
    },
    FirstFill {
        interval: u32,
    },
    LastFill {
        interval: u32,
    },
    Summary {
        stat: Stat,
        interval: u32,
        fill: bool,
    },
    Flyers {
        interval: u32,
        k: f32,
        keep_outliers: bool,
    },
    NCount,
    Nth {
        n: u32,
    },
    Optimized {
        n: u32,
        fill: bool,
    },
    OptimLast {
        n: u32,
        fill: bool,
    },
    CaPlot {
        interval: u32,
    },
    DeadBand {
        adel: f64,
    },
    Lttb {
        n: u32,
    },
}

/// A parsed post-processor spec such as `mean_600`, `firstSample`, `deadBand_2.0`, `lttb_500`.
#[derive(Debug, Clone, PartialEq)]
pub struct PpSpec {
    key: &'static str,
    pub(super) op: Op,
}

/// Java's `String.split("_")`: trailing empty pieces are dropped, interior ones kept.
fn java_split(s: &str, sep: &[char]) -> Vec<String> {
    let mut parts: Vec<String> = s.split(sep).map(str::to_string).collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

/// Argument `index` of `spec`, as Java reads it: only if the spec contains
/// `_`; then the piece must exist. `Ok(None)` = use the default.
fn arg(spec: &str, pieces: &[String], index: usize) -> Result<Option<String>, PpError> {
    if !spec.contains('_') {
        return Ok(None);
    }
    match pieces.get(index) {
        Some(p) => Ok(Some(p.clone())),
        None if index >= 2 => Ok(None),
        None => Err(PpError::MissingArgument {
            spec: spec.to_string(),
            index,
        }),
    }
}

/// A positive Java `int` (`Integer.parseInt` syntax).
fn positive_int(spec: &str, text: &str, reason: &'static str) -> Result<u32, PpError> {
    let bad = || PpError::BadArgument {
        spec: spec.to_string(),
        arg: text.to_string(),
        reason,
    };
    let v: i32 = text.parse().map_err(|_| bad())?;
    u32::try_from(v).ok().filter(|v| *v > 0).ok_or_else(bad)
}

/// Java `Double.parseDouble` syntax: surrounding whitespace and control
/// characters trimmed, optional `f`/`d` suffix, `NaN`/`Infinity` spelled as Java does.
fn java_double(text: &str) -> Option<f64> {
    let t = text.trim_matches(|c: char| c <= ' ');
    let (sign, body) = match t.strip_prefix('-') {
        Some(b) => (-1.0, b),
        None => (1.0, t.strip_prefix('+').unwrap_or(t)),
    };
    match body {
        "NaN" => return Some(f64::NAN),
        "Infinity" => return Some(sign * f64::INFINITY),
        _ => {}
    }
    let body = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
    // Rust accepts words Java rejects ("inf", "nan"); Java numbers need a digit.
    if !body.bytes().any(|b| b.is_ascii_digit())
        || body
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        return None;
    }
    body.parse::<f64>().ok().map(|v| sign * v)
}

impl PpSpec {
    /// Parses the operator string (the `pp` parameter form, e.g. "mean_600"). Uses Java's prefix
    /// matching over the ordered registry. Ok(None) = unknown operator (caller serves raw data).
    /// Err = known operator with bad arguments (caller answers HTTP 400 naming the parameter).
    ///
    /// As in Java, junk between the key and the first `_` is ignored
    /// (`meanXYZ_600` is `mean_600`, `mean600` is `mean` with 900 s) and
    /// pieces beyond the ones an operator reads are ignored. Unlike Java
    /// (which answers 404 or returns no data), zero or negative intervals and
    /// counts are rejected.
    pub fn parse(spec: &str) -> Result<Option<PpSpec>, PpError> {
        let Some(&(key, k)) = REGISTRY.iter().find(|(key, _)| spec.starts_with(key)) else {
            return Ok(None);
        };
        let pieces = java_split(spec, &['_']);
        let interval = |default: u32| -> Result<u32, PpError> {
            match arg(spec, &pieces, 1)? {
                Some(a) => positive_int(spec, &a, "expected a positive whole number of seconds"),
                None => Ok(default),
            }
        };
        let count = |default: u32, reason: &'static str| -> Result<u32, PpError> {
            match arg(spec, &pieces, 1)? {
                Some(a) => positive_int(spec, &a, reason),
                None => Ok(default),
            }
        };
        let op = match k {
            Key::FirstSample => Op::FirstSample {
                interval: interval(DEFAULT_INTERVAL)?,
            },
            Key::LastSample => Op::LastSample {
                interval: interval(DEFAULT_INTERVAL)?,
            },
            Key::FirstFill => Op::FirstFill {
                interval: interval(DEFAULT_INTERVAL)?,
            },
            Key::LastFill => Op::LastFill {
                interval: interval(DEFAULT_INTERVAL)?,
            },
            Key::CaPlot => Op::CaPlot {
                interval: interval(DEFAULT_INTERVAL)?,
            },
            Key::Summary(stat, fill) => Op::Summary {
                stat,
                interval: interval(DEFAULT_INTERVAL)?,
                fill,
            },
            Key::Flyers { keep_outliers } => {
                let interval = interval(DEFAULT_INTERVAL)?;
                let k = match arg(spec, &pieces, 2)? {
                    // Java parses k as a 32-bit float (`Float.parseFloat`).
                    Some(a) => java_double(&a)
                        .map(|v| v as f32)
                        .ok_or_else(|| PpError::BadArgument {
                            spec: spec.to_string(),
                            arg: a.clone(),
                            reason: "expected a number (multiple of the standard deviation)",
                        })?,
                    None => DEFAULT_FLYER_K,
                };
                Op::Flyers {
                    interval,
                    k,
                    keep_outliers,
                }
            }
            Key::NCount => Op::NCount,
            Key::Nth => Op::Nth {
                n: count(DEFAULT_INTERVAL, "expected a positive whole number")?,
            },
            Key::Optimized(fill) | Key::OptimLast(fill) => {
                let n = count(DEFAULT_POINTS, "expected a positive number of points")?;
                if n > MAX_OPTIMIZED_POINTS {
                    return Err(PpError::BadArgument {
                        spec: spec.to_string(),
                        arg: n.to_string(),
                        reason: "at most 1000000 points",
                    });
                }
                if matches!(k, Key::Optimized(_)) {
                    Op::Optimized { n, fill }
                } else {
                    Op::OptimLast { n, fill }
                }
            }
            Key::DeadBand => Op::DeadBand {
                adel: match arg(spec, &pieces, 1)? {
                    Some(a) => java_double(&a).ok_or_else(|| PpError::BadArgument {
                        spec: spec.to_string(),
                        arg: a.clone(),
                        reason: "expected a number (ADEL)",
                    })?,
                    None => DEFAULT_ADEL,
                },
            },
            Key::Lttb => {
                let n = count(DEFAULT_POINTS, "expected a number of points >= 3")?;
                if n < 3 {
                    return Err(PpError::BadArgument {
                        spec: spec.to_string(),
                        arg: n.to_string(),
                        reason: "expected a number of points >= 3",
                    });
                }
                Op::Lttb { n }
            }
        };
        Ok(Some(PpSpec { key, op }))
    }

    /// The registry key that matched (`meanSample`, `mean`, `deadBand`, …).
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// Canonical name: Java's cache "extension"/identity, e.g. "mean_600",
    /// "mean" (interval 900), "deadBand_2.0", "ignoreflyers_600_2.5".
    /// No-fill variants keep their `Sample` suffix (`meanSample_600`) so the
    /// name identifies the output and re-parses to the same spec; Java's
    /// extension drops it (see [`PpSpec::java_extension`]).
    pub fn name(&self) -> String {
        self.render(self.key)
    }

    /// Java's `getExtension()`: like [`PpSpec::name`] but the no-fill
    /// variants use the fill identity (`meanSample_600` → `mean_600`).
    pub fn java_extension(&self) -> String {
        let id = match self.op {
            Op::Summary { fill: false, .. }
            | Op::Optimized { fill: false, .. }
            | Op::OptimLast { fill: false, .. } => self.key.strip_suffix("Sample").unwrap_or(self.key),
            _ => self.key,
        };
        self.render(id)
    }

    fn render(&self, id: &str) -> String {
        let with = |v: u32, default: u32| {
            if v == default {
                id.to_string()
            } else {
                format!("{id}_{v}")
            }
        };
        match &self.op {
            Op::FirstSample { interval }
            | Op::LastSample { interval }
            | Op::FirstFill { interval }
            | Op::LastFill { interval }
            | Op::CaPlot { interval }
            | Op::Summary { interval, .. } => with(*interval, DEFAULT_INTERVAL),
            Op::Nth { n } => with(*n, DEFAULT_INTERVAL),
            Op::Optimized { n, .. } | Op::OptimLast { n, .. } | Op::Lttb { n } => with(*n, DEFAULT_POINTS),
            Op::NCount => id.to_string(),
            Op::DeadBand { adel } => {
                if *adel == DEFAULT_ADEL {
                    id.to_string()
                } else {
                    format!("{id}_{}", crate::types::java::double_to_string(*adel))
                }
            }
            Op::Flyers { interval, k, .. } => {
                if *interval == DEFAULT_INTERVAL && *k == DEFAULT_FLYER_K {
                    id.to_string()
                } else {
                    let mut s = format!("{id}_{interval}_");
                    crate::types::java::push_float(&mut s, *k);
                    s
                }
            }
        }
    }

    /// Bin interval in seconds (0 if the operator has none: `ncount`, `nth`,
    /// `deadBand`, `lttb`, and `optimized`/`optimLastSample`, whose interval
    /// depends on the range; see [`PpSpec::interval_for`]).
    pub fn interval_secs(&self) -> u64 {
        match &self.op {
            Op::FirstSample { interval }
            | Op::LastSample { interval }
            | Op::FirstFill { interval }
            | Op::LastFill { interval }
            | Op::CaPlot { interval }
            | Op::Summary { interval, .. }
            | Op::Flyers { interval, .. } => u64::from(*interval),
            Op::NCount | Op::Nth { .. } | Op::DeadBand { .. } | Op::Lttb { .. } => 0,
            Op::Optimized { .. } | Op::OptimLast { .. } => 0,
        }
    }

    /// The bin interval used for the range `[from, to]`: the fixed interval,
    /// or for `optimized` `clamp((secs(to) - secs(from)) / n, 1, i32::MAX)` and
    /// for `optimLastSample` `max(1, (ms(to) - ms(from)) / (1000 n))`.
    pub fn interval_for(&self, from: Timestamp, to: Timestamp) -> u64 {
        match &self.op {
            Op::Optimized { n, .. } => u64::from(optimized::optimized_interval(*n, from, to)),
            Op::OptimLast { n, .. } => u64::from(optimized::optim_last_interval(*n, from, to)),
            _ => self.interval_secs(),
        }
    }

    /// Output DBR type for an input type: SCALAR_DOUBLE for statistics and
    /// `caplotbinning`, WAVEFORM_DOUBLE for `stats`, `optimized` and
    /// `optimLastSample`, SCALAR_INT for `ncount`, the input type for the
    /// sample-selecting operators (firstSample, lastSample, firstFill,
    /// lastFill, nth, deadBand, flyers, ignoreflyers, lttb).
    ///
    /// `optimized`/`optimLastSample` return the raw input samples (input
    /// type) when the range holds at most `n` of them; [`PpSpec::apply`]
    /// decides that before returning, so the output stream's
    /// `description().db_type` is always the actual type.
    pub fn output_type(&self, input: ArchDbType) -> ArchDbType {
        match &self.op {
            Op::Summary {
                stat: Stat::Stats, ..
            } => ArchDbType::WaveformDouble,
            Op::Summary { .. } | Op::CaPlot { .. } => ArchDbType::ScalarDouble,
            Op::Optimized { .. } | Op::OptimLast { .. } => ArchDbType::WaveformDouble,
            Op::NCount => ArchDbType::ScalarInt,
            Op::FirstSample { .. }
            | Op::LastSample { .. }
            | Op::FirstFill { .. }
            | Op::LastFill { .. }
            | Op::Nth { .. }
            | Op::DeadBand { .. }
            | Op::Flyers { .. }
            | Op::Lttb { .. } => input,
        }
    }

    /// True if the operator reads sample values as numbers (element 0 of
    /// waveforms): strings and V4 bytes make its stream fail.
    pub fn requires_numeric(&self) -> bool {
        !matches!(
            self.op,
            Op::FirstSample { .. }
                | Op::LastSample { .. }
                | Op::FirstFill { .. }
                | Op::LastFill { .. }
                | Op::Nth { .. }
                | Op::NCount
        )
    }

    /// Upfront check for the HTTP layer: `Err(NonNumeric)` if this operator
    /// cannot work on PVs of type `input` (so it can answer 400 before streaming).
    pub fn check_input_type(&self, input: ArchDbType) -> Result<(), PpError> {
        if self.requires_numeric() && !bins::is_numeric_type(input) {
            return Err(PpError::NonNumeric {
                op: self.name(),
                db_type: input,
            });
        }
        Ok(())
    }
}

/// Splits Java's function-call syntax: "mean_600(PV)" / "mean(PV,600)" -> ("mean_600", "PV"). Returns None if the
/// string has no '('; Err on unbalanced parentheses or an empty operator/PV.
///
/// Like Java, the string is split at every `(`, `,` and `)`; trailing empty
/// pieces are dropped, pieces after the PV are appended as `_piece`
/// (`mean_600(PV,900)` → `mean_600_900`, whose extra piece is ignored).
/// Unlike Java, parentheses must pair up and nest (Java only requires some
/// `)`), and pieces are trimmed of surrounding whitespace (`mean(PV, 600)`
/// works; Java would reject ` 600`).
pub fn split_function_call(pv_param: &str) -> Result<Option<(String, String)>, PpError> {
    if !pv_param.contains('(') {
        return Ok(None);
    }
    let mut depth = 0i32;
    for c in pv_param.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(PpError::UnbalancedParentheses(pv_param.to_string()));
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(PpError::UnbalancedParentheses(pv_param.to_string()));
    }
    let pieces: Vec<String> = java_split(pv_param, &['(', ',', ')'])
        .into_iter()
        .map(|p| p.trim().to_string())
        .collect();
    let op = pieces.first().filter(|p| !p.is_empty());
    let pv = pieces.get(1).filter(|p| !p.is_empty());
    let (Some(op), Some(pv)) = (op, pv) else {
        return Err(PpError::EmptyCallPart(pv_param.to_string()));
    };
    let mut spec = op.clone();
    for extra in &pieces[2..] {
        spec.push('_');
        spec.push_str(extra);
    }
    Ok(Some((spec, pv.clone())))
}

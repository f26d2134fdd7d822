//! Post-processors (`mean_600(PV)`, `firstSample`, `deadBand_2.0`, …): parsing
//! the operator string with Java's prefix registry, and the lazy streams that
//! compute each operator over one merged input stream.
//!
//! Owns: the operator registry and argument rules ([`PpSpec`], in
//! `spec.rs`), the function-call syntax ([`split_function_call`]), building
//! an operator's stream from a spec (`apply.rs`), and every operator's
//! streaming implementation, each driven by the one pump in `pump.rs`. Does
//! not know tiers, files or HTTP: the caller hands in one time-ordered,
//! de-duplicated [`EventStream`](crate::storage::EventStream) that begins with
//! the newest sample at or before `from` (when one exists) and ends at `to`,
//! and maps [`PpError`] to HTTP statuses.
//!
//! Java runs its merge consumer *after* the post-processor; strata merges
//! tiers *before* it. So every output stream passes through `merge::Leading`,
//! which applies the consumer's leading-sample rule (of the output samples at
//! or before `from` only the last survives). Per-stream effects of Java's
//! multi-stream pipeline do not exist here: `ignoreflyers`/`flyers` bins do not
//! restart at tier boundaries, and `ncount` does not double count tier overlap.
//!
//! Timestamps of synthetic samples follow Java (bin middle, whole seconds for
//! `caplotbinning`); the stream description's `year` is a hint only (the year
//! of `from`, or of the input for sample-preserving operators): writers must
//! derive chunk years from sample timestamps.
//!
//! Deviations from Java (each documented where it is implemented):
//! - bad arguments (`mean_`, `mean_0`, `nth_0`, `optimized_0`, `lttb_2`,
//!   `optimized_2000000`) are errors for a 400, not 404/500/empty output;
//!   function calls must have paired parentheses and their pieces are trimmed;
//! - a sample exactly at `from` no longer loses the last data bin;
//! - `optimLastSample` uses at least 1 s bins, fills with the previous bin's
//!   severity, honours its no-fill variant and returns a lone continuity
//!   sample raw;
//! - non-numeric input to a numeric operator fails the stream with
//!   [`PpError::NonNumeric`] instead of silently losing output;
//! - no ordering-guard start at epoch + 1 ms, no `nth` cap;
//! - [`PpSpec::name`] keeps the `Sample` suffix of no-fill variants
//!   ([`PpSpec::java_extension`] gives Java's name);
//! - strata adds `rms`, `sum` (each with a `…Sample` no-fill variant) and `lttb`.

mod apply;
mod bins;
mod caplot;
mod estimators;
mod filter;
mod loess;
mod lttb;
mod merge;
mod optimized;
mod pump;
mod select;
mod spec;
mod summary;
#[cfg(test)]
pub(crate) mod testutil;

use crate::types::ArchDbType;

pub use spec::{split_function_call, PpSpec};

/// Default bin interval (seconds) and default `nth` step, as in Java.
pub const DEFAULT_INTERVAL: u32 = 900;
/// Default number of points of `optimized`, `optimLastSample` and `lttb`.
pub const DEFAULT_POINTS: u32 = 1000;
/// Largest `n` accepted by `optimized`/`optimLastSample`: they buffer up to
/// `n + 1` samples to choose between raw and binned output.
pub const MAX_OPTIMIZED_POINTS: u32 = 1_000_000;
/// Default `deadBand` ADEL.
pub const DEFAULT_ADEL: f64 = 1.0;
/// Default `flyers`/`ignoreflyers` multiple of the standard deviation.
pub const DEFAULT_FLYER_K: f32 = 3.0;

/// Why an operator string, a function call, or an operator's input was rejected.
///
/// Every variant is a client error: the HTTP layer answers 400 naming the
/// parameter (`pp` or `pv`). Parse errors come from [`PpSpec::parse`] and
/// [`split_function_call`]; `NonNumeric`/`EmptyWaveform` come from
/// [`PpSpec::check_input_type`] or, wrapped in `anyhow`, from an output
/// stream's `next_event` (downcast to tell them from I/O errors).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PpError {
    /// The spec contains `_` but the argument at `index` is missing (`mean_`).
    #[error("post-processor `{spec}`: argument {index} is missing")]
    MissingArgument {
        /// The operator string as given.
        spec: String,
        /// 1-based position of the `_`-separated argument.
        index: usize,
    },
    /// An argument does not parse or is out of range (`mean_0`, `nth_x`).
    #[error("post-processor `{spec}`: bad argument `{arg}`: {reason}")]
    BadArgument {
        /// The operator string as given.
        spec: String,
        /// The offending argument text.
        arg: String,
        /// What is expected.
        reason: &'static str,
    },
    /// `op(PV` or `op(PV))`: parentheses do not pair up.
    #[error("unbalanced parentheses in `{0}`")]
    UnbalancedParentheses(String),
    /// `(PV)` or `op()`: the operator or the PV name is empty.
    #[error("empty operator or PV name in `{0}`")]
    EmptyCallPart(String),
    /// A numeric operator met a string, V4 or otherwise non-numeric sample.
    #[error("{op}: needs numeric samples, got {db_type}")]
    NonNumeric {
        /// The operator name.
        op: String,
        /// Type of the offending sample.
        db_type: ArchDbType,
    },
    /// A numeric operator met an empty waveform (no element 0).
    #[error("{op}: empty waveform at {secs}.{nanos:09}")]
    EmptyWaveform {
        /// The operator name.
        op: String,
        /// Unix seconds of the sample.
        secs: i64,
        /// Nanoseconds of the sample.
        nanos: u32,
    },
}

#[cfg(test)]
mod tests;

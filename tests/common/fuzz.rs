//! Fuzz harness: proptest runners whose case count comes from
//! `STRATA_FUZZ_CASES` (the long mode, e.g. 1000000) or a quick default,
//! a watchdog that aborts the process when one case runs too long (a hang
//! is a failure, reported with its input), and value strategies shared by
//! the fuzz targets.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// Cases per target: `STRATA_FUZZ_CASES`, else `quick`.
pub fn cases(quick: u32) -> u32 {
    std::env::var("STRATA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(quick)
}

/// A case running longer than this is a hang.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);

struct Current {
    started: Option<Instant>,
    input: String,
}

/// Aborts the process (with the input) when a case exceeds [`HANG_LIMIT`].
struct Watchdog {
    current: Arc<Mutex<Current>>,
}

impl Watchdog {
    fn start(target: &'static str) -> Self {
        let current = Arc::new(Mutex::new(Current {
            started: None,
            input: String::new(),
        }));
        let weak = Arc::downgrade(&current);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let Some(c) = weak.upgrade() else { return };
            let c = c.lock().unwrap_or_else(|p| p.into_inner());
            if c.started.is_some_and(|t| t.elapsed() > HANG_LIMIT) {
                eprintln!(
                    "fuzz {target}: a case ran for more than {HANG_LIMIT:?} (hang); input:\n{}",
                    c.input
                );
                std::process::abort();
            }
        });
        Watchdog { current }
    }

    fn begin(&self, input: String) {
        let mut c = self.current.lock().unwrap_or_else(|p| p.into_inner());
        c.started = Some(Instant::now());
        c.input = input;
    }

    fn end(&self) {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).started = None;
    }
}

/// Runs `check` on `cases(quick)` inputs from `strategy`, under the
/// watchdog. A failing case (an `Err`, or a panic in `check`) is shrunk
/// and reported; prints the number of cases run.
pub fn run<S>(target: &'static str, quick: u32, strategy: S, check: impl Fn(S::Value) -> Result<(), String>)
where
    S: Strategy,
    S::Value: Debug + Clone,
{
    let n = cases(quick);
    let config = Config {
        cases: n,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let dog = Watchdog::start(target);
    let ran = AtomicU64::new(0);
    let t = Instant::now();
    let result = runner.run(&strategy, |input| {
        dog.begin(format!("{input:?}"));
        ran.fetch_add(1, Ordering::Relaxed);
        let r = check(input);
        dog.end();
        r.map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => eprintln!(
            "fuzz {target}: {} cases, 0 failures, {:.1} s",
            ran.load(Ordering::Relaxed),
            t.elapsed().as_secs_f64()
        ),
        Err(TestError::Fail(why, input)) => panic!("fuzz {target}: {why}\nminimal input: {input:#?}"),
        Err(e) => panic!("fuzz {target}: {e}"),
    }
}

/// One value drawn from `s` (for set-up data).
pub fn sample<S: Strategy>(s: S, runner: &mut TestRunner) -> S::Value {
    s.new_tree(runner).expect("strategy").current()
}

/// Inputs known to have broken parsers, and edge values.
pub const TRICKY: &[&str] = &[
    "2024-03-15T09:30:0é",
    "2024-03-15T09:30:00é",
    "2024-03-15T09:30:00Zé",
    "2024-03-15T09:30:00.999999999999Z",
    "2024-03-15T09:30:00 02:00",
    "-999999999-01-01T00:00:00Z",
    "+999999999-12-31T23:59:59Z",
    "0000-00-00T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "",
    " ",
    "\u{0}",
    "\u{feff}",
    "é",
    "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
    "%",
    "%FF",
    "-1",
    "0",
    "-9223372036854775808",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "-inf",
    "true",
    "*",
    "?",
    "**",
    "[",
    "(",
    ")",
    "((((((((((",
    ".*",
    "(a+)+$",
    "a{99999}",
    "\\",
    ",",
    ",,,",
    ".",
    ".VAL",
    ".HIHI",
    "pva://",
    "ca://",
    "pva://T:dbl",
    "T:dbl",
    "T:dbl.VAL",
    "T:dbl.HIHI",
    "T:wf",
    "T:enum",
    "T:str",
    "T:paused",
    "T:nick",
    "T:*",
    "mean_0(T:dbl)",
    "mean_-1(T:dbl)",
    "mean_99999999999999999999(T:dbl)",
    "mean(T:dbl,0)",
    "mean_1(T:dbl)",
    "nth_0(T:dbl)",
    "deadBand_NaN(T:dbl)",
    "optimized_0(T:dbl)",
    "caplotbinning_1(T:wf)",
    "lttb_0(T:dbl)",
    "flyers_1_-5(T:dbl)",
    "ignoreflyers_1_NaN(T:dbl)",
    "op_N(",
    "op(,)",
    "mean_600",
    "firstSample_1",
    "popvariance_1e3",
    "add,HIHI,LOLO",
    "remove,",
    "clear",
    "appliance0",
    "SCAN",
    "MONITOR",
    "DONT_ARCHIVE",
    "Default",
    "STS",
];

/// Parameter values: arbitrary text, printable ASCII, the tricky list,
/// and ISO instants with one character replaced.
pub fn value() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<String>().prop_map(|s| s.chars().take(40).collect()),
        3 => "[ -~]{0,40}",
        4 => prop::sample::select(TRICKY).prop_map(str::to_string),
        2 => (
            prop::sample::select(&["2024-03-15T09:30:00Z", "2024-03-15T09:30:00.123+02:00", "2024-03-15T09:30"][..]),
            any::<prop::sample::Index>(),
            any::<char>()
        )
            .prop_map(|(s, i, c)| {
                let mut v: Vec<char> = s.chars().collect();
                let at = i.index(v.len());
                v[at] = c;
                v.into_iter().collect()
            }),
        1 => (prop::sample::select(TRICKY), prop::sample::select(TRICKY))
            .prop_map(|(a, b)| format!("{a},{b}")),
        1 => prop::collection::vec(prop::sample::select(TRICKY), 0..5).prop_map(|v| v.join(",")),
    ]
    .boxed()
}

/// Byte strings: arbitrary, or mostly the separators parsers split on.
pub fn bytes(max: usize) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        any::<Vec<u8>>().prop_map(move |mut v| {
            v.truncate(max);
            v
        }),
        prop::collection::vec(
            prop_oneof![
                Just(b'\n'),
                Just(0x1b),
                Just(b','),
                Just(b'"'),
                Just(b'{'),
                Just(b'['),
                Just(b'='),
                Just(b'&'),
                any::<u8>()
            ],
            0..max
        ),
    ]
    .boxed()
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// XOR a byte at a position.
    Flip(prop::sample::Index, u8),
    /// Insert bytes at a position.
    Insert(prop::sample::Index, Vec<u8>),
    /// Remove a run of bytes.
    Remove(prop::sample::Index, usize),
    /// Cut the tail off.
    Truncate(prop::sample::Index),
    /// Copy a run of bytes to another position.
    Duplicate(prop::sample::Index, usize, prop::sample::Index),
}

/// Edits that keep most of a valid input, so parsers get past the first
/// byte: flips, inserted separators, cuts and copies.
pub fn mutations(max: usize) -> impl Strategy<Value = Vec<Mutation>> {
    let special = prop_oneof![
        Just(b'\n'),
        Just(0x1b),
        Just(0x01),
        Just(0x02),
        Just(0x03),
        Just(0xff),
        any::<u8>()
    ];
    let m = prop_oneof![
        4 => (any::<prop::sample::Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        3 => (any::<prop::sample::Index>(), prop::collection::vec(special, 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<prop::sample::Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        1 => (any::<prop::sample::Index>(), 1..200usize, any::<prop::sample::Index>())
            .prop_map(|(a, n, b)| Mutation::Duplicate(a, n, b)),
    ];
    prop::collection::vec(m, 0..max)
}

/// `base` with `muts` applied in order.
pub fn mutate(base: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut v = base.to_vec();
    for m in muts {
        let len = v.len();
        match m {
            Mutation::Flip(i, x) if len > 0 => v[i.index(len)] ^= x,
            Mutation::Insert(i, b) => {
                let at = i.index(len + 1);
                v.splice(at..at, b.iter().copied());
            }
            Mutation::Remove(i, n) if len > 0 => {
                let at = i.index(len);
                let end = (at + n).min(len);
                v.drain(at..end);
            }
            Mutation::Truncate(i) => v.truncate(i.index(len + 1)),
            Mutation::Duplicate(a, n, b) if len > 0 => {
                let at = a.index(len);
                let run: Vec<u8> = v[at..(at + n).min(len)].to_vec();
                let to = b.index(len + 1);
                v.splice(to..to, run);
            }
            _ => {}
        }
    }
    v
}

/// A value of type `ty` that varies with `i` (escape-heavy bytes included).
pub fn sample_value(ty: strata::types::ArchDbType, i: i64) -> strata::types::SampleValue {
    use strata::types::{ArchDbType as T, SampleValue as V};
    let n = (i % 4) as usize + 1;
    match ty {
        T::ScalarString => V::String(format!("s\n{i}\u{1b}")),
        T::ScalarShort => V::Short(i as i16),
        T::ScalarFloat => V::Float(i as f32 * 0.1),
        T::ScalarEnum => V::Enum((i % 5) as i16),
        T::ScalarByte => V::Byte(i as i8),
        T::ScalarInt => V::Int(i as i32 * 10),
        T::ScalarDouble => V::Double(i as f64 * -0.09),
        T::WaveformString => V::VString(vec![format!("w{i}"); n]),
        T::WaveformShort => V::VShort(vec![i as i16; n]),
        T::WaveformFloat => V::VFloat(vec![i as f32; n]),
        T::WaveformEnum => V::VEnum(vec![(i % 3) as i16; n]),
        T::WaveformByte => V::VByte(vec![10, 27, i as u8]),
        T::WaveformInt => V::VInt(vec![i as i32; n]),
        T::WaveformDouble => V::VDouble(vec![i as f64 * 0.5; n]),
        T::V4GenericBytes => V::V4Generic(vec![10, 27, i as u8]),
    }
}

/// A valid PlainPB file: header and `n` samples a second apart from
/// `start`, some with alarms and field values.
pub fn pb_file(ty: strata::types::ArchDbType, pv: &str, start: i64, n: i64) -> Vec<u8> {
    use strata::types::{year_of, ArchiverSample};
    let year = year_of(start);
    let mut out = strata::plainpb::header_line(&strata::pb::PayloadInfo::for_file(ty, pv, year));
    let mut raw = Vec::new();
    for i in 0..n {
        let mut s = ArchiverSample::at(start + i, (i as u32 * 7919) % 1_000_000_000, sample_value(ty, i));
        if i % 3 == 1 {
            s = s.with_alarm(2, 3);
        }
        if i % 5 == 2 {
            s = s.with_field("cnxlostepsecs", "0");
        }
        raw.clear();
        strata::plainpb::encode_sample(&s, year, &mut raw).expect("encodable");
        strata::plainpb::escape_into(&raw, &mut out);
        out.push(b'\n');
    }
    out
}

/// A scratch folder for fuzz files: under `STRATA_FUZZ_DIR`, else on
/// `/dev/shm` (tmpfs: millions of small files without disk I/O) when it
/// exists, else the system temp folder.
pub fn scratch_dir() -> tempfile::TempDir {
    let base = std::env::var_os("STRATA_FUZZ_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| Some(std::path::PathBuf::from("/dev/shm")).filter(|p| p.is_dir()));
    match base {
        Some(b) => tempfile::tempdir_in(b).unwrap_or_else(|_| tempfile::tempdir().expect("temp dir")),
        None => tempfile::tempdir().expect("temp dir"),
    }
}

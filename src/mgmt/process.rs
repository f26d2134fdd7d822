//! Process metrics over time, as the Java appliance's `ProcessMetrics`: a
//! sampler thread reads `/proc` once every [`SAMPLE_SECS`] and keeps the
//! last day of samples in a ring ([`RING`] entries); the management API
//! answers `getProcessMetrics` and `getProcessMetricsDataForAppliance`
//! from it. One process-wide ring: strata is one process.

use std::collections::VecDeque;
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

/// Seconds between samples (Java: one a minute).
pub const SAMPLE_SECS: u64 = 60;
/// Samples kept: one day at one a minute.
pub const RING: usize = 24 * 60;

/// One measurement of this process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// When (Unix seconds).
    pub time_secs: i64,
    /// System load average over one minute (`/proc/loadavg`), as Java's
    /// `systemLoadAverage`.
    pub load_average: f64,
    /// CPU used by this process since the previous sample, in % of one core.
    pub cpu_percent: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// Resident set size in % of physical memory (Java: heap used in % of
    /// the maximum heap).
    pub memory_percent: f64,
    /// Threads of this process.
    pub threads: u64,
    /// Open file descriptors.
    pub open_fds: u64,
}

/// The ring of samples.
pub struct ProcessMetrics {
    ring: Mutex<VecDeque<Sample>>,
    /// CPU seconds used and when, at the previous sample.
    last_cpu: Mutex<Option<(Instant, f64)>>,
    started: SystemTime,
}

impl ProcessMetrics {
    fn new() -> Self {
        ProcessMetrics {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            last_cpu: Mutex::new(None),
            started: SystemTime::now(),
        }
    }

    /// The process-wide ring.
    pub fn global() -> &'static ProcessMetrics {
        static GLOBAL: OnceLock<ProcessMetrics> = OnceLock::new();
        GLOBAL.get_or_init(ProcessMetrics::new)
    }

    /// Measures now and appends the sample (dropping the oldest beyond
    /// [`RING`]).
    pub fn sample_now(&self) -> Sample {
        let stat = read_stat();
        let now = Instant::now();
        let cpu_percent = {
            let mut last = self.last_cpu.lock().unwrap_or_else(|p| p.into_inner());
            let pct = match (*last, stat) {
                (Some((t, cpu)), Some(st)) => {
                    let wall = now.duration_since(t).as_secs_f64();
                    if wall > 0.0 {
                        (st.cpu_secs - cpu).max(0.0) * 100.0 / wall
                    } else {
                        0.0
                    }
                }
                // First sample: the average since the process started.
                (None, Some(st)) if st.age_secs > 0.0 => st.cpu_secs * 100.0 / st.age_secs,
                _ => 0.0,
            };
            if let Some(st) = stat {
                *last = Some((now, st.cpu_secs));
            }
            pct
        };
        let rss_bytes = stat.map_or(0, |s| s.rss_bytes);
        let total = mem_total_bytes();
        let s = Sample {
            time_secs: crate::types::Timestamp::now().secs,
            load_average: load_average(),
            cpu_percent,
            rss_bytes,
            memory_percent: if total > 0 {
                rss_bytes as f64 * 100.0 / total as f64
            } else {
                0.0
            },
            threads: stat.map_or(0, |s| s.threads),
            open_fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64),
        };
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        while ring.len() >= RING {
            ring.pop_front();
        }
        ring.push_back(s);
        s
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.ring
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// Seconds since the ring was created (process start, near enough).
    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().map_or(0, |d| d.as_secs())
    }

    /// When the ring was created (Unix seconds).
    pub fn start_secs(&self) -> i64 {
        self.started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// Takes the first sample at once and starts the sampler thread (once per
/// process; later calls do nothing).
pub fn start_sampler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let m = ProcessMetrics::global();
        m.sample_now();
        let spawned = std::thread::Builder::new()
            .name("strata-procmetrics".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(SAMPLE_SECS));
                m.sample_now();
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "process metrics sampler not started");
        }
    });
}

/// One figure of a sample.
type Figure = fn(&Sample) -> f64;

/// `getProcessMetricsDataForAppliance`: Java's chart series, an array of
/// `{"label": …, "data": [[epoch millis in local time, value], …]}`.
/// `system_load (%)` and `engine_heap (%)` are Java's series (the load
/// average, and the resident set in % of memory); `cpu (%)`, `rss (MB)`,
/// `threads` and `file_descriptors` are strata's.
pub fn chart_json(samples: &[Sample]) -> Value {
    if samples.is_empty() {
        return json!([]);
    }
    let series: [(&str, Figure); 6] = [
        ("system_load (%)", |s| s.load_average),
        ("engine_heap (%)", |s| s.memory_percent),
        ("cpu (%)", |s| s.cpu_percent),
        ("rss (MB)", |s| s.rss_bytes as f64 / (1024.0 * 1024.0)),
        ("threads", |s| s.threads as f64),
        ("file_descriptors", |s| s.open_fds as f64),
    ];
    let out: Vec<Value> = series
        .iter()
        .map(|(label, f)| {
            let data: Vec<Value> = samples
                .iter()
                .map(|s| json!([local_epoch_millis(s.time_secs), round2(f(s))]))
                .collect();
            json!({ "label": label, "data": data })
        })
        .collect();
    Value::Array(out)
}

/// `getProcessMetrics`: Java's report for the `MGMT_` component, with
/// every sample's values as strings (Java's bean encoder), plus strata's
/// CPU, RSS, thread and descriptor figures.
pub fn report_json(m: &ProcessMetrics) -> Value {
    let metrics: Vec<Value> = m
        .samples()
        .iter()
        .map(|s| {
            json!({
                "timeInEpochSeconds": s.time_secs.to_string(),
                "systemLoadAverage": super::jdouble(s.load_average),
                "heapUsedPercent": super::jdouble(s.memory_percent),
                "cpuPercent": super::jdouble(round2(s.cpu_percent)),
                "rssBytes": s.rss_bytes.to_string(),
                "threads": s.threads.to_string(),
                "openFileDescriptors": s.open_fds.to_string(),
            })
        })
        .collect();
    json!({
        "MGMT_uptime": m.uptime_secs(),
        "MGMT_start": super::status_time(m.start_secs()),
        "MGMT_metrics": metrics,
    })
}

fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// Java's chart times: epoch millis shifted by the local zone offset.
fn local_epoch_millis(secs: i64) -> i64 {
    use chrono::{Local, Offset, TimeZone};
    let offset = Local
        .timestamp_opt(secs, 0)
        .single()
        .map_or(0, |d| i64::from(d.offset().fix().local_minus_utc()));
    (secs + offset) * 1000
}

#[derive(Debug, Clone, Copy)]
struct Stat {
    cpu_secs: f64,
    age_secs: f64,
    threads: u64,
    rss_bytes: u64,
}

/// utime + stime, age, threads and RSS from `/proc/self/stat`.
fn read_stat() -> Option<Stat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&text, clock_ticks(), page_size(), uptime_secs())
}

fn parse_stat(text: &str, ticks: f64, page: u64, uptime: Option<f64>) -> Option<Stat> {
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = text.get(text.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is f[n - 3].
    let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let cpu_secs = (num(14)? + num(15)?) as f64 / ticks;
    let start_secs = num(22)? as f64 / ticks;
    Some(Stat {
        cpu_secs,
        age_secs: uptime.map_or(0.0, |u| (u - start_secs).max(0.0)),
        threads: num(20)?,
        rss_bytes: num(24)?.saturating_mul(page),
    })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p).ok().filter(|p| *p > 0).unwrap_or(4096)
}

fn uptime_secs() -> Option<f64> {
    let t = std::fs::read_to_string("/proc/uptime").ok()?;
    t.split_whitespace().next()?.parse().ok()
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn mem_total_bytes() -> u64 {
    let Ok(t) = std::fs::read_to_string("/proc/meminfo") else {
        return 0;
    };
    t.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_with_spaces() {
        let line = "4242 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 17 0 1000 123456 300 \
                    18446744073709551615 1 1 0 0 0";
        let s = parse_stat(line, 100.0, 4096, Some(20.0)).unwrap();
        assert_eq!(s.cpu_secs, 3.0);
        assert_eq!(s.threads, 17);
        assert_eq!(s.rss_bytes, 300 * 4096);
        assert_eq!(s.age_secs, 10.0);
        assert!(parse_stat("garbage", 100.0, 4096, None).is_none());
        assert!(parse_stat("1 (x) S 1", 100.0, 4096, None).is_none());
    }

    #[test]
    fn this_process_is_measured_and_the_ring_is_bounded() {
        let m = ProcessMetrics::new();
        let s = m.sample_now();
        assert!(s.threads >= 1 && s.rss_bytes > 0 && s.open_fds > 0, "{s:?}");
        for _ in 0..RING + 5 {
            m.sample_now();
        }
        assert_eq!(m.samples().len(), RING);
        let chart = chart_json(&m.samples()[..2]);
        assert_eq!(chart[0]["label"], "system_load (%)");
        assert_eq!(chart[1]["label"], "engine_heap (%)");
        assert_eq!(chart[0]["data"].as_array().unwrap().len(), 2);
        assert!(chart[0]["data"][0][0].is_i64());
    }
}

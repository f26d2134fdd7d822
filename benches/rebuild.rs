//! `strata-rebuild-index` throughput on 100,000 small partition files
//! (1,000 PVs × 100 hourly files) on a warm page cache. Prints
//! `bench rebuild_files_per_s <value> files/s`.

use std::time::Instant;

use strata::config::Config;
use strata::index::Index;
use strata::plainpb::{encode_sample, escape_into, header_line, partition_path, pv_key};
use strata::registry::Registry;
use strata::types::{ArchDbType, ArchiverSample, PartitionGranularity, SampleValue};

const Y2024: i64 = 1_704_067_200;

fn main() {
    let dir = match std::env::var_os("STRATA_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("tmp");
    let mut cfg = Config::default();
    cfg.set_data_dir(dir.path());
    let sts = dir.path().join("sts");
    let (pvs, per_pv) = (1000usize, 100i64);
    eprintln!("creating {} files…", pvs as i64 * per_pv);
    std::thread::scope(|s| {
        for half in 0..2 {
            let sts = &sts;
            s.spawn(move || {
                for p in (half..pvs).step_by(2) {
                    let pv = format!("BENCH:RB{:02}:pv{p:04}", p % 50);
                    let key = pv_key(&pv);
                    for h in 0..per_pv {
                        let t = Y2024 + h * 3600;
                        let path = partition_path(sts, &key, PartitionGranularity::Hour, t);
                        if h == 0 {
                            std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
                        }
                        let mut bytes = header_line(&strata::pb::PayloadInfo::for_file(
                            ArchDbType::ScalarDouble,
                            &pv,
                            2024,
                        ));
                        for k in 0..3 {
                            let mut raw = Vec::new();
                            let s = ArchiverSample::at(t + k * 600, 0, SampleValue::Double(k as f64));
                            encode_sample(&s, 2024, &mut raw).expect("encode");
                            escape_into(&raw, &mut bytes);
                            bytes.push(b'\n');
                        }
                        std::fs::write(&path, &bytes).expect("write");
                    }
                }
            });
        }
    });
    let kv = strata::app::open_kv(&cfg.storage).expect("sled");
    let index = Index::open(&kv).expect("index");
    let registry = Registry::open(&kv).expect("registry");
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    // First run: empty index and registry (the files are in the page cache
    // since they were just written).
    let t = Instant::now();
    let scan = strata::rebuild::scan(&cfg.storage, jobs, &|_| {});
    let first =
        strata::rebuild::apply(&cfg.storage, &index, &registry, "appliance0", scan, t).expect("rebuild");
    let fresh = (pvs as f64 * per_pv as f64) / first.elapsed.as_secs_f64();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let scan = strata::rebuild::scan(&cfg.storage, jobs, &|_| {});
        assert_eq!(scan.found.len(), pvs * per_pv as usize);
        let report =
            strata::rebuild::apply(&cfg.storage, &index, &registry, "appliance0", scan, t).expect("rebuild");
        best = best.min(report.elapsed.as_secs_f64());
    }
    println!(
        "bench rebuild_files_per_s {:.0} files/s",
        (pvs as f64 * per_pv as f64) / best
    );
    println!("bench rebuild_fresh_index_files_per_s {fresh:.0} files/s");
}

//! Archiving in a cluster over Channel Access (test IOC on loopback): PVs
//! archived through one member are placed on members by load, archived by
//! their owners and read through any member; with etcd killed the owners
//! keep archiving (their sample counts grow) and serving.
#![cfg(feature = "cluster")]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::cluster::{get, get_json, wait_for, wait_members, Etcd, MemberDir};
use common::ioc::{dbl_meta, free_port, Ioc};
use epics_base_rs::types::EpicsValue;
use serde_json::Value;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn iso(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string()
}

async fn count(base: &str, pv: &str, from: i64) -> usize {
    let (s, v) = get_json(&format!(
        "{base}/retrieval/data/getData.json?pv={pv}&from={}&to={}",
        iso(from),
        iso(now() + 60)
    ))
    .await;
    if s != 200 {
        return 0;
    }
    v[0]["data"].as_array().map(Vec::len).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_through_one_read_through_another_with_etcd_down() {
    let Some(bin) = common::cluster::etcd_bin() else {
        return;
    };
    common::ioc::ca_env();
    let port = free_port();
    let names: Vec<String> = (0..4).map(|i| format!("CA:pv{i}")).collect();
    let ioc = Ioc::start(
        port,
        names
            .iter()
            .map(|n| (n.clone(), EpicsValue::Double(0.0), Some(dbl_meta("V", 2))))
            .collect(),
    );
    let mut etcd = Etcd::start(bin);
    let dirs: Vec<MemberDir> = ["app1", "app2", "app3"]
        .iter()
        .map(|id| MemberDir::new(id, &etcd.endpoint(), "archive"))
        .collect();
    for d in &dirs {
        let text = std::fs::read_to_string(&d.config).unwrap().replace(
            "[engine]\nenabled = false\n",
            &format!(
                "[engine]\nwrite_period = 0.5\ninitial_sampling_secs = 0.5\nca_addr_list = \"127.0.0.1:{port}\"\n"
            ),
        );
        std::fs::write(&d.config, text).unwrap();
    }
    let env: Vec<(&str, &str)> = strata::engine::LOOPBACK_CA_ENV.to_vec();
    let members: Vec<_> = dirs.iter().map(|d| d.start(&env)).collect();
    for m in &members {
        wait_members(&m.base, 3).await;
    }
    let t0 = now() - 5;
    let list = names.join(",");
    let (s, rows) = get_json(&format!("{}/mgmt/bpl/archivePV?pv={list}", members[0].base)).await;
    assert_eq!(s, 200, "{rows}");
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "Archive request submitted"),
        "{rows}"
    );
    let mut v = 1.0;
    let mut post = |ioc: &Ioc| {
        for n in &names {
            ioc.post(n, EpicsValue::Double(v), 0, 0, now(), 0);
        }
        v += 1.0;
    };
    // Samples arrive at the owners and are read through every member.
    for n in &names {
        for m in &members {
            let (b, n2) = (m.base.clone(), n.clone());
            wait_for(&format!("{n} through {b}"), Duration::from_secs(60), || {
                post(&ioc);
                let (b, n2) = (b.clone(), n2.clone());
                async move { count(&b, &n2, t0).await >= 2 }
            })
            .await;
        }
    }
    // Placed by load: spread over the members.
    let mut owners = std::collections::BTreeSet::new();
    for n in &names {
        let (s, t) = get_json(&format!("{}/mgmt/bpl/getPVTypeInfo?pv={n}", members[2].base)).await;
        assert_eq!(s, 200, "{t}");
        let owner: Value = t["applianceIdentity"].clone();
        owners.insert(owner.to_string());
    }
    assert!(owners.len() >= 2, "PVs all on one member: {owners:?}");

    // etcd down: the owners keep archiving, any member keeps serving.
    etcd.kill();
    let before: Vec<usize> = {
        let mut v = Vec::new();
        for n in &names {
            v.push(count(&members[1].base, n, t0).await);
        }
        v
    };
    for (n, b) in names.iter().zip(before) {
        let (base, n2) = (members[1].base.clone(), n.clone());
        wait_for(
            &format!("{n} archived with etcd down"),
            Duration::from_secs(60),
            || {
                post(&ioc);
                let (base, n2) = (base.clone(), n2.clone());
                async move { count(&base, &n2, t0).await > b }
            },
        )
        .await;
    }
    let (s, _, _) = get(&format!("{}/mgmt/bpl/archivePV?pv=CA:other", members[0].base)).await;
    assert_eq!(s, 503);
    for m in members {
        m.kill();
    }
    ioc.stop();
}

//! Faults in a cluster of three members (child processes) over one etcd:
//! the owner killed while another member streams its PV to a client (the
//! client's body fails, never a clean short answer); then requests for its
//! PVs answer 503 naming it, multi-PV answers return the rest and say they
//! are partial; etcd killed: members keep serving from their cache and
//! refuse directory changes with 503; etcd back: changes work again.
#![cfg(feature = "cluster")]

mod common;

use std::time::Duration;

use common::cluster::{get, get_json, post_json, wait_for, wait_members, write_pv, Etcd, MemberDir};
use common::process::ServeProcess;
use serde_json::json;

/// 2024-03-15 09:30:00 UTC.
const T0: i64 = 1_710_495_000;
const FROM: &str = "2024-03-15T00:00:00.000Z";
const TO: &str = "2024-04-15T00:00:00.000Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_down_then_etcd_down() {
    let Some(bin) = common::cluster::etcd_bin() else {
        return;
    };
    let mut etcd = Etcd::start(bin);
    let dirs: Vec<MemberDir> = ["app1", "app2", "app3"]
        .iter()
        .map(|id| MemberDir::new(id, &etcd.endpoint(), "faults"))
        .collect();
    write_pv(&dirs[0].data(), "CF:a", T0, 50, 60, false).await;
    // Large enough (≈ 40 MB of JSON) that the answer cannot sit in socket
    // buffers when the owner dies.
    write_pv(&dirs[1].data(), "CF:big", T0, 600_000, 1, false).await;
    write_pv(&dirs[2].data(), "CF:c", T0, 30, 60, false).await;
    let mut members: Vec<Option<ServeProcess>> = dirs.iter().map(|d| Some(d.start(&[]))).collect();
    let base: Vec<String> = members.iter().map(|m| m.as_ref().unwrap().base.clone()).collect();
    for b in &base {
        wait_members(b, 3).await;
    }

    // The owner dies mid-stream: the proxied body fails.
    let url = format!(
        "{}/retrieval/data/getData.json?pv=CF:big&from={FROM}&to={TO}",
        base[0]
    );
    let mut resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    members[1].take().unwrap().kill();
    let failed = loop {
        match resp.chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(failed, "a stream cut by the owner's death must not end cleanly");

    // Requests for its PVs: 503 naming it.
    let (s, v) = get_json(&url).await;
    assert_eq!(s, 503);
    assert_eq!(v["appliance"], json!("app2"), "{v}");

    // Multi-PV answers: the rest, marked partial.
    let q = format!("/retrieval/data/getDataForPVs.json?pv=CF:a&pv=CF:big&pv=CF:c&from={FROM}&to={TO}");
    let (s, h, got) = get(&format!("{}{q}", base[2])).await;
    assert_eq!(s, 200);
    assert_eq!(h.get("x-strata-partial").unwrap(), "app2");
    assert_eq!(h.get("x-strata-partial-pvs").unwrap(), "CF%3Abig");
    let rest = format!("/retrieval/data/getDataForPVs.json?pv=CF:a&pv=CF:c&from={FROM}&to={TO}");
    let (_, _, want) = get(&format!("{}{rest}", base[0])).await;
    assert!(
        got == want,
        "the partial answer holds exactly the live members' PVs"
    );
    let (s, h, rows) = post_json(
        &format!("{}/mgmt/bpl/getPVStatus", base[0]),
        &json!(["CF:a", "CF:big"]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h.get("x-strata-partial").unwrap(), "app2");
    let (_, direct) = get_json(&format!("{}/mgmt/bpl/getPVStatus?pv=CF:a", base[0])).await;
    assert_eq!(rows[0], direct[0], "{rows}");
    assert_eq!(rows[1]["status"], json!("Appliance Down"), "{rows}");
    let (s, h, _) = get(&format!("{}/mgmt/bpl/getTimeSpanReport", base[0])).await;
    assert_eq!(s, 200);
    assert_eq!(h.get("x-strata-partial").unwrap(), "app2");

    // The dead member leaves the cluster list once its lease runs out, and
    // stays known to getApplianceInfo?id= (as in Java's appliances.xml).
    wait_members(&base[0], 2).await;
    let (s, info) = get_json(&format!("{}/mgmt/bpl/getApplianceInfo?id=app2", base[0])).await;
    assert_eq!(s, 200);
    assert_eq!(info["identity"], json!("app2"));

    // etcd down: reads of every live member's PVs go on from the cache;
    // directory changes are refused.
    etcd.kill();
    for b in [&base[0], &base[2]] {
        for pv in ["CF:a", "CF:c"] {
            let (s, _, _) = get(&format!(
                "{b}/retrieval/data/getData.raw?pv={pv}&from={FROM}&to={TO}"
            ))
            .await;
            assert_eq!(s, 200, "{pv} via {b} with etcd down");
        }
    }
    let (s, v) = get_json(&format!("{}/mgmt/bpl/archivePV?pv=CF:new", base[0])).await;
    assert_eq!(s, 503, "{v}");
    assert!(v["message"].as_str().unwrap().contains("etcd"), "{v}");

    // etcd back: the directory changes again and every member sees it.
    let (_, mut info) = get_json(&format!("{}/mgmt/bpl/getPVTypeInfo?pv=CF:a", base[0])).await;
    info["pvName"] = json!("CF:new");
    info["paused"] = json!("true");
    let put = format!(
        "{}/mgmt/bpl/putPVTypeInfo?pv=CF:new&createnew=true&appliance=app3",
        base[0]
    );
    let (s, _, v) = post_json(&put, &info).await;
    assert_eq!(s, 503, "{v}");
    etcd.restart();
    wait_for(
        "a directory change with etcd back",
        Duration::from_secs(30),
        || {
            let (u, info) = (put.clone(), info.clone());
            async move { post_json(&u, &info).await.0 == 200 }
        },
    )
    .await;
    wait_for("the new PV seen by app1", Duration::from_secs(10), || {
        let u = format!("{}/mgmt/bpl/getPVTypeInfo?pv=CF:new", base[0]);
        async move { get_json(&u).await.0 == 200 }
    })
    .await;
    for m in members.into_iter().flatten() {
        m.kill();
    }
}

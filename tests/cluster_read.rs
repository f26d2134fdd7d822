//! Cluster of three members over one etcd (child processes of the real
//! binary): every member answers for every PV. Reads through a member that
//! does not own the PV equal the single node's answers in every format;
//! getDataForPVs (split by owner, joined in request order), getDataAtTime,
//! the lookups and the reports equal a single node holding all the PVs;
//! getAppliancesInCluster and getApplianceInfo?id= answer as Java's do.
#![cfg(feature = "cluster")]

mod common;

use common::cluster::{get, get_json, post_json, wait_members, write_pv, Etcd, MemberDir};
use common::process::ServeProcess;
use serde_json::{json, Value};

/// 2024-03-15 09:30:00 UTC.
const T0: i64 = 1_710_495_000;
const FROM: &str = "2024-03-15T00:00:00.000Z";
const TO: &str = "2024-03-17T00:00:00.000Z";

/// (member index, PV, samples, paused).
const PVS: [(usize, &str, i64, bool); 5] = [
    (0, "CL:a", 300, false),
    (0, "CL:b", 20, false),
    (1, "CL:c", 150, false),
    (2, "CL:d", 75, false),
    (2, "CL:e", 10, true),
];

/// Drops the fields that name the appliance (a cluster names the owner).
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "instance" | "appliance" | "applianceIdentity"))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        x => x.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_answer_like_one_node() {
    let Some(bin) = common::cluster::etcd_bin() else {
        return;
    };
    let etcd = Etcd::start(bin);
    let dirs: Vec<MemberDir> = ["app1", "app2", "app3"]
        .iter()
        .map(|id| MemberDir::new(id, &etcd.endpoint(), "read"))
        .collect();
    let solo = tempfile::tempdir().unwrap();
    let solo_cfg = solo.path().join("strata.toml");
    std::fs::write(&solo_cfg, "[engine]\nenabled = false\n").unwrap();
    for (i, (m, pv, n, paused)) in PVS.iter().enumerate() {
        let t0 = T0 + i as i64 * 7;
        write_pv(&dirs[*m].data(), pv, t0, *n, 60, *paused).await;
        write_pv(&solo.path().join("data"), pv, t0, *n, 60, *paused).await;
    }
    let members: Vec<ServeProcess> = dirs.iter().map(|d| d.start(&[])).collect();
    let single = ServeProcess::start(
        &solo.path().join("data"),
        &["--config", solo_cfg.to_str().unwrap()],
    );
    for m in &members {
        wait_members(&m.base, 3).await;
    }

    // Membership, as Java answers it.
    let (_, list) = get_json(&format!("{}/mgmt/bpl/getAppliancesInCluster", members[2].base)).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["identity"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["app1", "app2", "app3"]);
    let (_, own) = get_json(&format!("{}/mgmt/bpl/getApplianceInfo", members[1].base)).await;
    let (s, other) = get_json(&format!("{}/mgmt/bpl/getApplianceInfo?id=app2", members[0].base)).await;
    assert_eq!(s, 200);
    assert_eq!(own, other);
    assert_eq!(own["mgmtURL"], json!(format!("{}/mgmt/bpl", members[1].base)));
    let (s, _) = get_json(&format!("{}/mgmt/bpl/getApplianceInfo?id=nope", members[0].base)).await;
    assert_eq!(s, 404);

    // A second process with a live member's identity is refused.
    let other = tempfile::tempdir().unwrap();
    let mut dup = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&dirs[0].config)
        .arg("--data")
        .arg(other.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = dup.wait().unwrap();
    assert!(!status.success(), "two live members with identity app1");
    wait_members(&members[0].base, 3).await;

    // getData in every format through every member equals the single node.
    for (_, pv, _, _) in PVS {
        for fmt in ["json", "raw", "csv", "txt", "qw"] {
            let q = format!("/retrieval/data/getData.{fmt}?pv={pv}&from={FROM}&to={TO}");
            let (s0, _, want) = get(&format!("{}{q}", single.base)).await;
            assert_eq!(s0, 200, "{q}");
            for m in &members {
                let (s, _, got) = get(&format!("{}{q}", m.base)).await;
                assert_eq!(s, 200, "{q} via {}", m.base);
                assert!(got == want, "{q} via {} differs from the single node", m.base);
            }
        }
    }

    // getDataForPVs across owners, in request order, equals the single node.
    let list = "pv=CL:d&pv=CL:a&pv=CL:c&pv=CL:b&pv=CL:e&pv=CL:a";
    for fmt in ["json", "raw", "qw"] {
        let q = format!("/retrieval/data/getDataForPVs.{fmt}?{list}&from={FROM}&to={TO}");
        let (_, _, want) = get(&format!("{}{q}", single.base)).await;
        for m in &members {
            let (s, h, got) = get(&format!("{}{q}", m.base)).await;
            assert_eq!(s, 200);
            assert!(h.get("x-strata-partial-pvs").is_none());
            assert!(got == want, "{q} via {} differs from the single node", m.base);
        }
    }
    // Many runs (owners alternate): requested lazily, same bytes.
    let many: Vec<String> = (0..40)
        .map(|i| format!("pv={}", ["CL:a", "CL:c", "CL:d"][i % 3]))
        .collect();
    for fmt in ["json", "raw"] {
        let q = format!(
            "/retrieval/data/getDataForPVs.{fmt}?{}&from={FROM}&to={TO}",
            many.join("&")
        );
        let (_, _, want) = get(&format!("{}{q}", single.base)).await;
        let (s, _, got) = get(&format!("{}{q}", members[1].base)).await;
        assert_eq!(s, 200);
        assert!(
            got == want,
            "40 alternating PVs ({fmt}) differ from the single node"
        );
    }
    // An unknown PV makes the whole request 404, as on one node.
    let q = format!("/retrieval/data/getDataForPVs.json?pv=CL:a&pv=CL:c&pv=CL:nope&from={FROM}&to={TO}");
    let (s, _, _) = get(&format!("{}{q}", members[0].base)).await;
    let (s0, _, _) = get(&format!("{}{q}", single.base)).await;
    assert_eq!(s, s0);

    // getDataAtTime fans out by owner.
    let at = "/retrieval/data/getDataAtTime?at=2024-03-15T12:00:00.000Z";
    let names = json!(["CL:c", "CL:a", "CL:d", "CL:nope"]);
    let (_, _, want) = post_json(&format!("{}{at}", single.base), &names).await;
    let (s, _, got) = post_json(&format!("{}{at}", members[1].base), &names).await;
    assert_eq!(s, 200);
    assert_eq!(got, want);

    // Lookups and reports equal the single node's.
    let gets = [
        "/mgmt/bpl/getAllPVs",
        "/mgmt/bpl/getMatchingPVs?pv=CL:*",
        "/mgmt/bpl/getMatchingPVs?pv=CL:*&limit=2",
        "/retrieval/bpl/getMatchingPVs?pv=CL:*",
        "/mgmt/bpl/getTypeInfoKeys",
        "/mgmt/bpl/getPausedPVsReport",
        "/mgmt/bpl/getTimeSpanReport",
        "/mgmt/bpl/getRecentlyAddedPVs",
        "/mgmt/bpl/getRecentlyModifiedPVs?limit=3",
        "/mgmt/bpl/getSilentPVsReport",
        "/mgmt/bpl/getPVsByStorageConsumed",
        "/mgmt/bpl/getPVsByStorageConsumed?limit=2",
        "/mgmt/bpl/getEventRateReport",
        "/mgmt/bpl/getNeverConnectedPVs",
        "/mgmt/bpl/getCurrentlyDisconnectedPVs",
        "/mgmt/bpl/getPVStatus?pv=CL:c,CL:a,CL:zz",
        "/mgmt/bpl/getPVStatus?pv=CL:*",
    ];
    for q in gets {
        let (s0, want) = get_json(&format!("{}{q}", single.base)).await;
        for m in &members {
            let (s, got) = get_json(&format!("{}{q}", m.base)).await;
            assert_eq!(s, s0, "{q} via {}", m.base);
            assert_eq!(strip(&got), strip(&want), "{q} via {}", m.base);
        }
    }
    // Answers holding the owner's paths: equal through every member.
    for q in [
        "/mgmt/bpl/getPVTypeInfo?pv=CL:d",
        "/mgmt/bpl/getStoresForPV?pv=CL:c",
        "/mgmt/bpl/exportConfig",
    ] {
        let (s0, want) = get_json(&format!("{}{q}", members[0].base)).await;
        assert_eq!(s0, 200, "{q}");
        for m in &members[1..] {
            let (s, got) = get_json(&format!("{}{q}", m.base)).await;
            assert_eq!((s, &got), (s0, &want), "{q} via {}", m.base);
        }
    }
    let (_, ex) = get_json(&format!("{}/mgmt/bpl/exportConfig", members[1].base)).await;
    let names: Vec<&str> = ex["pvTypeInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["pvName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["CL:a", "CL:b", "CL:c", "CL:d", "CL:e"]);
    let body = json!(["CL:e", "CL:x", "CL:a", "CL:c"]);
    for q in [
        "/mgmt/bpl/archivedPVs",
        "/mgmt/bpl/unarchivedPVs",
        "/mgmt/bpl/getPVStatus",
    ] {
        let (_, _, want) = post_json(&format!("{}{q}", single.base), &body).await;
        let (s, _, got) = post_json(&format!("{}{q}", members[2].base), &body).await;
        assert_eq!(s, 200);
        assert_eq!(strip(&got), strip(&want), "{q}");
    }

    // A mutation goes to the owner: pause CL:c (app2) through app3.
    let (s, _) = get_json(&format!("{}/mgmt/bpl/pauseArchivingPV?pv=CL:c", members[2].base)).await;
    assert_eq!(s, 200);
    let (_, st) = get_json(&format!("{}/mgmt/bpl/getPVStatus?pv=CL:c", members[1].base)).await;
    assert_eq!(st[0]["status"], json!("Paused"), "{st}");

    for m in members {
        m.stop();
    }
    single.stop();
}

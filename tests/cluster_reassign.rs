//! Moving a paused PV between members (`reassignAppliance`, `reshardPV`):
//! type info and samples end up on the target, the source drops its copy,
//! reads through a third member are unchanged. The target killed during
//! the move (failpoints before and after the ownership switch) and
//! restarted: the PV is complete on exactly the member the directory names.
#![cfg(feature = "cluster")]

mod common;

use std::time::Duration;

use common::cluster::{get, get_json, wait_for, wait_members, write_pv, Etcd, MemberDir};
use common::process::ServeProcess;
use serde_json::{json, Value};

/// 2024-03-15 09:30:00 UTC.
const T0: i64 = 1_710_495_000;
const RANGE: &str = "from=2024-03-01T00:00:00.000Z&to=2024-05-01T00:00:00.000Z";

async fn data(base: &str, pv: &str) -> Vec<u8> {
    let (s, _, b) = get(&format!("{base}/retrieval/data/getData.json?pv={pv}&{RANGE}")).await;
    assert_eq!(s, 200, "{pv} via {base}");
    b
}

async fn local_pvs(base: &str) -> Vec<String> {
    let (_, v) = get_json(&format!("{base}/mgmt/bpl/getPVsForThisAppliance")).await;
    serde_json::from_value(v).unwrap()
}

async fn owner(base: &str, pv: &str) -> Value {
    let (s, t) = get_json(&format!("{base}/mgmt/bpl/getPVTypeInfo?pv={pv}")).await;
    assert_eq!(s, 200, "{t}");
    t["applianceIdentity"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassign_moves_data_and_survives_kills() {
    let Some(bin) = common::cluster::etcd_bin() else {
        return;
    };
    let etcd = Etcd::start(bin);
    let dirs: Vec<MemberDir> = ["app1", "app2", "app3"]
        .iter()
        .map(|id| MemberDir::new(id, &etcd.endpoint(), "move"))
        .collect();
    write_pv(&dirs[0].data(), "RA:x", T0, 5_000, 10, true).await;
    write_pv(&dirs[0].data(), "RA:y", T0, 3_000, 60, true).await;
    write_pv(&dirs[0].data(), "RA:live", T0, 10, 60, false).await;
    let app1 = dirs[0].start(&[]);
    let mut app2 = dirs[1].start(&[]);
    let app3 = dirs[2].start(&[]);
    for b in [&app1.base, &app2.base, &app3.base] {
        wait_members(b, 3).await;
    }
    let before_x = data(&app3.base, "RA:x").await;
    let before_y = data(&app3.base, "RA:y").await;

    // A live PV is refused; a paused one moves.
    let (s, _, _) = get(&format!(
        "{}/mgmt/bpl/reassignAppliance?pv=RA:live&appliance=app2",
        app3.base
    ))
    .await;
    assert_eq!(s, 400);
    let (s, v) = get_json(&format!(
        "{}/mgmt/bpl/reassignAppliance?pv=RA:x&appliance=app2",
        app3.base
    ))
    .await;
    assert_eq!((s, &v), (200, &json!({"RA:x": "Success"})));
    assert_eq!(owner(&app1.base, "RA:x").await, json!("app2"));
    assert_eq!(data(&app3.base, "RA:x").await, before_x);
    assert_eq!(data(&app2.base, "RA:x").await, before_x);
    assert!(!local_pvs(&app1.base).await.contains(&"RA:x".to_string()));
    assert!(local_pvs(&app2.base).await.contains(&"RA:x".to_string()));

    // Killed before the switch (at each step): the PV stays complete on app1.
    let restart = |app: ServeProcess, env: &[(&str, &str)]| {
        app.kill();
        dirs[1].start(env)
    };
    for step in ["move:after_prepare", "move:mid_copy", "move:after_copy"] {
        app2 = restart(app2, &[("STRATA_FAILPOINT", step)]);
        wait_members(&app3.base, 3).await;
        let (s, _, _) = get(&format!(
            "{}/mgmt/bpl/reassignAppliance?pv=RA:y&appliance=app2",
            app3.base
        ))
        .await;
        assert_ne!(s, 200, "{step}");
        app2 = restart(app2, &[]);
        wait_members(&app3.base, 3).await;
        wait_for("app2 dropped its partial copy", Duration::from_secs(20), || {
            let b = app2.base.clone();
            async move { !local_pvs(&b).await.contains(&"RA:y".to_string()) }
        })
        .await;
        assert!(
            local_pvs(&app1.base).await.contains(&"RA:y".to_string()),
            "{step}"
        );
        assert_eq!(data(&app3.base, "RA:y").await, before_y, "{step}");
    }

    // Killed after the switch: the PV is complete on app2, app1's copy goes.
    app2 = restart(app2, &[("STRATA_FAILPOINT", "move:after_switch")]);
    wait_members(&app3.base, 3).await;
    let (s, _, _) = get(&format!(
        "{}/mgmt/bpl/reshardPV?pv=RA:y&appliance=app2",
        app3.base
    ))
    .await;
    assert_ne!(s, 200);
    app2 = restart(app2, &[]);
    wait_members(&app3.base, 3).await;
    wait_for("app1 dropped the moved PV", Duration::from_secs(20), || {
        let b = app1.base.clone();
        async move { !local_pvs(&b).await.contains(&"RA:y".to_string()) }
    })
    .await;
    assert_eq!(owner(&app3.base, "RA:y").await, json!("app2"));
    assert_eq!(data(&app3.base, "RA:y").await, before_y);
    assert_eq!(data(&app1.base, "RA:y").await, before_y);

    for m in [app1, app2, app3] {
        m.stop();
    }
}

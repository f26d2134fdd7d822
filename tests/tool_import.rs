//! `strata-import`: Java exportConfig JSON, getPVTypeInfo JSON, alias lists
//! and MySQL table dumps (CSV and TSV) into the registry, with store URLs
//! mapped to strata's tiers and unmappable ones reported.

mod common;

use common::process::run_tool;
use strata::index::SledKv;
use strata::registry::Registry;

const IMPORT: &str = env!("CARGO_BIN_EXE_strata-import");

fn java_info(pv: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::testdata().join("java/PVTypeInfoPrototype.json")).unwrap(),
    )
    .unwrap();
    v["pvName"] = pv.into();
    v
}

#[test]
fn imports_java_json_tables_and_reports_unmapped_stores() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // exportConfig-style JSON with an alias; one PV also has a blackhole store.
    let mut a = java_info("IMP:json:a");
    a["dataStores"]
        .as_array_mut()
        .unwrap()
        .push("blackhole://localhost?name=XLTS".into());
    let export = serde_json::json!({
        "pvTypeInfos": [a, java_info("IMP:json:b")],
        "aliases": [{"aliasName": "IMP:alias", "srcPVName": "IMP:json:a"}],
    });
    let f1 = dir.path().join("export.json");
    std::fs::write(&f1, serde_json::to_string_pretty(&export).unwrap()).unwrap();
    // A single getPVTypeInfo answer.
    let f2 = dir.path().join("one.json");
    std::fs::write(&f2, java_info("IMP:single").to_string()).unwrap();
    // MySQL `PVTypeInfo` table as CSV (quoted JSON) and TSV (mysql -B escaping).
    let json_c = java_info("IMP:csv").to_string();
    let f3 = dir.path().join("pvtypeinfo.csv");
    std::fs::write(
        &f3,
        format!(
            "pvName,typeInfoJSON,last_modified\nIMP:csv,\"{}\",2024-01-01\n",
            json_c.replace('"', "\"\"")
        ),
    )
    .unwrap();
    let json_t = java_info("IMP:tsv").to_string().replace('\\', "\\\\");
    let f4 = dir.path().join("pvtypeinfo.tsv");
    std::fs::write(&f4, format!("pvName\ttypeInfoJSON\nIMP:tsv\t{json_t}\n")).unwrap();
    // MySQL `PVAliases` table.
    let f5 = dir.path().join("aliases.tsv");
    std::fs::write(&f5, "pvName\trealName\nIMP:alias2\tIMP:csv\n").unwrap();

    let args = |extra: &[&str]| {
        let mut v = vec!["--data", data.to_str().unwrap()];
        v.extend_from_slice(extra);
        for f in [&f1, &f2, &f3, &f4, &f5] {
            v.push(f.to_str().unwrap());
        }
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let dry: Vec<String> = args(&["--dry-run"]);
    let (code, out, err) = run_tool(IMPORT, &dry.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("dry run: imported 5 PVTypeInfos and 2 aliases"),
        "{out}"
    );
    assert!(!data.join("index").exists());
    let real: Vec<String> = args(&[]);
    let (code, out, err) = run_tool(IMPORT, &real.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("unmapped:") && l.contains("blackhole://")),
        "{out}"
    );
    assert!(
        out.contains("imported 5 PVTypeInfos and 2 aliases; 1 store URLs not mapped"),
        "{out}"
    );

    let kv = SledKv::open(&data.join("index")).unwrap();
    let reg = Registry::open(&kv).unwrap();
    assert_eq!(
        reg.names(),
        vec!["IMP:csv", "IMP:json:a", "IMP:json:b", "IMP:single", "IMP:tsv"]
    );
    let t = reg.get("IMP:tsv").unwrap().unwrap();
    assert_eq!(t.computed_event_rate, 0.016666668);
    assert_eq!(t.archive_fields.len(), 6);
    // Java's ${ARCHAPPL_…} folders became strata's tiers.
    assert_eq!(t.data_stores.len(), 3);
    assert!(
        t.data_stores[0].starts_with("pb://localhost?name=STS&rootFolder="),
        "{:?}",
        t.data_stores
    );
    assert!(t.data_stores[0].contains(data.join("sts").to_str().unwrap()));
    assert_eq!(reg.get("IMP:json:a").unwrap().unwrap().data_stores.len(), 3);
    assert_eq!(reg.resolve("IMP:alias"), "IMP:json:a");
    assert_eq!(reg.resolve("IMP:alias2"), "IMP:csv");
}

#[test]
fn bad_input_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    std::fs::write(&f, r#"[{"pvName": "X", "DBRType": "DBR_NOPE"}]"#).unwrap();
    let data = dir.path().join("d");
    let (code, out, _) = run_tool(IMPORT, &["--data", data.to_str().unwrap(), f.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error:") && out.contains("DBRType"), "{out}");
    let (code, _, err) = run_tool(IMPORT, &["--data", data.to_str().unwrap(), "/no/such/file.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such/file.json"), "{err}");
}

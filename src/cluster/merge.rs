//! Pure joins of the answers several members give to one request, so that
//! a cluster answers what one node holding all PVs would: name lists
//! sorted and cut to the limit, reports re-sorted by the single node's key
//! (ties by PV name, as the single node's stable sort over sorted names
//! gives) and cut to the limit, per-PV rows put back in request order.

use serde_json::{Map, Value};

/// How a report's rows are ordered on a single node.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Order {
    /// By `pvName`.
    Name,
    /// Numeric field (a string holding a number), highest first.
    NumDesc(&'static str),
    /// Status time field (`Mon/dd/yyyy HH:MM:SS +00:00`), newest first.
    TimeDesc(&'static str),
    /// Status time field, oldest first (`Never` first).
    TimeAsc(&'static str),
}

/// The order and default limit of a cluster-wide report (`None`: not a
/// report this module merges). A default limit of `None` means all rows.
fn report(action: &str) -> Option<(Order, Option<usize>)> {
    Some(match action {
        "getPausedPVsReport" | "getTimeSpanReport" => (Order::Name, None),
        "getNeverConnectedPVs" | "getCurrentlyDisconnectedPVs" => (Order::Name, None),
        "getEventRateReport" => (Order::NumDesc("eventRate"), Some(1000)),
        "getStorageRateReport" => (Order::NumDesc("storageRate_KBperHour"), Some(1000)),
        "getLostConnectionsReport" => (Order::NumDesc("lostConnections"), Some(1000)),
        "getRecentlyAddedPVs" => (Order::TimeDesc("creationTime"), Some(100)),
        "getRecentlyModifiedPVs" => (Order::TimeDesc("modificationTime"), Some(100)),
        "getSilentPVsReport" => (Order::TimeAsc("lastKnownEvent"), Some(1000)),
        "getPVsByStorageConsumed" => (Order::NumDesc("storageConsumed"), Some(100)),
        _ => return None,
    })
}

/// Whether `action` is a report merged by [`merge_report`].
pub fn is_report(action: &str) -> bool {
    report(action).is_some()
}

/// Actions whose limit defaults differ from "all" and that take `limit`.
fn limit_of(action: &str, given: Option<&str>) -> Option<usize> {
    let default = report(action).and_then(|(_, l)| l);
    match given.map(str::trim).filter(|s| !s.is_empty()) {
        Some(v) => match v.parse::<i64>() {
            Ok(n) => usize::try_from(n).ok(),
            Err(_) => default,
        },
        None => default,
    }
}

fn name(v: &Value) -> &str {
    v.get("pvName").and_then(Value::as_str).unwrap_or("")
}

fn num(v: &Value, f: &str) -> f64 {
    match v.get(f) {
        Some(Value::String(s)) => s.replace(',', "").parse().unwrap_or(0.0),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn time(v: &Value, f: &str) -> i64 {
    v.get(f)
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_str(s, "%b/%d/%Y %H:%M:%S %:z").ok())
        .map(|d| d.timestamp())
        .unwrap_or(0)
}

/// Joins the members' rows of a report (each member answered with the same
/// `limit`): sorted as one node sorts them, cut to `limit`.
pub fn merge_report(action: &str, limit: Option<&str>, parts: Vec<Vec<Value>>) -> Vec<Value> {
    let mut rows: Vec<Value> = parts.into_iter().flatten().collect();
    let Some((order, _)) = report(action) else {
        return rows;
    };
    rows.sort_by(|a, b| {
        let by = match order {
            Order::Name => std::cmp::Ordering::Equal,
            Order::NumDesc(f) => num(b, f).total_cmp(&num(a, f)),
            Order::TimeDesc(f) => time(b, f).cmp(&time(a, f)),
            Order::TimeAsc(f) => time(a, f).cmp(&time(b, f)),
        };
        by.then_with(|| name(a).cmp(name(b)))
    });
    if let Some(l) = limit_of(action, limit) {
        rows.truncate(l);
    }
    rows
}

/// Joins sorted name lists (getAllPVs, getMatchingPVs, …): sorted, without
/// duplicates, cut to `limit`.
pub fn merge_names(parts: Vec<Vec<String>>, limit: Option<usize>) -> Vec<String> {
    let mut all: Vec<String> = parts.into_iter().flatten().collect();
    all.sort();
    all.dedup();
    if let Some(l) = limit {
        all.truncate(l);
    }
    all
}

/// Puts per-group answers back in request order: `groups[g]` lists the
/// request positions group `g` asked for, `answers[g]` its rows in that
/// order (`None`: the group's member did not answer, `missing(pos)` makes
/// its row).
pub fn interleave(
    len: usize,
    groups: &[Vec<usize>],
    answers: Vec<Option<Vec<Value>>>,
    missing: impl Fn(usize) -> Value,
) -> Vec<Value> {
    let mut out: Vec<Option<Value>> = vec![None; len];
    for (g, ans) in groups.iter().zip(answers) {
        match ans {
            Some(rows) if rows.len() == g.len() => {
                for (&pos, row) in g.iter().zip(rows) {
                    out[pos] = Some(row);
                }
            }
            _ => {
                for &pos in g {
                    out[pos] = Some(missing(pos));
                }
            }
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, v)| v.unwrap_or_else(|| missing(i)))
        .collect()
}

/// Joins objects keyed by PV name (getDataAtTime) in the order of `names`.
pub fn merge_objects(names: &[String], parts: Vec<Map<String, Value>>) -> Map<String, Value> {
    let mut all = Map::new();
    for p in parts {
        all.extend(p);
    }
    let mut out = Map::new();
    for n in names {
        if let Some(v) = all.remove(n) {
            out.insert(n.clone(), v);
        }
    }
    out.extend(all);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(n: &str, rate: &str) -> Value {
        json!({"pvName": n, "eventRate": rate})
    }

    #[test]
    fn reports_sort_like_one_node_and_cut_to_the_limit() {
        let a = vec![row("b", "5.0"), row("a", "1.0")];
        let b = vec![row("c", "5.0"), row("d", "0.5")];
        let m = merge_report("getEventRateReport", Some("3"), vec![a, b]);
        let names: Vec<&str> = m.iter().map(name).collect();
        assert_eq!(names, ["b", "c", "a"]);
        let p = merge_report(
            "getPausedPVsReport",
            None,
            vec![vec![json!({"pvName": "z"})], vec![json!({"pvName": "m"})]],
        );
        assert_eq!(p.iter().map(name).collect::<Vec<_>>(), ["m", "z"]);
    }

    #[test]
    fn times_sort_by_instant_not_text() {
        let r = |n: &str, t: &str| json!({"pvName": n, "creationTime": t});
        let m = merge_report(
            "getRecentlyAddedPVs",
            None,
            vec![
                vec![r("a", "Dec/01/2025 00:00:00 +00:00")],
                vec![r("b", "Jan/01/2026 00:00:00 +00:00")],
            ],
        );
        assert_eq!(m.iter().map(name).collect::<Vec<_>>(), ["b", "a"]);
    }

    #[test]
    fn interleave_restores_request_order_and_fills_missing() {
        let groups = vec![vec![0, 2], vec![1]];
        let out = interleave(3, &groups, vec![Some(vec![json!(0), json!(2)]), None], |i| {
            json!(format!("down {i}"))
        });
        assert_eq!(out, vec![json!(0), json!("down 1"), json!(2)]);
    }

    #[test]
    fn names_merge_sorted_unique_limited() {
        let m = merge_names(
            vec![vec!["b".into(), "c".into()], vec!["a".into(), "b".into()]],
            Some(2),
        );
        assert_eq!(m, ["a", "b"]);
    }
}

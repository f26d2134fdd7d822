//! `/mgmt/bpl/*`: the management actions (Java's names and parameters).

use super::Kind::{Bool, Integer, Number, OneOf, Text};
use super::{query, Answer, Body, Handler, Param, Route};

/// `GET /mgmt/bpl/<name>` answering JSON; the operationId is the name.
macro_rules! action {
    ($name:literal, $summary:literal $(,)?) => {
        Route::get(concat!("/mgmt/bpl/", $name), $name, Handler::Mgmt, $summary)
    };
}

const PV: Param = query(
    "pv",
    Text,
    "PV name; a comma list (and, where noted, globs with * and ?) names several",
);
const PV_ONE: Param = query("pv", Text, "PV name (or alias)").required();
const PV_OPT: Param = query("pv", Text, "PV name; all PVs when left out");
const GLOB: Param = query(
    "pv",
    Text,
    "glob(s) with * and ?, comma separated; all PVs when left out",
);
const REGEX: Param = query(
    "regex",
    Text,
    "a regular expression over the whole name (wins over pv)",
);
const LIMIT: Param = query("limit", Integer, "most rows; a negative value means all");
const APPLIANCE: Param = query(
    "appliance",
    Text,
    "appliance identity; this appliance when left out",
);
const PERIOD: Param = query("samplingperiod", Number, "sampling period in seconds");
const METHOD: Param = query("samplingmethod", OneOf(&["SCAN", "MONITOR"]), "sampling method");
const POLICY: Param = query(
    "policy",
    Text,
    "policy name (getPolicyList); the policy rules choose when left out",
);
const ALIAS: Param = query("aliasname", Text, "the alias name").required();

const MATCHING: &[Param] = &[GLOB, REGEX, LIMIT];
const LIMITED: &[Param] = &[LIMIT];

/// The management actions, in the order of the README's table.
pub const MGMT: &[Route] = &[
    // Life cycle.
    action!("archivePV", "Archive PVs (one per pv, or a body list)")
        .params(&[
            PV,
            PERIOD,
            METHOD,
            POLICY,
            query("controllingPV", Text, "PV whose value enables archiving"),
        ])
        .get_or_post(Body::ArchiveList)
        .mutating(),
    action!("pauseArchivingPV", "Pause archiving (names or globs)")
        .params(&[PV])
        .get_or_post(Body::PvList)
        .mutating(),
    action!(
        "resumeArchivingPV",
        "Resume archiving of paused PVs (names or globs)"
    )
    .params(&[PV])
    .get_or_post(Body::PvList)
    .mutating(),
    action!("deletePV", "Delete paused PVs (names or globs)")
        .params(&[PV, query("deleteData", Bool, "also delete the data files")])
        .get_or_post(Body::PvList)
        .mutating(),
    action!(
        "abortArchivingPV",
        "Abort an archive request still waiting for its PV"
    )
    .params(&[PV_ONE])
    .mutating(),
    action!(
        "consolidateDataForPV",
        "Move a paused PV's data along its store chain up to a store, now"
    )
    .params(&[
        PV_ONE,
        query(
            "storage",
            Text,
            "name of the store to consolidate into (e.g. LTS)",
        )
        .required(),
        query("date", Text, "consolidate partitions before this ISO 8601 time"),
    ])
    .mutating(),
    action!(
        "changeStore",
        "Move a paused PV's data in one store into a new store definition"
    )
    .params(&[
        PV_ONE,
        query("storage", Text, "name of the store to replace (e.g. MTS)").required(),
        query(
            "newbackend",
            Text,
            "the new store URL (pb://…, a configured tier, or blackhole://)",
        )
        .required(),
    ])
    .mutating(),
    action!(
        "modifyStoreURLForPV",
        "Replace one store URL of a paused PV (no data moves)"
    )
    .params(&[
        PV_ONE,
        query("storage", Text, "name of the store to replace (e.g. MTS)").required(),
        query("plugin_url", Text, "the new store URL").required(),
    ])
    .mutating(),
    action!("getAllNamedFlags", "Every named flag with its value"),
    action!("getNamedFlag", "The value of a named flag")
        .params(&[query("name", Text, "the flag's name").required()]),
    action!("setNamedFlag", "Set a named flag (ETL stages read them)")
        .params(&[
            query("name", Text, "the flag's name").required(),
            query("value", Text, "true or false").required(),
        ])
        .mutating(),
    action!("renamePV", "Rename a paused PV, data and record")
        .params(&[PV_ONE, query("newname", Text, "the new name").required()])
        .mutating(),
    action!(
        "changeArchivalParameters",
        "Change the sampling period and method"
    )
    .params(&[PV_ONE, PERIOD.required(), METHOD])
    .mutating(),
    action!(
        "changeTypeForPV",
        "Convert a paused PV's stored data to another DBR type"
    )
    .params(&[
        PV_ONE,
        query("newtype", Text, "the new type, e.g. DBR_SCALAR_DOUBLE").required(),
    ])
    .mutating(),
    action!("modifyMetaFields", "Add, remove or clear archived extra fields")
        .params(&[
            PV_ONE,
            query("command", Text, "add,F1,F2 | remove,F1 | clear")
                .required()
                .repeated(),
        ])
        .mutating(),
    action!("applyPolicy", "Re-apply the policy rules to archived PVs")
        .params(&[PV, POLICY])
        .get_or_post(Body::PvList)
        .mutating(),
    // Lookups.
    action!("getAllPVs", "Names of archived PVs (and aliases)").params(MATCHING),
    action!("getMatchingPVs", "Names of archived PVs (and aliases)").params(MATCHING),
    action!(
        "getMatchingPVsForThisAppliance",
        "Names of archived PVs (and aliases)"
    )
    .params(MATCHING),
    action!("getPVsForThisAppliance", "Names of every archived PV"),
    action!("getTypeInfoKeys", "Names of every PVTypeInfo"),
    action!("getPVStatus", "Archiving status of PVs (names or globs)")
        .params(&[PV])
        .get_or_post(Body::PvList),
    action!("getPVTypeInfo", "The PVTypeInfo of a PV").params(&[PV_ONE]),
    action!("putPVTypeInfo", "Store a PVTypeInfo")
        .params(&[
            PV_ONE,
            query("override", Bool, "replace an existing PVTypeInfo"),
            query("createnew", Bool, "create a new (paused) PV"),
        ])
        .post(Body::TypeInfo)
        .mutating(),
    action!("getStoresForPV", "The stores of a PV")
        .params(&[PV_ONE, query("counts", Bool, "add files and bytes per store")]),
    action!("archivedPVs", "Which of the listed PVs are archived").post(Body::PvList),
    action!("unarchivedPVs", "Which of the listed PVs are not archived").post(Body::PvList),
    action!("archivedPVsNotInList", "Archived PVs missing from the list").post(Body::PvList),
    action!("getPVDetails", "Name/value details of a PV").params(&[PV_ONE]),
    // Aliases.
    action!("addAlias", "Add an alias name of a PV")
        .params(&[PV_ONE, ALIAS])
        .mutating(),
    action!("removeAlias", "Remove an alias name of a PV")
        .params(&[PV_ONE, ALIAS])
        .mutating(),
    action!("getAllAliases", "Every alias with its PV"),
    // Appliance.
    action!("getApplianceInfo", "This appliance's identity and URLs").params(&[query(
        "id",
        Text,
        "appliance identity; this appliance when left out",
    )]),
    action!(
        "getAppliancesInCluster",
        "The appliances of the cluster (this one)"
    ),
    action!("getApplianceMetrics", "Status, counts and rates"),
    action!("getApplianceMetricsForAppliance", "Metrics as name/value rows").params(&[APPLIANCE]),
    action!(
        "getProcessMetricsDataForAppliance",
        "Process metrics over the last day (chart series)",
    )
    .params(&[query("appliance", Text, "appliance identity").required()]),
    action!("getProcessMetrics", "Current process metrics"),
    action!("getStorageMetrics", "Files, bytes and free space per tier").params(&[APPLIANCE]),
    action!(
        "getStorageMetricsForAppliance",
        "Files, bytes and free space per tier"
    )
    .params(&[APPLIANCE]),
    action!("getVersion", "The server's version"),
    action!("getVersions", "Versions of the server's parts"),
    action!("getPolicyList", "Policy names and descriptions"),
    action!("getPolicyText", "The policy file").answers(Answer::Media("text/plain")),
    // Reports.
    action!("getPausedPVsReport", "Paused PVs").params(LIMITED),
    action!("getNeverConnectedPVs", "PVs never connected"),
    action!("getCurrentlyDisconnectedPVs", "PVs disconnected now"),
    action!("getEventRateReport", "PVs by event rate").params(LIMITED),
    action!("getStorageRateReport", "PVs by storage rate").params(LIMITED),
    action!("getRecentlyAddedPVs", "PVs added last").params(LIMITED),
    action!("getRecentlyModifiedPVs", "PVs modified last").params(LIMITED),
    action!("getLostConnectionsReport", "PVs by lost connections").params(LIMITED),
    action!("getSilentPVsReport", "PVs by time since their last event").params(LIMITED),
    action!("getTimeSpanReport", "First and last sample of each PV").params(LIMITED),
    action!("getPVsByStorageConsumed", "PVs by bytes stored").params(LIMITED),
    action!(
        "getPVsByDroppedEventsTimestamp",
        "PVs by events dropped for bad timestamps"
    )
    .params(LIMITED),
    action!(
        "getPVsByDroppedEventsBuffer",
        "PVs by events dropped for a full buffer"
    )
    .params(LIMITED),
    action!(
        "getPVsByDroppedEventsTypeChange",
        "PVs by events dropped for a type change"
    )
    .params(LIMITED),
    action!(
        "getSlowChangingPVsWithDroppedEvents",
        "Slowly changing PVs that dropped events"
    )
    .params(LIMITED),
    action!("getArchivedWaveforms", "Archived PVs with more than one element"),
    // Bulk.
    action!("exportConfig", "Every PVTypeInfo and alias"),
    action!("exportConfigForAppliance", "Every PVTypeInfo and alias"),
    action!("importConfig", "Import an exported configuration")
        .post(Body::Config)
        .mutating(),
    action!("importConfigForAppliance", "Import an exported configuration")
        .post(Body::Config)
        .mutating(),
    // Repair.
    action!("reconcile", "Compare the index with the files")
        .params(&[PV_OPT])
        .mutating(),
];

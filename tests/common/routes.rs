//! Every route of the HTTP API with the query parameters it reads and
//! whether it reads a body, for the robustness and fuzz tests.

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// Path (no query).
    pub path: &'static str,
    /// Query parameters the handler reads.
    pub params: &'static [&'static str],
    /// The handler reads the request body (POST).
    pub body: bool,
}

const DATA: &[&str] = &[
    "pv",
    "from",
    "to",
    "pp",
    "timeranges",
    "usereduced",
    "fetchLatestMetadata",
    "donotchunk",
];

const fn r(path: &'static str, params: &'static [&'static str], body: bool) -> Route {
    Route { path, params, body }
}

/// Retrieval routes.
pub const RETRIEVAL: &[Route] = &[
    r("/retrieval/ping", &[], false),
    r("/retrieval/data/getData.json", DATA, false),
    r("/retrieval/data/getData.raw", DATA, false),
    r("/retrieval/data/getData.csv", DATA, false),
    r("/retrieval/data/getData.txt", DATA, false),
    r("/retrieval/data/getData.qw", DATA, false),
    r("/retrieval/data/getDataForPVs.json", DATA, true),
    r("/retrieval/data/getDataForPVs.raw", DATA, true),
    r("/retrieval/data/getDataForPVs.qw", DATA, true),
    r("/retrieval/data/getDataAtTime", &["at"], true),
    r("/retrieval/data/getDataAtTimeForAppliance", &["at"], true),
    r("/retrieval/bpl/getMatchingPVs", &["pv", "regex", "limit"], false),
    r("/retrieval/bpl/searchForPVsRegex", &["regex"], false),
    r("/retrieval/bpl/areWeArchivingPV", &["pv"], false),
    r("/retrieval/bpl/getMetadata", &["pv"], false),
    r("/retrieval/bpl/getVersion", &[], false),
    r("/retrieval/bpl/getPVDetails", &["pv"], false),
    r("/retrieval/bpl/getApplianceMetrics", &[], false),
    r("/retrieval/bpl/getApplianceMetricsForAppliance", &[], false),
    r("/retrieval/bpl/filterArchivedPVs", &[], true),
];

const ARCHIVE: &[&str] = &[
    "pv",
    "samplingperiod",
    "samplingmethod",
    "policy",
    "controllingPV",
];

/// Management routes (`/mgmt/bpl/<action>`).
pub const MGMT: &[Route] = &[
    r("/mgmt/bpl/archivePV", ARCHIVE, true),
    r("/mgmt/bpl/pauseArchivingPV", &["pv"], true),
    r("/mgmt/bpl/resumeArchivingPV", &["pv"], true),
    r("/mgmt/bpl/deletePV", &["pv", "deleteData"], true),
    r("/mgmt/bpl/abortArchivingPV", &["pv"], false),
    r(
        "/mgmt/bpl/consolidateDataForPV",
        &["pv", "storage", "date"],
        false,
    ),
    r("/mgmt/bpl/changeStore", &["pv", "storage", "newbackend"], false),
    r(
        "/mgmt/bpl/modifyStoreURLForPV",
        &["pv", "storage", "plugin_url"],
        false,
    ),
    r("/mgmt/bpl/getAllNamedFlags", &[], false),
    r("/mgmt/bpl/getNamedFlag", &["name"], false),
    r("/mgmt/bpl/setNamedFlag", &["name", "value"], false),
    r("/mgmt/bpl/renamePV", &["pv", "newname"], false),
    r(
        "/mgmt/bpl/changeArchivalParameters",
        &["pv", "samplingperiod", "samplingmethod"],
        false,
    ),
    r("/mgmt/bpl/modifyMetaFields", &["pv", "command"], false),
    r("/mgmt/bpl/applyPolicy", &["pv", "policy"], true),
    r("/mgmt/bpl/getAllPVs", &["pv", "regex", "limit"], false),
    r("/mgmt/bpl/getMatchingPVs", &["pv", "regex", "limit"], false),
    r(
        "/mgmt/bpl/getMatchingPVsForThisAppliance",
        &["pv", "regex", "limit"],
        false,
    ),
    r("/mgmt/bpl/getPVsForThisAppliance", &[], false),
    r("/mgmt/bpl/getTypeInfoKeys", &[], false),
    r("/mgmt/bpl/getPVStatus", &["pv"], true),
    r("/mgmt/bpl/getPVTypeInfo", &["pv"], false),
    r("/mgmt/bpl/putPVTypeInfo", &["pv", "override", "createnew"], true),
    r("/mgmt/bpl/getStoresForPV", &["pv", "counts"], false),
    r("/mgmt/bpl/archivedPVs", &[], true),
    r("/mgmt/bpl/unarchivedPVs", &[], true),
    r("/mgmt/bpl/archivedPVsNotInList", &[], true),
    r("/mgmt/bpl/getPVDetails", &["pv"], false),
    r("/mgmt/bpl/addAlias", &["pv", "aliasname"], false),
    r("/mgmt/bpl/removeAlias", &["pv", "aliasname"], false),
    r("/mgmt/bpl/getAllAliases", &[], false),
    r("/mgmt/bpl/getApplianceInfo", &["id"], false),
    r("/mgmt/bpl/getAppliancesInCluster", &[], false),
    r("/mgmt/bpl/getApplianceMetrics", &[], false),
    r("/mgmt/bpl/getApplianceMetricsForAppliance", &["appliance"], false),
    r(
        "/mgmt/bpl/getProcessMetricsDataForAppliance",
        &["appliance"],
        false,
    ),
    r("/mgmt/bpl/getProcessMetrics", &[], false),
    r("/mgmt/bpl/getStorageMetrics", &["appliance"], false),
    r("/mgmt/bpl/getStorageMetricsForAppliance", &["appliance"], false),
    r("/mgmt/bpl/getVersion", &[], false),
    r("/mgmt/bpl/getVersions", &[], false),
    r("/mgmt/bpl/getPausedPVsReport", &["limit"], false),
    r("/mgmt/bpl/getNeverConnectedPVs", &[], false),
    r("/mgmt/bpl/getCurrentlyDisconnectedPVs", &[], false),
    r("/mgmt/bpl/getEventRateReport", &["limit"], false),
    r("/mgmt/bpl/getStorageRateReport", &["limit"], false),
    r("/mgmt/bpl/getRecentlyAddedPVs", &["limit"], false),
    r("/mgmt/bpl/getRecentlyModifiedPVs", &["limit"], false),
    r("/mgmt/bpl/getLostConnectionsReport", &["limit"], false),
    r("/mgmt/bpl/getSilentPVsReport", &["limit"], false),
    r("/mgmt/bpl/getTimeSpanReport", &["limit"], false),
    r("/mgmt/bpl/getPVsByStorageConsumed", &["limit"], false),
    r("/mgmt/bpl/getPVsByDroppedEventsTimestamp", &["limit"], false),
    r("/mgmt/bpl/getPVsByDroppedEventsBuffer", &["limit"], false),
    r("/mgmt/bpl/getPVsByDroppedEventsTypeChange", &["limit"], false),
    r("/mgmt/bpl/getSlowChangingPVsWithDroppedEvents", &["limit"], false),
    r("/mgmt/bpl/getArchivedWaveforms", &[], false),
    r("/mgmt/bpl/changeTypeForPV", &["pv", "newtype"], false),
    r("/mgmt/bpl/exportConfig", &[], false),
    r("/mgmt/bpl/exportConfigForAppliance", &[], false),
    r("/mgmt/bpl/importConfig", &[], true),
    r("/mgmt/bpl/importConfigForAppliance", &[], true),
    r("/mgmt/bpl/getPolicyList", &[], false),
    r("/mgmt/bpl/getPolicyText", &[], false),
    r("/mgmt/bpl/reconcile", &["pv"], false),
];

/// Other routes: metrics, the OpenAPI document and the web console.
pub const OTHER: &[Route] = &[
    r("/metrics", &[], false),
    r("/openapi.json", &[], false),
    r("/", &[], false),
    r("/mgmt/ui", &[], false),
    r("/mgmt/ui/", &[], false),
    r("/mgmt/ui/index.html", &[], false),
    r("/mgmt/ui/js/app.js", &[], false),
];

/// Every route.
pub fn all() -> Vec<Route> {
    RETRIEVAL.iter().chain(MGMT).chain(OTHER).copied().collect()
}

/// Names a 400 may give as its `parameter`: the query keys of the request,
/// the parameters of the route (a missing one) and the non-query inputs
/// (body, the request path segment, its format extension).
pub fn nameable(route_params: &[&str], query_keys: &[String], name: &str) -> bool {
    query_keys.iter().any(|k| k == name)
        || route_params.contains(&name)
        || ["body", "request", "format"].contains(&name)
}

//! `/retrieval/*` (data in every format, the retrieval BPL calls, ping)
//! and the other routes: metrics, this document, the web console.

use super::Kind::{Bool, Instant, Integer, Text};
use super::{query, Answer, At, Body, Handler, Param, Route};

/// `<verb> /retrieval/data/<name>` answering `media`; the operationId is
/// the name without its dot.
macro_rules! data {
    ($name:literal, $id:literal, $media:literal, $summary:literal $(,)?) => {
        Route::get(concat!("/retrieval/data/", $name), $id, Handler::Data, $summary)
            .answers(Answer::Media($media))
    };
}

/// `GET /retrieval/bpl/<name>` answering JSON.
macro_rules! bpl {
    ($name:literal, $id:literal, $summary:literal $(,)?) => {
        Route::get(
            concat!("/retrieval/bpl/", $name),
            $id,
            Handler::RetrievalBpl,
            $summary,
        )
    };
}

const RANGE: [Param; 7] = [
    query("from", Instant, "start (ISO-8601); default: to minus one day"),
    query("to", Instant, "end (ISO-8601); default: now plus one hour"),
    query(
        "pp",
        Text,
        "post-processor for every PV, e.g. mean_600 or lttb_800",
    ),
    query(
        "timeranges",
        Text,
        "ordered, disjoint ranges as from,to,from,to,… (ISO-8601; wins over from/to)",
    ),
    query("usereduced", Bool, "read reduced data where a tier keeps it"),
    query(
        "fetchLatestMetadata",
        Bool,
        "add the PV's current metadata to the header",
    ),
    query(
        "donotchunk",
        Bool,
        "answer with a Content-Length instead of chunks",
    ),
];

const fn with_range(pv: Param) -> [Param; 8] {
    [
        pv, RANGE[0], RANGE[1], RANGE[2], RANGE[3], RANGE[4], RANGE[5], RANGE[6],
    ]
}

const ONE: &[Param] = &with_range(
    query(
        "pv",
        Text,
        "PV name; op_N(PV) or op(PV,N) applies a post-processor",
    )
    .required(),
);
const MANY: &[Param] =
    &with_range(query("pv", Text, "PV name (repeat for several); op_N(PV) as in getData").repeated());
const AT: &[Param] = &[query("at", Instant, "the instant (ISO-8601); default: now")];
const PV_ONE: &[Param] = &[query("pv", Text, "PV name (or alias)").required()];

/// The retrieval routes.
pub const RETRIEVAL: &[Route] = &[
    Route::get("/retrieval/ping", "ping", Handler::Ping, "Liveness: answers Pong")
        .answers(Answer::Media("text/plain")),
    data!(
        "getData.json",
        "getDataJson",
        "application/json",
        "Samples of one PV as JSON"
    )
    .params(ONE),
    data!(
        "getData.qw",
        "getDataQw",
        "application/json",
        "Samples of one PV as JSON (qw)"
    )
    .params(ONE),
    data!(
        "getData.raw",
        "getDataRaw",
        "application/x-protobuf",
        "Samples of one PV as PB/HTTP"
    )
    .params(ONE),
    data!(
        "getData.csv",
        "getDataCsv",
        "text/csv",
        "Samples of one PV as CSV"
    )
    .params(ONE),
    data!(
        "getData.txt",
        "getDataTxt",
        "text/plain",
        "Samples of one PV as text"
    )
    .params(ONE),
    data!(
        "getDataForPVs.json",
        "getDataForPVsJson",
        "application/json",
        "Samples of several PVs as JSON"
    )
    .params(MANY)
    .get_or_post(Body::PvList),
    data!(
        "getDataForPVs.qw",
        "getDataForPVsQw",
        "application/json",
        "Samples of several PVs as JSON (qw)"
    )
    .params(MANY)
    .get_or_post(Body::PvList),
    data!(
        "getDataForPVs.raw",
        "getDataForPVsRaw",
        "application/x-protobuf",
        "Samples of several PVs as PB/HTTP"
    )
    .params(MANY)
    .get_or_post(Body::PvList),
    data!(
        "getDataAtTime",
        "getDataAtTime",
        "application/json",
        "Newest sample at or before an instant, per PV"
    )
    .params(AT)
    .post(Body::PvList),
    data!(
        "getDataAtTimeForAppliance",
        "getDataAtTimeForAppliance",
        "application/json",
        "Newest sample at or before an instant, per PV"
    )
    .params(AT)
    .post(Body::PvList),
    bpl!(
        "getMatchingPVs",
        "retrievalGetMatchingPVs",
        "Names of archived PVs (and aliases)"
    )
    .params(&[
        query("pv", Text, "glob(s) with * and ?, comma separated"),
        query("regex", Text, "a regular expression over the whole name"),
        query("limit", Integer, "most names; a negative value means all"),
    ]),
    bpl!(
        "searchForPVsRegex",
        "searchForPVsRegex",
        "Names matching a regular expression, one a line"
    )
    .params(&[query("regex", Text, "a regular expression over the whole name").required()])
    .answers(Answer::Media("text/plain")),
    bpl!("areWeArchivingPV", "areWeArchivingPV", "Whether a PV is archived").params(PV_ONE),
    bpl!("getMetadata", "getMetadata", "PVTypeInfo and metadata of a PV").params(PV_ONE),
    bpl!("getVersion", "retrievalGetVersion", "The server's version"),
    bpl!(
        "getPVDetails",
        "retrievalGetPVDetails",
        "Name/value details of a PV"
    )
    .params(PV_ONE),
    bpl!(
        "getApplianceMetrics",
        "retrievalGetApplianceMetrics",
        "Status, counts and rates"
    ),
    bpl!(
        "getApplianceMetricsForAppliance",
        "retrievalGetApplianceMetricsForAppliance",
        "The retrieval component's metrics as name/value rows"
    ),
    bpl!(
        "filterArchivedPVs",
        "filterArchivedPVs",
        "Which of the listed PVs are archived"
    )
    .post(Body::PvList),
];

const FILE: &[Param] = &[Param {
    name: "file",
    at: At::PathTail,
    kind: Text,
    required: true,
    repeated: false,
    doc: "a file of the console, e.g. js/app.js",
}];

/// Metrics, the OpenAPI document and the web console.
pub const OTHER: &[Route] = &[
    Route::get("/metrics", "metrics", Handler::Metrics, "Prometheus metrics")
        .answers(Answer::Media("text/plain; version=0.0.4")),
    Route::get("/openapi.json", "openapi", Handler::OpenApi, "This document"),
    Route::get("/", "root", Handler::UiRedirect, "Redirects to the web console")
        .answers(Answer::Redirect(307)),
    Route::get(
        "/mgmt/ui",
        "consoleBare",
        Handler::UiRedirect,
        "Redirects to the web console",
    )
    .answers(Answer::Redirect(308)),
    Route::get("/mgmt/ui/", "console", Handler::UiFile, "The web console's page").answers(Answer::Asset),
    Route::get(
        "/mgmt/ui/{file}",
        "consoleFile",
        Handler::UiFile,
        "A file of the web console",
    )
    .params(FILE)
    .answers(Answer::Asset),
];

//! Request parameters: query strings (with repeated keys) and the three PV
//! list body encodings (JSON array, text lines, form `pv=a,b,c`).

use axum::http::HeaderMap;

use super::error::ApiError;

/// Decoded query or form parameters, in order, repeated keys kept.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses `a=1&b=2` (absent query → empty).
    pub fn parse(query: Option<&str>) -> Self {
        Params(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// First value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Required `key` (400 naming it when missing or empty).
    pub fn require(&self, key: &str) -> Result<&str, ApiError> {
        match self.get(key) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ApiError::missing(key)),
        }
    }

    /// Boolean `key` (`true` only when exactly "true", case-insensitive).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// Integer `key` with a default (400 when not a number).
    pub fn int(&self, key: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.trim().is_empty() => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ApiError::bad_param(key, format!("parameter {key}: not an integer: {v:?}"))),
        }
    }
}

/// A PV list from a request body chosen by Content-Type: JSON array of names
/// or of objects with `"pv"`, `text/plain` lines, or a form `pv=a,b,c`.
pub fn pv_list_body(headers: &HeaderMap, body: &[u8]) -> Result<Vec<String>, ApiError> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("application/json") {
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_param("body", format!("body is not valid JSON: {e}")))?;
        let arr = v
            .as_array()
            .ok_or_else(|| ApiError::bad_param("body", "body must be a JSON array of PV names"))?;
        return arr
            .iter()
            .map(|x| match x {
                serde_json::Value::String(s) => Ok(s.trim().to_string()),
                serde_json::Value::Object(o) => o
                    .get("pv")
                    .and_then(|p| p.as_str())
                    .map(|s| s.trim().to_string())
                    .ok_or_else(|| ApiError::bad_param("body", "body objects need a \"pv\" string")),
                _ => Err(ApiError::bad_param(
                    "body",
                    "body array elements must be strings or objects",
                )),
            })
            .filter(|r| r.as_ref().map_or(true, |s| !s.is_empty()))
            .collect();
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_param("body", "body is not UTF-8"))?;
    if ct.starts_with("text/plain") {
        return Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect());
    }
    let form = Params::parse(Some(text));
    Ok(form
        .all("pv")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect())
}

/// Splits comma lists in every value of `pv`.
pub fn pv_list_param(p: &Params) -> Vec<String> {
    p.all("pv")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

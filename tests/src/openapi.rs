//! Checks JSON answers against `openapi.yaml`: the subset of OpenAPI 3.1 schemas the document
//! uses (`$ref`, `allOf`, `anyOf`, `type` — one name or a list such as `[string, "null"]` —,
//! `required`, `properties`, `additionalProperties`, `items`, `enum`, `minimum`, `maximum`,
//! `format: date|date-time`).
//! A keyword it does not know fails the check, so the document cannot drift into something
//! this checker silently ignores; `pattern` is known but not checked (no regex engine here).

use serde_json::{Map, Value};

/// The OpenAPI document at the workspace root, as JSON.
pub fn document() -> Value {
    // `cargo test` sets CARGO_MANIFEST_DIR when it runs the tests: the checkout under test, even
    // when a build from another checkout sharing the target directory was reused.
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let path = format!("{dir}/../openapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every operation of the document: (method in upper case, path template).
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete", "head"] {
                if item.get(method).is_some() {
                    out.push((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    out
}

/// The response object an operation documents for `status` (resolving `$ref`), if any.
pub fn response<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> Option<&'a Value> {
    let op = &doc["paths"][path][method.to_lowercase()];
    let r = op["responses"].get(status.to_string())?;
    Some(resolve(doc, r))
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    let mut v = v;
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let mut target = doc;
        for part in r.trim_start_matches("#/").split('/') {
            target = &target[part];
        }
        assert!(!target.is_null(), "dangling $ref {r}");
        v = target;
    }
    v
}

/// Checks `body` (answered with `status` and `content_type`) against the document; returns
/// every mismatch, with its JSON path.
pub fn check_response(
    doc: &Value,
    method: &str,
    path: &str,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Vec<String> {
    let Some(resp) = response(doc, method, path, status) else {
        return vec![format!(
            "{method} {path}: status {status} is not documented"
        )];
    };
    let Some(content) = resp.get("content").and_then(Value::as_object) else {
        return if body.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{method} {path} {status}: a body, but none is documented"
            )]
        };
    };
    let media = content_type.split(';').next().unwrap_or("").trim();
    let Some(entry) = content.get(media) else {
        return vec![format!(
            "{method} {path} {status}: content type {media:?} is not documented ({:?})",
            content.keys().collect::<Vec<_>>()
        )];
    };
    if media != "application/json" && media != "application/problem+json" {
        return Vec::new();
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return vec![format!("{method} {path} {status}: not JSON: {e}")],
    };
    let mut errors = Vec::new();
    check(doc, &entry["schema"], &value, "$", &mut errors);
    errors
}

/// Checks `value` against `schema`, pushing mismatches to `errors`.
pub fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    check_part(doc, schema, value, at, false, errors)
}

/// `in_all_of`: `schema` is one part of an `allOf`, whose other parts may name more
/// properties; the `allOf` itself then checks for undocumented ones.
fn check_part(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    in_all_of: bool,
    errors: &mut Vec<String>,
) {
    let schema = resolve(doc, schema);
    let Some(s) = schema.as_object() else {
        errors.push(format!("{at}: schema is not an object"));
        return;
    };
    const KNOWN: &[&str] = &[
        "type",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "enum",
        "minimum",
        "maximum",
        "format",
        "allOf",
        "anyOf",
        "description",
        "default",
        "example",
        "pattern",
    ];
    for k in s.keys() {
        if !KNOWN.contains(&k.as_str()) {
            errors.push(format!(
                "{at}: schema keyword {k:?} is not understood by this checker"
            ));
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        let fits = any.iter().any(|sub| {
            let mut sub_errors = Vec::new();
            check_part(doc, sub, value, at, false, &mut sub_errors);
            sub_errors.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: {value} fits none of anyOf"));
        }
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check_part(doc, sub, value, at, true, errors);
        }
        // Closed when any part is closed: properties named by any part are allowed.
        let closed = all
            .iter()
            .any(|sub| resolve(doc, sub).get("additionalProperties") == Some(&Value::Bool(false)));
        if closed {
            let mut names = Vec::new();
            for sub in all {
                collect_properties(doc, sub, &mut names);
            }
            if let Some(obj) = value.as_object() {
                for k in obj.keys() {
                    if !names.contains(k) {
                        errors.push(format!("{at}.{k}: not documented"));
                    }
                }
            }
        }
    }
    if let Some(t) = s.get("type") {
        let names: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if names.is_empty() {
            errors.push(format!(
                "{at}: type {t} is neither a name nor a list of names"
            ));
        }
        let ok = names.iter().any(|name| match *name {
            "null" => value.is_null(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => {
                errors.push(format!("{at}: unknown type {other}"));
                true
            }
        });
        if !ok {
            errors.push(format!("{at}: expected {t}, got {value}"));
            return;
        }
        if value.is_null() {
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(value) {
            errors.push(format!("{at}: {value} is not one of {e:?}"));
        }
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), value.as_f64()) {
        if n < min {
            errors.push(format!("{at}: {n} < minimum {min}"));
        }
    }
    if let (Some(max), Some(n)) = (s.get("maximum").and_then(Value::as_f64), value.as_f64()) {
        if n > max {
            errors.push(format!("{at}: {n} > maximum {max}"));
        }
    }
    if let (Some(f), Some(text)) = (s.get("format").and_then(Value::as_str), value.as_str()) {
        let ok = match f {
            "date" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
            "date-time" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: {text:?} is not a {f}"));
        }
    }
    if let Some(obj) = value.as_object() {
        check_object(doc, s, obj, at, in_all_of, errors);
    }
    if let (Some(items), Some(arr)) = (s.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check(doc, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

fn collect_properties(doc: &Value, schema: &Value, names: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        names.extend(p.keys().cloned());
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for sub in all {
            collect_properties(doc, sub, names);
        }
    }
}

fn check_object(
    doc: &Value,
    s: &Map<String, Value>,
    obj: &Map<String, Value>,
    at: &str,
    in_all_of: bool,
    errors: &mut Vec<String>,
) {
    if let Some(req) = s.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                errors.push(format!("{at}: required {r:?} is missing"));
            }
        }
    }
    let props = s.get("properties").and_then(Value::as_object);
    for (k, v) in obj {
        match props.and_then(|p| p.get(k)) {
            Some(ps) => check(doc, ps, v, &format!("{at}.{k}"), errors),
            None => match s.get("additionalProperties") {
                Some(Value::Bool(false)) if !in_all_of => {
                    errors.push(format!("{at}.{k}: not documented"))
                }
                Some(extra @ Value::Object(_)) => {
                    check(doc, extra, v, &format!("{at}.{k}"), errors)
                }
                _ => {}
            },
        }
    }
}

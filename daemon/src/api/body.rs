//! Reading JSON request bodies and their fields, with SmartFace's rules:
//! a JSON content type, a size cap, unknown fields ignored, and property
//! names matched case-insensitively as ASP.NET Core does.

use super::problem::Problem;
use rouille::Request;
use serde_json::{Map, Value};
use std::io::Read;

/// The media types SmartFace accepts for JSON bodies.
fn is_json_media_type(content_type: &str) -> bool {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.split_once('/') {
        Some(("application", "json")) | Some(("text", "json")) => true,
        Some(("application", subtype)) => subtype.ends_with("+json"),
        _ => false,
    }
}

/// Reads the request body, refusing more than `limit` bytes with 413
/// before reading past the limit.
pub fn read_body(request: &Request, limit: usize) -> Result<Vec<u8>, Problem> {
    let declared = request
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Problem::payload_too_large(limit));
    }
    let mut body = Vec::new();
    if let Some(data) = request.data() {
        data.take(limit as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| Problem::bad_request(format!("cannot read the request body: {e}")))?;
    }
    if body.len() > limit {
        return Err(Problem::payload_too_large(limit));
    }
    Ok(body)
}

/// Reads a JSON object body.
pub fn read_json(request: &Request, limit: usize) -> Result<JsonObject, Problem> {
    let content_type = request.header("Content-Type");
    if !content_type.is_some_and(is_json_media_type) {
        return Err(Problem::unsupported_media_type(content_type));
    }
    let body = read_body(request, limit)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::bad_request(
            "the request body is empty; expected a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request(format!("the request body is not valid JSON: {e}")))?;
    JsonObject::new(value, "")
}

/// A JSON object whose fields are read by schema name. `path` locates it in
/// the request for error messages (empty for the body itself).
pub struct JsonObject {
    fields: Map<String, Value>,
    path: String,
}

impl JsonObject {
    pub fn new(value: Value, path: &str) -> Result<JsonObject, Problem> {
        match value {
            Value::Object(fields) => Ok(JsonObject {
                fields,
                path: path.to_string(),
            }),
            other => {
                let what = if path.is_empty() {
                    "the request body"
                } else {
                    path
                };
                Err(Problem::invalid_field(
                    if path.is_empty() { "$" } else { path },
                    format!("{what} must be a JSON object, not {}", kind(&other)),
                ))
            }
        }
    }

    /// The full path of field `name`, for error messages.
    pub fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The value of `name`, matched exactly first, then ignoring case.
    /// An explicit `null` reads as absent.
    fn get(&self, name: &str) -> Option<&Value> {
        let value = self.fields.get(name).or_else(|| {
            self.fields
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
        })?;
        (!value.is_null()).then_some(value)
    }

    /// Field `name`, if present, read by `read` from its path and value.
    fn field<T>(
        &self,
        name: &str,
        read: impl FnOnce(&str, &Value) -> Result<T, Problem>,
    ) -> Result<Option<T>, Problem> {
        self.get(name)
            .map(|value| read(&self.path_of(name), value))
            .transpose()
    }

    /// A string field of at most `max_chars` characters, if present.
    pub fn optional_string(&self, name: &str, max_chars: usize) -> Result<Option<String>, Problem> {
        self.field(name, |path, value| bounded_text(path, value, max_chars))
    }

    pub fn required_string(&self, name: &str, max_chars: usize) -> Result<String, Problem> {
        self.optional_string(name, max_chars)?.ok_or_else(|| {
            let path = self.path_of(name);
            Problem::invalid_field(&path, format!("{path} is required"))
        })
    }

    /// An integer field within `min..=max`, if present.
    pub fn optional_int(&self, name: &str, min: i32, max: i32) -> Result<Option<i32>, Problem> {
        self.field(name, |path, value| {
            as_integer(value)
                .and_then(|n| i32::try_from(n).ok())
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| wrong_type(path, &format!("an integer from {min} to {max}"), value))
        })
    }

    /// A number field within `min..=max`, if present.
    pub fn optional_number(&self, name: &str, min: f64, max: f64) -> Result<Option<f64>, Problem> {
        self.field(name, |path, value| {
            as_number(value)
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| wrong_type(path, &format!("a number from {min} to {max}"), value))
        })
    }

    /// A UUID field (`format: uuid`), if present, in the canonical form
    /// (lower-case, hyphenated) that ids are stored in.
    pub fn optional_uuid(&self, name: &str) -> Result<Option<String>, Problem> {
        self.field(name, |path, value| {
            as_uuid(value).ok_or_else(|| wrong_type(path, "a UUID", value))
        })
    }

    /// A boolean field, if present.
    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>, Problem> {
        self.field(name, |path, value| {
            as_bool(value).ok_or_else(|| wrong_type(path, "true or false", value))
        })
    }

    /// An object field, if present.
    pub fn optional_object(&self, name: &str) -> Result<Option<JsonObject>, Problem> {
        self.field(name, |path, value| JsonObject::new(value.clone(), path))
    }

    /// An array of strings, each at most `max_chars` long, if present.
    pub fn optional_strings(
        &self,
        name: &str,
        max_chars: usize,
    ) -> Result<Option<Vec<String>>, Problem> {
        let Some(items) = self.optional_array(name)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|(path, value)| bounded_text(path, value, max_chars))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An array field's elements, each with its path (`name[i]`), if present.
    pub fn optional_array(&self, name: &str) -> Result<Option<Vec<(String, Value)>>, Problem> {
        self.field(name, |path, value| {
            let Value::Array(items) = value else {
                return Err(wrong_type(path, "an array", value));
            };
            Ok(items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{path}[{i}]"), item.clone()))
                .collect())
        })
    }
}

/// 400 for the value at `path`, which cannot be read as `expected`.
fn wrong_type(path: &str, expected: &str, got: &Value) -> Problem {
    Problem::invalid_field(
        path,
        format!("{path} must be {expected}, not {}", describe(got)),
    )
}

/// The value at `path` as a string of at most `max_chars` characters.
fn bounded_text(path: &str, value: &Value, max_chars: usize) -> Result<String, Problem> {
    let text = as_text(value).ok_or_else(|| wrong_type(path, "a string", value))?;
    if text.chars().count() > max_chars {
        return Err(Problem::invalid_field(
            path,
            format!("{path} must be at most {max_chars} characters long"),
        ));
    }
    Ok(text)
}

// How SmartFace's binder (Newtonsoft.Json) reads a JSON value as each schema
// type: clients send numbers and booleans as strings, and ids as numbers.
// `None` means the value cannot be read as that type.

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(text) => {
            let text = trim_white(text);
            if text.eq_ignore_ascii_case("true") {
                Some(true)
            } else if text.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// An integer, a number without a fractional part, or a string holding an
/// integer (with an optional sign), as .NET's `int.Parse` reads it.
fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            // Saturates beyond i64, which every caller's range refuses.
            n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)
        }),
        Value::String(text) => trim_white(text).parse().ok(),
        _ => None,
    }
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => trim_white(text).parse().ok(),
        _ => None,
    }
}

/// A string holding a UUID in any of the forms .NET's `Guid` parses:
/// hyphenated, 32 digits, or braced; hex digits in any case.
fn as_uuid(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => uuid::Uuid::parse_str(trim_white(text))
            .ok()
            .map(|id| id.to_string()),
        _ => None,
    }
}

/// A string, or the JSON text of a number or boolean.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Drops the white space .NET's number and boolean parsers skip.
fn trim_white(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, ' ' | '\t'..='\r'))
}

/// The value as an error message shows it: short scalars in full.
fn describe(value: &Value) -> String {
    const SHOWN_CHARS: usize = 40;
    match value {
        Value::String(text) if text.chars().count() <= SHOWN_CHARS => format!("{text:?}"),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        other => kind(other).to_string(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonObject {
        JsonObject::new(value, "").unwrap()
    }

    #[test]
    fn json_media_types_are_the_ones_smartface_accepts() {
        for accepted in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "text/json",
            "application/json-patch+json",
            "application/problem+json",
        ] {
            assert!(is_json_media_type(accepted), "{accepted}");
        }
        for refused in ["text/plain", "application/xml", "multipart/form-data", ""] {
            assert!(!is_json_media_type(refused), "{refused}");
        }
    }

    #[test]
    fn field_names_match_ignoring_case_and_null_reads_as_absent() {
        let body = object(json!({"DisplayName": "a", "note": null}));
        assert_eq!(
            body.optional_string("displayName", 10).unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(body.optional_string("note", 10).unwrap(), None);
    }

    #[test]
    fn a_too_long_string_names_the_field_and_limit() {
        let body = object(json!({"fullName": "x".repeat(201)}));
        let problem = body.optional_string("fullName", 200).unwrap_err();
        assert_eq!(problem.status, 400);
        let text = format!("{problem:?}");
        assert!(text.contains("fullName") && text.contains("200"), "{text}");
    }

    /// The field an error names in its `errors` map.
    fn field_named(problem: Problem) -> String {
        assert_eq!(problem.status, 400, "{problem:?}");
        let body = problem.into_response("/").data;
        let mut text = Vec::new();
        body.into_reader_and_size()
            .0
            .read_to_end(&mut text)
            .unwrap();
        let body: Value = serde_json::from_slice(&text).unwrap();
        let errors = body["errors"].as_object().expect("an errors map");
        assert_eq!(errors.len(), 1, "{body}");
        errors.keys().next().unwrap().clone()
    }

    #[test]
    fn integers_read_from_numbers_without_fraction_and_integer_strings() {
        for (given, read) in [
            (json!(40), 40),
            (json!(40.0), 40),
            (json!("40"), 40),
            (json!(" 40\t"), 40),
            (json!("+7"), 7),
            (json!("0"), 0),
            (json!(100), 100),
        ] {
            let body = object(json!({ "threshold": given }));
            assert_eq!(
                body.optional_int("threshold", 0, 100).unwrap(),
                Some(read),
                "{given}"
            );
        }
    }

    #[test]
    fn integers_outside_the_range_or_not_integers_are_refused() {
        for bad in [
            json!(101),
            json!(-1),
            json!("-1"),
            json!(40.5),
            json!("40.5"),
            json!("40.0"),
            json!("abc"),
            json!(""),
            json!("4 0"),
            json!("99999999999999999999999"),
            json!(1u64 << 40),
            json!(1e300),
            json!(true),
            json!([40]),
            json!({"value": 40}),
        ] {
            let body = object(json!({ "threshold": bad }));
            let problem = body.optional_int("threshold", 0, 100).unwrap_err();
            assert_eq!(field_named(problem), "threshold", "{bad}");
        }
    }

    #[test]
    fn booleans_read_from_true_false_and_their_strings_in_any_case() {
        for (given, read) in [
            (json!(true), true),
            (json!(false), false),
            (json!("true"), true),
            (json!("False"), false),
            (json!("TRUE"), true),
            (json!(" false "), false),
        ] {
            let body = object(json!({ "age": given }));
            assert_eq!(body.optional_bool("age").unwrap(), Some(read), "{given}");
        }
        for bad in [json!("yes"), json!("1"), json!(""), json!(1), json!([true])] {
            let body = object(json!({ "config": { "age": bad } }));
            let config = body.optional_object("config").unwrap().unwrap();
            let problem = config.optional_bool("age").unwrap_err();
            assert_eq!(field_named(problem), "config.age", "{bad}");
        }
    }

    #[test]
    fn numbers_read_from_numbers_and_numeric_strings() {
        for (given, read) in [
            (json!(90), 90.0),
            (json!(12.5), 12.5),
            (json!("12.5"), 12.5),
            (json!(" 1e1 "), 10.0),
        ] {
            let body = object(json!({ "score": given }));
            assert_eq!(
                body.optional_number("score", 0.0, 100.0).unwrap(),
                Some(read),
                "{given}"
            );
        }
        for bad in [
            json!("abc"),
            json!("NaN"),
            json!("inf"),
            json!(100.5),
            json!(false),
        ] {
            let body = object(json!({ "score": bad }));
            let problem = body.optional_number("score", 0.0, 100.0).unwrap_err();
            assert_eq!(field_named(problem), "score", "{bad}");
        }
    }

    #[test]
    fn strings_read_numbers_and_booleans_as_their_text() {
        let body = object(json!({"id": 7, "flag": true, "ratio": 0.5, "ids": [12, "a", false]}));
        assert_eq!(
            body.optional_string("id", 10).unwrap().as_deref(),
            Some("7")
        );
        assert_eq!(
            body.optional_string("flag", 10).unwrap().as_deref(),
            Some("true")
        );
        assert_eq!(
            body.optional_string("ratio", 10).unwrap().as_deref(),
            Some("0.5")
        );
        assert_eq!(
            body.optional_strings("ids", 10).unwrap().unwrap(),
            vec!["12", "a", "false"]
        );
        // The length bound applies to the text.
        let long = object(json!({ "id": 123456 }));
        assert_eq!(
            field_named(long.optional_string("id", 5).unwrap_err()),
            "id"
        );
    }

    #[test]
    fn uuids_read_in_canonical_form_and_other_values_are_refused() {
        let canonical = "5f1c2a3b-0d4e-4f60-8a7b-9c0d1e2f3a4b";
        for given in [
            canonical,
            "5F1C2A3B-0D4E-4F60-8A7B-9C0D1E2F3A4B",
            "{5f1c2a3b-0d4e-4f60-8a7b-9c0d1e2f3a4b}",
            "5f1c2a3b0d4e4f608a7b9c0d1e2f3a4b",
        ] {
            let body = object(json!({ "faceId": given }));
            assert_eq!(
                body.optional_uuid("faceId").unwrap().as_deref(),
                Some(canonical),
                "{given}"
            );
        }
        for bad in [
            json!("nope"),
            json!(""),
            json!(3),
            json!({}),
            json!([canonical]),
        ] {
            let body = object(json!({ "image": { "faceId": bad } }));
            let image = body.optional_object("image").unwrap().unwrap();
            let problem = image.optional_uuid("faceId").unwrap_err();
            assert_eq!(field_named(problem), "image.faceId", "{bad}");
        }
    }

    #[test]
    fn objects_and_arrays_are_not_strings() {
        let body = object(json!({"id": {"value": "a"}, "name": ["a"], "ids": ["a", {}]}));
        assert_eq!(
            field_named(body.required_string("id", 10).unwrap_err()),
            "id"
        );
        assert_eq!(
            field_named(body.optional_string("name", 10).unwrap_err()),
            "name"
        );
        assert_eq!(
            field_named(body.optional_strings("ids", 10).unwrap_err()),
            "ids[1]"
        );
    }

    #[test]
    fn a_missing_required_string_names_its_path() {
        let body = object(json!({"probe": {"other": 1}}));
        let probe = body.optional_object("probe").unwrap().unwrap();
        assert_eq!(
            field_named(probe.required_string("id", 10).unwrap_err()),
            "probe.id"
        );
    }
}

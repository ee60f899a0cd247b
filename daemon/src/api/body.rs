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

    fn invalid(&self, name: &str, detail: String) -> Problem {
        Problem::invalid_field(&self.path_of(name), detail)
    }

    /// 400 for field `name` holding the wrong kind of JSON value.
    fn wrong_type(&self, name: &str, expected: &str, got: &Value) -> Problem {
        let path = self.path_of(name);
        self.invalid(
            name,
            format!("{path} must be {expected}, not {}", kind(got)),
        )
    }

    /// A string field of at most `max_chars` characters, if present.
    pub fn optional_string(&self, name: &str, max_chars: usize) -> Result<Option<String>, Problem> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let Value::String(text) = value else {
            return Err(self.wrong_type(name, "a string", value));
        };
        if text.chars().count() > max_chars {
            return Err(self.invalid(
                name,
                format!(
                    "{} must be at most {max_chars} characters long",
                    self.path_of(name)
                ),
            ));
        }
        Ok(Some(text.clone()))
    }

    pub fn required_string(&self, name: &str, max_chars: usize) -> Result<String, Problem> {
        self.optional_string(name, max_chars)?
            .ok_or_else(|| self.invalid(name, format!("{} is required", self.path_of(name))))
    }

    /// An integer field within `min..=max`, if present.
    pub fn optional_int(&self, name: &str, min: i32, max: i32) -> Result<Option<i32>, Problem> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let out_of_range = || {
            self.invalid(
                name,
                format!(
                    "{} must be an integer from {min} to {max}",
                    self.path_of(name)
                ),
            )
        };
        let number = value.as_i64().ok_or_else(out_of_range)?;
        i32::try_from(number)
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(out_of_range)
    }

    /// An object field, if present.
    pub fn optional_object(&self, name: &str) -> Result<Option<JsonObject>, Problem> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => JsonObject::new(value.clone(), &self.path_of(name)).map(Some),
        }
    }

    /// A boolean field, if present.
    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>, Problem> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type(name, "true or false", other)),
        }
    }

    /// A number field within `min..=max`, if present.
    pub fn optional_number(&self, name: &str, min: f64, max: f64) -> Result<Option<f64>, Problem> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        value
            .as_f64()
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(|| {
                self.invalid(
                    name,
                    format!(
                        "{} must be a number from {min} to {max}",
                        self.path_of(name)
                    ),
                )
            })
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
            .into_iter()
            .map(|(path, value)| match value {
                Value::String(text) if text.chars().count() <= max_chars => Ok(text),
                _ => Err(Problem::invalid_field(
                    &path,
                    format!("{path} must be a string of at most {max_chars} characters"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An array field's elements, each with its path (`name[i]`), if present.
    pub fn optional_array(&self, name: &str) -> Result<Option<Vec<(String, Value)>>, Problem> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(self.wrong_type(name, "an array", value));
        };
        let path = self.path_of(name);
        Ok(Some(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{path}[{i}]"), item.clone()))
                .collect(),
        ))
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

    #[test]
    fn integers_outside_the_range_or_not_integers_are_refused() {
        for bad in [
            json!(101),
            json!(-1),
            json!(40.5),
            json!("40"),
            json!(1u64 << 40),
        ] {
            let body = object(json!({ "threshold": bad }));
            assert!(body.optional_int("threshold", 0, 100).is_err(), "{bad}");
        }
        let body = object(json!({"threshold": 100}));
        assert_eq!(body.optional_int("threshold", 0, 100).unwrap(), Some(100));
    }
}

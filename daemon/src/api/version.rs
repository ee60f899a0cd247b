//! `GET /api/v1/Version`.

use super::{rfc3339, Api};
use crate::api::problem::Problem;
use rouille::Response;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionInfo {
    database_version: String,
    database_version_creation_time: String,
    database_version_updated_time: String,
    assembly_version: String,
    assembly_last_modified_time: String,
    full_version: String,
}

pub fn get(api: &Api) -> Result<Response, Problem> {
    let schema = api
        .core
        .catalog
        .store
        .schema_info()
        .map_err(Problem::from)?;
    let version = env!("CARGO_PKG_VERSION");
    Ok(Response::json(&VersionInfo {
        database_version: schema.version.to_string(),
        database_version_creation_time: rfc3339(schema.created_at),
        database_version_updated_time: rfc3339(schema.updated_at),
        assembly_version: version.to_string(),
        assembly_last_modified_time: humantime::format_rfc3339_seconds(api.binary_modified)
            .to_string(),
        full_version: format!("Facegate {version} (SmartFace API v5_4.25.2)"),
    }))
}

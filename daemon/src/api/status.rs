//! `GET /api/facegate/v1/Status`: the edge loop's counters, and where the
//! face engine's networks run.

use crate::edge::counters::CountersDto;
use facegate_models::FaceEngine;
use serde::Serialize;

#[derive(Serialize)]
pub struct Status {
    /// The edge loop's fields stay at the top level, as before.
    #[serde(flatten)]
    pub edge: CountersDto,
    pub engine: EngineStatus,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineStatus {
    runtime_library: String,
    networks: Vec<NetworkStatus>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NetworkStatus {
    name: String,
    /// As named in `engine.execution_providers`.
    execution_provider: &'static str,
}

impl EngineStatus {
    pub fn of(engine: &FaceEngine) -> EngineStatus {
        EngineStatus {
            runtime_library: engine.runtime_library().display().to_string(),
            networks: engine
                .providers()
                .iter()
                .map(|(name, provider)| NetworkStatus {
                    name: name.clone(),
                    execution_provider: provider.name(),
                })
                .collect(),
        }
    }
}

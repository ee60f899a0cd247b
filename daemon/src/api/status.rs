//! Where the face engine's networks run, for `GET /api/facegate/v1/Status`.

use facegate_models::FaceEngine;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineStatus {
    runtime_library: String,
    /// What makes the templates (`engine.precision`, `flip_templates`).
    template_model: String,
    networks: Vec<NetworkStatus>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NetworkStatus {
    name: String,
    /// As named in `engine.execution_providers`.
    execution_provider: &'static str,
    /// As named in `engine.precision`: "fp32" or "int8".
    precision: &'static str,
}

impl EngineStatus {
    pub fn of(engine: &FaceEngine) -> EngineStatus {
        EngineStatus {
            runtime_library: engine.runtime_library().display().to_string(),
            template_model: engine.template_model().to_string(),
            networks: engine
                .providers()
                .iter()
                .zip(engine.precisions())
                .map(|((name, provider), (_, precision))| NetworkStatus {
                    name: name.clone(),
                    execution_provider: provider.name(),
                    precision: precision.name(),
                })
                .collect(),
        }
    }
}

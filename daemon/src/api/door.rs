//! `POST /api/facegate/v1/Door/Open`: open the door now (the console's
//! button), through the edge loop, which logs it as an event with the
//! reason "opened from the console".

use super::problem::Problem;
use super::Api;
use crate::core::door::OpenError;
use rouille::Response;
use std::time::Duration;

/// The relay answers at once, or after one reconnection of a serial port.
const RELAY_ANSWER: Duration = Duration::from_secs(10);

/// Seconds to wait before trying a relay that refused again: it is being
/// reconnected meanwhile.
const RELAY_RETRY_AFTER_SECONDS: u64 = 5;

/// 200 with the event logged (as in the event log) once the relay opened.
pub fn open(api: &Api) -> Result<Response, Problem> {
    match api.core.door.open_now(RELAY_ANSWER) {
        Ok(event) => Ok(Response::from_data("application/json", event.json())),
        Err(OpenError::NoDoor) => Err(Problem::conflict(
            "no door is configured: run the daemon with a camera and a relay \
             (--camera and --relay, or [edge] enabled = true)",
        )),
        Err(OpenError::NotAnswered) => Err(Problem::service_unavailable(
            "the door loop did not answer: it has stopped (its camera ended) or is busy",
            RELAY_RETRY_AFTER_SECONDS,
        )),
        Err(OpenError::Relay { event, error }) => Err(Problem::service_unavailable(
            format!(
                "the relay did not open the door: {error} (logged as event {})",
                event.event.sequence
            ),
            RELAY_RETRY_AFTER_SECONDS,
        )),
    }
}

//! Where an analysis spends its time, stage by stage: logged per request
//! at debug level by the daemon, printed by the benchmarks.

use std::fmt;
use std::time::{Duration, Instant};

/// Time in each stage, summed over the faces analysed.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct StageTimes {
    pub detect: Duration,
    /// The 68 landmarks and, with MTCNN alignment, its five points.
    pub landmarks: Duration,
    pub align: Duration,
    pub template: Duration,
    pub attributes: Duration,
    pub liveness: Duration,
}

impl StageTimes {
    /// Each stage by name, in pipeline order.
    pub fn stages(&self) -> [(&'static str, Duration); 6] {
        [
            ("detect", self.detect),
            ("landmarks", self.landmarks),
            ("align", self.align),
            ("template", self.template),
            ("attributes", self.attributes),
            ("liveness", self.liveness),
        ]
    }

    pub fn total(&self) -> Duration {
        self.stages().iter().map(|(_, took)| *took).sum()
    }
}

impl fmt::Display for StageTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .stages()
            .iter()
            .map(|(name, took)| format!("{name} {:.1} ms", took.as_secs_f64() * 1e3))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// Runs `work`, adding the time it took to `slot`.
pub fn timed<T>(slot: &mut Duration, work: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = work();
    *slot += started.elapsed();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_up_and_print_in_pipeline_order() {
        let mut times = StageTimes::default();
        timed(&mut times.template, || {
            std::thread::sleep(Duration::from_millis(2))
        });
        times.detect = Duration::from_micros(1500);
        assert!(times.total() >= Duration::from_micros(3500));
        let text = times.to_string();
        assert!(
            text.starts_with("detect 1.5 ms, landmarks 0.0 ms"),
            "{text}"
        );
        assert!(text.find("detect") < text.find("template"));
    }
}

//! The seam to an access-control panel: the edge loop presents a member
//! it granted, each panel output (the OSDP reader, the Wiegand lines)
//! sends the member's card number as a credential in its format, and the
//! OSDP reader answers with the panel's verdict, read from its LED
//! commands. It lives in the core so that the edge loop and
//! the panel outputs, peers, never import each other.

use super::lock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// What the panel made of a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PanelVerdict {
    /// No panel answered (none configured, Wiegand has no answer, or the
    /// panel said nothing in time).
    #[default]
    None,
    Granted,
    Denied,
}

impl PanelVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            PanelVerdict::None => "none",
            PanelVerdict::Granted => "granted",
            PanelVerdict::Denied => "denied",
        }
    }
}

/// What an output did with a presented member.
#[derive(Debug, Clone, PartialEq)]
pub enum PanelAnswer {
    /// The member has no card number the output's format can send: why.
    NoCard(String),
    /// The credential went out; the panel's verdict.
    Sent(PanelVerdict),
}

/// One member to present, and where the answer goes.
pub struct Presentation {
    /// The member's labels: the output reads its card number from one.
    pub labels: BTreeMap<String, String>,
    pub answer: oneshot::Sender<PanelAnswer>,
    /// The panel's verdict counts until then.
    pub wait_until: Instant,
}

/// What the console and the status show of a panel output.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputState {
    /// "osdp" or "wiegand".
    pub kind: String,
    /// The port or chip, as configured.
    pub device: String,
    /// OSDP: the panel polled within the last seconds. Wiegand: the lines
    /// are held.
    pub online: bool,
    /// OSDP: Secure Channel is up (never under the default key).
    pub secure_channel: bool,
    /// OSDP: "configured", "installed by the panel" or "none (install mode)".
    pub key: String,
    pub cards_sent: u64,
    /// OSDP: the panel's last LED command, as a colour name.
    pub last_led: String,
    pub last_verdict: PanelVerdict,
    pub last_error: String,
}

/// The registered panel outputs, each with its state.
#[derive(Default)]
pub struct PanelLink {
    outputs: Mutex<Vec<Registered>>,
}

struct Registered {
    sender: mpsc::UnboundedSender<Presentation>,
    state: std::sync::Arc<Mutex<OutputState>>,
}

impl PanelLink {
    /// Called by a panel output once: it then receives every credential,
    /// and keeps `state` up to date.
    pub fn register(
        &self,
        state: OutputState,
    ) -> (
        mpsc::UnboundedReceiver<Presentation>,
        std::sync::Arc<Mutex<OutputState>>,
    ) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let state = std::sync::Arc::new(Mutex::new(state));
        lock(&self.outputs).push(Registered {
            sender,
            state: state.clone(),
        });
        (receiver, state)
    }

    /// Whether any panel output is configured.
    pub fn is_configured(&self) -> bool {
        !lock(&self.outputs).is_empty()
    }

    /// Every output's state.
    pub fn states(&self) -> Vec<OutputState> {
        lock(&self.outputs)
            .iter()
            .map(|output| lock(&output.state).clone())
            .collect()
    }

    /// Presents a member to every output and waits up to `wait` for their
    /// answers: the first granted or denied verdict, else none; `None` when
    /// no output could send a card for the member.
    pub async fn present(
        &self,
        labels: &BTreeMap<String, String>,
        wait: Duration,
    ) -> Option<PanelVerdict> {
        let wait_until = Instant::now() + wait;
        let answers: Vec<_> = lock(&self.outputs)
            .iter()
            .filter_map(|output| {
                let (answer, answered) = oneshot::channel();
                let presentation = Presentation {
                    labels: labels.clone(),
                    answer,
                    wait_until,
                };
                output.sender.send(presentation).ok().map(|_| answered)
            })
            .collect();
        // One deadline for all, so waiting for each in turn waits no longer.
        let mut verdict = None;
        for answered in answers {
            match tokio::time::timeout_at(wait_until.into(), answered).await {
                Ok(Ok(PanelAnswer::NoCard(why))) => log::warn!("panel: {why}; no card sent"),
                Ok(Ok(PanelAnswer::Sent(answer))) => match verdict {
                    None | Some(PanelVerdict::None) => verdict = Some(answer),
                    Some(_) => {}
                },
                // Sent, and no verdict in time.
                _ => verdict = verdict.or(Some(PanelVerdict::None)),
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> BTreeMap<String, String> {
        [("cardNumber".to_string(), "7".to_string())].into()
    }

    #[tokio::test]
    async fn the_first_output_with_a_verdict_decides_and_silence_is_none() {
        let link = PanelLink::default();
        let (mut wiegand, _) = link.register(OutputState::default());
        let (mut osdp, _) = link.register(OutputState::default());
        let answering = tokio::spawn(async move {
            let sent = wiegand.recv().await.unwrap();
            let _ = sent.answer.send(PanelAnswer::Sent(PanelVerdict::None));
            let asked = osdp.recv().await.unwrap();
            assert_eq!(asked.labels, labels());
            let _ = asked.answer.send(PanelAnswer::Sent(PanelVerdict::Denied));
            (wiegand, osdp)
        });
        let verdict = link.present(&labels(), Duration::from_secs(5)).await;
        assert_eq!(verdict, Some(PanelVerdict::Denied));
        // Outputs that never answer: none, once the wait is over.
        let (mut wiegand, mut osdp) = answering.await.unwrap();
        let started = Instant::now();
        let verdict = link.present(&labels(), Duration::from_millis(50)).await;
        assert_eq!(verdict, Some(PanelVerdict::None));
        assert!(started.elapsed() >= Duration::from_millis(50));
        // No card for any output: nothing was sent.
        let refusing = tokio::spawn(async move {
            for output in [&mut wiegand, &mut osdp] {
                // The one left unanswered above, then this one.
                let _unanswered = output.recv().await.unwrap();
                let asked = output.recv().await.unwrap();
                let _ = asked.answer.send(PanelAnswer::NoCard("no label".into()));
            }
        });
        let verdict = link.present(&labels(), Duration::from_secs(5)).await;
        assert_eq!(verdict, None);
        refusing.await.unwrap();
    }

    #[test]
    fn the_verdict_is_camel_case_in_json() {
        assert_eq!(
            serde_json::to_string(&PanelVerdict::Granted).unwrap(),
            "\"granted\""
        );
        assert_eq!(
            serde_json::to_string(&PanelVerdict::None).unwrap(),
            "\"none\""
        );
    }
}

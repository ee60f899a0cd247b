//! The OSDP reader: Facegate as an OSDP v2.2 peripheral device (PD) on an
//! access-control panel's RS-485 bus. libosdp (through its Rust crate)
//! speaks the protocol: polls, ID and capability reports, Secure Channel,
//! LED, buzzer and text commands. Here it is given its line, its key, the
//! card reads of members the door granted, and the panel's LED commands
//! are read back as the panel's verdict.
//!
//! With a key, the PD accepts Secure Channel only, never under the default
//! key SCBK-D (libosdp's ENFORCE_SECURE, no install mode), and a new key
//! from the panel (osdp_KEYSET) only inside a session under the current
//! one; the new key is kept (`key.rs`) and used from then on. Without a
//! key the PD is in install mode, as the standard describes, and says so.
//! A panel may move the reader to another address and speed
//! (osdp_COMSET), which are kept too (`line.rs`); the line's speed is
//! changed in place once the answer is out, so the session goes on.
//!
//! The reader runs on a thread of its own: libosdp wants its state
//! refreshed every few milliseconds, which no frame analysis may delay.

mod kept;
mod key;
pub mod line;

use crate::config::OsdpConfig;
use crate::core::credential::{CardFormat, Credential};
use crate::core::panel::{OutputState, PanelAnswer, PanelVerdict, Presentation};
use crate::core::{lock, Core};
use facegate_hal::{SerialLine, SerialPortLine};
use key::KeyFile;
use libosdp::{
    Channel, ChannelError, OsdpCommand, OsdpEvent, OsdpEventCardRead, OsdpFlag, OsdpLedColor,
    PdCapEntity, PdCapability, PdId, PdInfoBuilder, PeripheralDevice,
};
use line::LineFile;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// libosdp asks to be refreshed at least every 50 ms; a reply is due
/// within 200 ms of a command.
const REFRESH: Duration = Duration::from_millis(5);
/// How soon a port that failed is opened again.
const REOPEN: Duration = Duration::from_secs(2);

/// The running reader; `stop` ends its thread.
pub struct OsdpReader {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

/// The settings the thread runs with, checked.
struct Settings {
    port: String,
    line: LineFile,
    format: CardFormat,
    card_label: String,
    granted_led: OsdpLedColor,
    denied_led: OsdpLedColor,
    key: KeyFile,
}

impl OsdpReader {
    /// Registers the reader with the core's panel link and starts its
    /// thread; the port is opened (and reopened after a failure) there.
    pub fn start(config: &OsdpConfig, data_dir: &Path, core: Arc<Core>) -> Result<Self, String> {
        let settings = Settings {
            port: config.port.clone(),
            line: LineFile::new(data_dir, config.address, config.baud)?,
            format: config.card_format().parse("osdp")?,
            card_label: config.card_label.clone(),
            granted_led: led_color(&config.granted_led, "osdp.granted_led")?,
            denied_led: led_color(&config.denied_led, "osdp.denied_led")?,
            key: KeyFile::new(data_dir, &config.secure_channel_key)?,
        };
        if settings.key.current().is_none() {
            log::warn!(
                "osdp: no secure_channel_key: the reader is in install mode, and a panel may \
                 set up Secure Channel with the default key SCBK-D and install its own key"
            );
        }
        let state = OutputState {
            kind: "osdp".into(),
            device: settings.device(),
            key: settings.key.describe(),
            ..OutputState::default()
        };
        let (presentations, state) = core.panel.register(state);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("osdp".into())
                .spawn(move || run(settings, presentations, &state, &stop))
                .map_err(|e| format!("cannot start the OSDP thread: {e}"))?
        };
        Ok(OsdpReader { stop, thread })
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

impl Settings {
    /// The line as the status shows it.
    fn device(&self) -> String {
        let set_by = match self.line.set_by_panel {
            true => ", set by the panel",
            false => "",
        };
        format!(
            "{}@{} address {}{set_by}",
            self.port, self.line.baud, self.line.address
        )
    }
}

fn led_color(name: &str, key: &str) -> Result<OsdpLedColor, String> {
    Ok(match name {
        "red" => OsdpLedColor::Red,
        "green" => OsdpLedColor::Green,
        "amber" => OsdpLedColor::Amber,
        "blue" => OsdpLedColor::Blue,
        "magenta" => OsdpLedColor::Magenta,
        "cyan" => OsdpLedColor::Cyan,
        other => {
            return Err(format!(
                "invalid config: {key} = {other:?} is not one of red, green, amber, blue, magenta, cyan"
            ))
        }
    })
}

fn color_name(color: OsdpLedColor) -> String {
    match color {
        OsdpLedColor::None => "off".into(),
        OsdpLedColor::Red => "red".into(),
        OsdpLedColor::Green => "green".into(),
        OsdpLedColor::Amber => "amber".into(),
        OsdpLedColor::Blue => "blue".into(),
        OsdpLedColor::Magenta => "magenta".into(),
        OsdpLedColor::Cyan => "cyan".into(),
        OsdpLedColor::Unknown(code) => format!("colour {code}"),
    }
}

/// What the command callback, called inside libosdp, tells the thread.
#[derive(Default)]
struct Heard {
    /// The colour of the panel's last LED command, and when it came.
    led: Option<(OsdpLedColor, Instant)>,
    /// The line failed: reopen it.
    line_failed: bool,
    /// The speed the panel moved the line to (libosdp moves the address).
    new_baud: Option<u32>,
}

/// The line, shared by libosdp's channel and the thread (which changes its
/// speed); `None` once libosdp closed it.
type SharedLine = Arc<Mutex<Option<Box<dyn SerialLine>>>>;

/// A card read waiting for the panel's verdict.
struct Pending {
    presentation: Presentation,
    sent_at: Instant,
}

fn run(
    settings: Settings,
    mut presentations: UnboundedReceiver<Presentation>,
    state: &Mutex<OutputState>,
    stop: &AtomicBool,
) {
    let settings = Mutex::new(settings);
    while !stop.load(Ordering::Relaxed) {
        let port = {
            let settings = lock(&settings);
            SerialPortLine::open(&settings.port, settings.line.baud)
        };
        let outcome = match port {
            Ok(line) => session(&settings, Box::new(line), &mut presentations, state, stop),
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = outcome {
            log::warn!("osdp: {error}; trying again in {REOPEN:?}");
            let mut state = lock(state);
            (state.online, state.secure_channel) = (false, false);
            state.last_error = error;
        }
        // Members presented meanwhile get no card read: say so at once.
        while let Ok(presentation) = presentations.try_recv() {
            let _ = presentation
                .answer
                .send(PanelAnswer::NoCard("the OSDP line is down".into()));
        }
        let until = Instant::now() + REOPEN;
        while !stop.load(Ordering::Relaxed) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Serves the panel over one opened line until it fails or `stop`.
fn session(
    settings: &Mutex<Settings>,
    line: Box<dyn SerialLine>,
    presentations: &mut UnboundedReceiver<Presentation>,
    state: &Mutex<OutputState>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let heard = Arc::new(Mutex::new(Heard::default()));
    let line: SharedLine = Arc::new(Mutex::new(Some(line)));
    let mut pd = {
        let settings = lock(settings);
        let info = pd_info(&settings)?;
        let channel = LineChannel {
            line: line.clone(),
            heard: heard.clone(),
        };
        PeripheralDevice::new(info, Box::new(channel))
            .map_err(|e| format!("libosdp refused the reader's setup: {e:?}"))?
    };
    pd.set_command_callback(command_handler(settings, heard.clone(), state));
    let mut pending: Vec<Pending> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        pd.refresh();
        if std::mem::take(&mut lock(&heard).line_failed) {
            return Err("the serial line failed".into());
        }
        if let Some(baud) = lock(&heard).new_baud.take() {
            // After the answer, sent at the old speed.
            if let Some(line) = lock(&line).as_mut() {
                line.set_baud_rate(baud)
                    .map_err(|e| format!("cannot move the line to {baud} baud: {e}"))?;
            }
        }
        while let Ok(presentation) = presentations.try_recv() {
            let card = {
                let settings = lock(settings);
                card_for(&settings, &presentation)
            };
            match card.and_then(|card| send_card(&mut pd, &card).map(|_| card)) {
                Ok(card) => {
                    log::info!("osdp: card read of {} bits sent", card.bits.len());
                    lock(state).cards_sent += 1;
                    pending.push(Pending {
                        presentation,
                        sent_at: Instant::now(),
                    });
                }
                Err(why) => {
                    let _ = presentation.answer.send(PanelAnswer::NoCard(why));
                }
            }
        }
        let led = lock(&heard).led;
        let (granted, denied) = {
            let settings = lock(settings);
            (settings.granted_led, settings.denied_led)
        };
        for waiting in std::mem::take(&mut pending) {
            let verdict = match led {
                Some((color, at)) if at >= waiting.sent_at && color == granted => {
                    PanelVerdict::Granted
                }
                Some((color, at)) if at >= waiting.sent_at && color == denied => {
                    PanelVerdict::Denied
                }
                _ if Instant::now() >= waiting.presentation.wait_until => PanelVerdict::None,
                _ => {
                    pending.push(waiting);
                    continue;
                }
            };
            lock(state).last_verdict = verdict;
            let _ = waiting.presentation.answer.send(PanelAnswer::Sent(verdict));
        }
        {
            let mut state = lock(state);
            state.online = pd.is_online();
            state.secure_channel = pd.is_sc_active();
            if let Some((color, _)) = led {
                state.last_led = color_name(color);
            }
        }
        std::thread::sleep(REFRESH);
    }
    Ok(())
}

fn pd_info(settings: &Settings) -> Result<PdInfoBuilder, String> {
    let refused = |e| format!("osdp: {e:?}");
    let mut info = PdInfoBuilder::new()
        .name("facegate")
        .map_err(refused)?
        .address(i32::from(settings.line.address))
        .map_err(refused)?
        .baud_rate(settings.line.baud as i32)
        .map_err(refused)?
        .id(&PdId {
            version: 1,
            model: 1,
            // No IEEE OUI is assigned to Facegate: zero, as unassigned.
            vendor_code: (0, 0, 0),
            serial_number: serial_number(),
            firmware_version: firmware_version(),
        })
        .capabilities(&[
            PdCapability::CommunicationSecurity(PdCapEntity::new(1, 1)),
            PdCapability::CardDataFormat(PdCapEntity::new(1, 0)),
            PdCapability::LedControl(PdCapEntity::new(1, 1)),
            PdCapability::AudibleOutput(PdCapEntity::new(1, 1)),
            PdCapability::TextOutput(PdCapEntity::new(1, 1)),
            PdCapability::CheckCharacterSupport(PdCapEntity::new(1, 0)),
        ]);
    if let Some(key) = settings.key.current() {
        // Secure Channel only, never under SCBK-D.
        info = info.flag(OsdpFlag::EnforceSecure).secure_channel_key(key);
    }
    Ok(info)
}

/// The host's machine id folded to four bytes, so two terminals on one
/// bus report different serial numbers.
fn serial_number() -> [u8; 4] {
    let id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    let folded = id
        .bytes()
        .fold(0u32, |hash, byte| hash.rotate_left(5) ^ u32::from(byte));
    folded.to_be_bytes()
}

fn firmware_version() -> (u8, u8, u8) {
    let part = |text: &str| text.parse().unwrap_or(0);
    (
        part(env!("CARGO_PKG_VERSION_MAJOR")),
        part(env!("CARGO_PKG_VERSION_MINOR")),
        part(env!("CARGO_PKG_VERSION_PATCH")),
    )
}

fn card_for(settings: &Settings, presentation: &Presentation) -> Result<Credential, String> {
    let number = presentation
        .labels
        .get(&settings.card_label)
        .ok_or_else(|| format!("the member has no {:?} label", settings.card_label))?;
    Credential::encode(settings.format, number)
}

fn send_card(pd: &mut PeripheralDevice, card: &Credential) -> Result<(), String> {
    let read = OsdpEventCardRead::new_wiegand(card.bits.len(), card.bytes())
        .map_err(|e| format!("osdp: {e:?}"))?;
    pd.notify_event(OsdpEvent::CardRead(read))
        .map_err(|e| format!("osdp: the card read was not queued: {e:?}"))
}

/// Answers the panel's commands; 0 acknowledges, -1 refuses (a NAK).
fn command_handler<'a>(
    settings: &'a Mutex<Settings>,
    heard: Arc<Mutex<Heard>>,
    state: &'a Mutex<OutputState>,
) -> impl FnMut(&mut OsdpCommand) -> i32 + 'a {
    move |command| match command {
        OsdpCommand::Led(led) => {
            // A temporary colour (the verdict's flash) wins over the
            // permanent one while it lasts.
            let color = match led.temporary.control_code {
                2 => led.temporary.on_color,
                _ => led.permanent.on_color,
            };
            lock(&heard).led = Some((color, Instant::now()));
            0
        }
        OsdpCommand::Buzzer(buzzer) => {
            log::debug!("osdp: buzzer, control code {}", buzzer.control_code);
            0
        }
        OsdpCommand::Text(_) => 0,
        OsdpCommand::KeySet(keyset) => {
            // libosdp passes a keyset on only inside Secure Channel, which a
            // keyed reader sets up under its current key alone.
            let mut settings = lock(settings);
            match settings.key.install(&keyset.data) {
                Ok(()) => {
                    log::info!("osdp: the panel installed a new Secure Channel key");
                    lock(state).key = settings.key.describe();
                    0
                }
                Err(e) => {
                    log::error!("osdp: refusing the panel's new key: {e}");
                    -1
                }
            }
        }
        OsdpCommand::ComSet(comset) => {
            // Answered with the new settings; they take effect once the
            // answer is out (ComSetDone).
            if line::valid(comset.address, comset.baud_rate) {
                return 0;
            }
            log::warn!(
                "osdp: refusing the panel's address {} at {} baud",
                comset.address,
                comset.baud_rate
            );
            -1
        }
        OsdpCommand::ComSetDone(comset) => {
            let mut settings = lock(settings);
            match settings.line.keep(comset.address, comset.baud_rate) {
                Ok(()) => {
                    log::info!("osdp: the panel moved the reader to {}", settings.device());
                    lock(state).device = settings.device();
                    lock(&heard).new_baud = Some(comset.baud_rate);
                    0
                }
                Err(e) => {
                    log::error!("osdp: {e}; the reader stays at its settings");
                    -1
                }
            }
        }
        _ => -1,
    }
}

/// The serial line as libosdp's channel: non-blocking, and a failure is
/// reported to the thread, which opens the port again. Closing it (libosdp
/// does, at teardown) closes the port, which libosdp's crate would
/// otherwise keep open.
struct LineChannel {
    line: SharedLine,
    heard: Arc<Mutex<Heard>>,
}

impl LineChannel {
    fn failed(&self, error: std::io::Error) -> ChannelError {
        log::warn!("osdp: serial line: {error}");
        lock(&self.heard).line_failed = true;
        ChannelError::TransportError
    }

    fn with_line<T>(
        &self,
        act: impl FnOnce(&mut dyn SerialLine) -> std::io::Result<T>,
    ) -> Result<T, ChannelError> {
        let moved = match lock(&self.line).as_mut() {
            Some(line) => act(line.as_mut()),
            None => return Err(ChannelError::TransportError),
        };
        moved.map_err(|e| self.failed(e))
    }
}

impl Channel for LineChannel {
    fn get_id(&self) -> i32 {
        0
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ChannelError> {
        self.with_line(|line| line.read_available(buf))
    }

    fn write(&mut self, buf: &[u8]) -> Result<usize, ChannelError> {
        self.with_line(|line| line.write_some(buf))
    }

    fn flush(&mut self) -> Result<(), ChannelError> {
        self.with_line(|line| line.flush())
    }

    fn close(&mut self) -> Result<(), ChannelError> {
        lock(&self.line).take();
        Ok(())
    }
}

//! GPIO lines through the Linux GPIO character device (gpiocdev): outputs
//! for the Wiegand data lines, inputs with edge events and the kernel's
//! debounce for the door contact and the exit button. Levels are logical:
//! "active" is the configured active level, low or high.

use gpiocdev::line::{EdgeDetection, EdgeKind, Offset, Value};
use gpiocdev::Request;
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioError(pub String);

impl fmt::Display for GpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GpioError {}

fn gpio_error(what: &str) -> impl Fn(gpiocdev::Error) -> GpioError + '_ {
    move |e| GpioError(format!("{what}: {e}"))
}

/// Output lines, by their index in the order they were requested.
pub trait OutputLines: Send {
    fn set(&mut self, line: usize, active: bool) -> Result<(), GpioError>;
}

/// A change of one input line: its index, and whether it became active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineChange {
    pub line: usize,
    pub active: bool,
}

/// Input lines, by their index in the order they were requested.
pub trait InputLines: Send {
    /// Whether each line is active now.
    fn levels(&mut self) -> Result<Vec<bool>, GpioError>;
    /// The next (debounced) change, waiting up to `timeout`.
    fn next_change(&mut self, timeout: Duration) -> Result<Option<LineChange>, GpioError>;
}

/// Lines of one chip (`/dev/gpiochipN`), as the kernel grants them.
pub struct CdevLines {
    request: Request,
    offsets: Vec<Offset>,
}

/// One line to request: its offset on the chip and whether low is active.
#[derive(Debug, Clone, Copy)]
pub struct LineSpec {
    pub offset: u32,
    pub active_low: bool,
}

impl CdevLines {
    /// `lines` as outputs, each released (inactive).
    pub fn outputs(chip: &str, lines: &[LineSpec]) -> Result<CdevLines, GpioError> {
        let mut builder = Request::builder();
        builder.on_chip(chip).with_consumer("facegate");
        for line in lines {
            builder.with_line(line.offset).as_output(Value::Inactive);
            if line.active_low {
                builder.as_active_low();
            }
        }
        Self::requested(&mut builder, chip, lines)
    }

    /// `lines` as inputs reporting both edges, debounced by the kernel.
    pub fn inputs(
        chip: &str,
        lines: &[LineSpec],
        debounce: Duration,
    ) -> Result<CdevLines, GpioError> {
        let mut builder = Request::builder();
        builder.on_chip(chip).with_consumer("facegate");
        for line in lines {
            builder
                .with_line(line.offset)
                .as_input()
                .with_edge_detection(EdgeDetection::BothEdges)
                .with_debounce_period(debounce);
            if line.active_low {
                builder.as_active_low();
            }
        }
        Self::requested(&mut builder, chip, lines)
    }

    fn requested(
        builder: &mut gpiocdev::request::Builder,
        chip: &str,
        lines: &[LineSpec],
    ) -> Result<CdevLines, GpioError> {
        let request = builder
            .request()
            .map_err(gpio_error(&format!("GPIO lines of {chip}")))?;
        Ok(CdevLines {
            request,
            offsets: lines.iter().map(|line| line.offset).collect(),
        })
    }

    fn offset(&self, line: usize) -> Result<Offset, GpioError> {
        self.offsets
            .get(line)
            .copied()
            .ok_or_else(|| GpioError(format!("no line {line} was requested")))
    }
}

impl OutputLines for CdevLines {
    fn set(&mut self, line: usize, active: bool) -> Result<(), GpioError> {
        let value = if active {
            Value::Active
        } else {
            Value::Inactive
        };
        self.request
            .set_value(self.offset(line)?, value)
            .map_err(gpio_error("setting a GPIO line"))
    }
}

impl InputLines for CdevLines {
    fn levels(&mut self) -> Result<Vec<bool>, GpioError> {
        self.offsets
            .iter()
            .map(|offset| {
                self.request
                    .value(*offset)
                    .map(|value| value == Value::Active)
                    .map_err(gpio_error("reading a GPIO line"))
            })
            .collect()
    }

    fn next_change(&mut self, timeout: Duration) -> Result<Option<LineChange>, GpioError> {
        let waiting = gpio_error("waiting for a GPIO edge");
        if !self.request.wait_edge_event(timeout).map_err(&waiting)? {
            return Ok(None);
        }
        let event = self.request.read_edge_event().map_err(waiting)?;
        Ok(self
            .offsets
            .iter()
            .position(|offset| *offset == event.offset)
            .map(|line| LineChange {
                line,
                active: event.kind == EdgeKind::Rising,
            }))
    }
}

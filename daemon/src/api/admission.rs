//! Admission control for the biometric operations, which run the face
//! engine: a bounded number run at once, a bounded number more wait, and
//! the rest are refused at once, before their body is read.
//!
//! A request is admitted with a `Ticket` (429 when running and waiting
//! requests already fill the queue), reads its body, then waits for a
//! `Turn` at the engine (408 after `max_wait`), so a slow upload holds a
//! place in the queue but never the engine.
//!
//! Images are decoded within a memory budget shared by every request: an
//! image's decode reserves what its header says it takes (a Verify
//! reserves both of its images at once, so it never holds one while
//! waiting for the other), waits up to `max_wait` for that much to be free
//! (503 after), and gives back all but its RGB pixels once decoded.

use super::problem::Problem;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Seconds a refused client is asked to wait: about one request's work.
const RETRY_AFTER_SECONDS: u64 = 1;

pub struct Admission {
    state: Mutex<State>,
    turn_freed: Condvar,
    /// Requests at the engine at once.
    concurrent: usize,
    /// Requests admitted at once: `concurrent` plus the queue.
    admitted_max: usize,
    max_wait: Duration,
    rejected: AtomicU64,
    timed_out: AtomicU64,
    decode: DecodeBudget,
}

/// Bytes of the images being decoded, or decoded and in use, at once.
struct DecodeBudget {
    in_use: Mutex<u64>,
    freed: Condvar,
    limit: u64,
    refused: AtomicU64,
}

/// Memory of the decode budget, given back when dropped.
pub struct Reservation<'a> {
    budget: &'a DecodeBudget,
    bytes: u64,
}

#[derive(Default)]
struct State {
    /// Tickets alive: reading a body, waiting for a turn, or running.
    admitted: usize,
    running: usize,
}

/// A place in the queue; leaves it when dropped.
pub struct Ticket<'a> {
    admission: &'a Admission,
}

/// A turn at the engine; ends when dropped.
pub struct Turn<'a> {
    _ticket: Ticket<'a>,
}

#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// The queue is full.
    Busy,
    /// No turn came within the wait.
    TimedOut,
}

/// What the status reports.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionDto {
    running: usize,
    /// Admitted and not running: reading their body or waiting.
    waiting: usize,
    concurrent: usize,
    queue: usize,
    rejected: u64,
    timed_out: u64,
    /// Bytes reserved by images being decoded or analysed.
    decode_memory_bytes: u64,
    decode_memory_limit_bytes: u64,
    /// Requests refused after waiting for decode memory.
    decode_memory_refused: u64,
}

impl Admission {
    /// `concurrent` requests at the engine, `queue` more admitted, and
    /// `decode_memory` bytes for the images they decode at once.
    pub fn new(
        concurrent: usize,
        queue: usize,
        max_wait: Duration,
        decode_memory: u64,
    ) -> Admission {
        let concurrent = concurrent.max(1);
        Admission {
            state: Mutex::default(),
            turn_freed: Condvar::new(),
            concurrent,
            admitted_max: concurrent + queue,
            max_wait,
            rejected: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            decode: DecodeBudget {
                in_use: Mutex::new(0),
                freed: Condvar::new(),
                limit: decode_memory,
                refused: AtomicU64::new(0),
            },
        }
    }

    /// The memory all decodes at once may take, so the most one may.
    pub fn decode_memory(&self) -> u64 {
        self.decode.limit
    }

    /// `bytes` of the decode budget, once they are free: 503 when they are
    /// not within the wait, or 400 at once when they never can be (a
    /// Verify whose two photos together need more than the budget; one
    /// photo over it is refused from its header before this).
    pub fn reserve_decode(&self, bytes: u64) -> Result<Reservation<'_>, Problem> {
        let budget = &self.decode;
        let mib = |bytes: u64| bytes.div_ceil(1 << 20);
        if bytes > budget.limit {
            return Err(Problem::bad_request(format!(
                "the request's images would take {} MiB to decode at once, more than \
                 engine.max_decode_memory_mb = {}",
                mib(bytes),
                budget.limit >> 20
            )));
        }
        let in_use = budget.in_use.lock().unwrap_or_else(|e| e.into_inner());
        let (mut in_use, _) = budget
            .freed
            .wait_timeout_while(in_use, self.max_wait, |in_use| {
                *in_use + bytes > budget.limit
            })
            .unwrap_or_else(|e| e.into_inner());
        if *in_use + bytes > budget.limit {
            budget.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Problem::service_unavailable(
                format!(
                    "the images being decoded take {} of the {} MiB of \
                     engine.max_decode_memory_mb, and this request's need {} MiB more \
                     than is free within server.biometric_wait_ms; retry later",
                    mib(*in_use),
                    budget.limit >> 20,
                    mib(bytes)
                ),
                RETRY_AFTER_SECONDS,
            ));
        }
        *in_use += bytes;
        Ok(Reservation { budget, bytes })
    }

    /// The most requests admitted at once: each holds an HTTP worker.
    pub fn capacity(&self) -> usize {
        self.admitted_max
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place in the queue, or `Busy` at once when it is full.
    pub fn enter(&self) -> Result<Ticket<'_>, Refusal> {
        let mut state = self.lock();
        if state.admitted >= self.admitted_max {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Busy);
        }
        state.admitted += 1;
        Ok(Ticket { admission: self })
    }

    pub fn snapshot(&self) -> AdmissionDto {
        let state = self.lock();
        AdmissionDto {
            running: state.running,
            waiting: state.admitted - state.running,
            concurrent: self.concurrent,
            queue: self.admitted_max - self.concurrent,
            rejected: self.rejected.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            decode_memory_bytes: *self.decode.in_use.lock().unwrap_or_else(|e| e.into_inner()),
            decode_memory_limit_bytes: self.decode.limit,
            decode_memory_refused: self.decode.refused.load(Ordering::Relaxed),
        }
    }

    fn refusal_problem(&self, refusal: Refusal) -> Problem {
        match refusal {
            Refusal::Busy => Problem::too_many_requests(
                format!(
                    "the face engine is busy: {} biometric requests are running or waiting \
                     (server.biometric_queue); retry later",
                    self.admitted_max
                ),
                RETRY_AFTER_SECONDS,
            ),
            Refusal::TimedOut => Problem::request_timeout(format!(
                "the request waited more than {} ms for the face engine \
                 (server.biometric_wait_ms); retry later",
                self.max_wait.as_millis()
            )),
        }
    }

    /// `enter`, refused as the problem the client gets.
    pub fn admit(&self) -> Result<Ticket<'_>, Problem> {
        self.enter()
            .map_err(|refusal| self.refusal_problem(refusal))
    }
}

impl<'a> Ticket<'a> {
    /// Waits for a turn at the engine, up to the configured wait.
    pub fn wait_turn(self) -> Result<Turn<'a>, Refusal> {
        let admission = self.admission;
        let state = admission.lock();
        let (mut state, _) = admission
            .turn_freed
            .wait_timeout_while(state, admission.max_wait, |s| {
                s.running >= admission.concurrent
            })
            .unwrap_or_else(|e| e.into_inner());
        if state.running >= admission.concurrent {
            drop(state); // before the ticket leaves the queue, which locks it
            admission.timed_out.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::TimedOut);
        }
        state.running += 1;
        drop(state);
        Ok(Turn { _ticket: self })
    }

    /// `wait_turn`, refused as the problem the client gets.
    pub fn turn(self) -> Result<Turn<'a>, Problem> {
        let admission = self.admission;
        self.wait_turn()
            .map_err(|refusal| admission.refusal_problem(refusal))
    }
}

impl<'a> Reservation<'a> {
    /// Moves `bytes` of this reservation into one of their own.
    pub fn split_off(&mut self, bytes: u64) -> Reservation<'a> {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        Reservation {
            budget: self.budget,
            bytes,
        }
    }

    /// Gives back all but `bytes`: what a decoded image keeps.
    pub fn shrink_to(&mut self, bytes: u64) {
        drop(self.split_off(self.bytes.saturating_sub(bytes)));
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        *self.budget.in_use.lock().unwrap_or_else(|e| e.into_inner()) -= self.bytes;
        self.budget.freed.notify_all();
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.admission.lock().admitted -= 1;
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let admission = self._ticket.admission;
        admission.lock().running -= 1;
        admission.turn_freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn requests_beyond_the_running_and_waiting_ones_are_refused_at_once() {
        let admission = Admission::new(1, 2, LONG, 1 << 30);
        let tickets: Vec<_> = (0..3).map(|_| admission.enter().unwrap()).collect();
        assert_eq!(admission.enter().err(), Some(Refusal::Busy));
        assert_eq!(admission.snapshot().rejected, 1);
        drop(tickets);
        assert!(admission.enter().is_ok());
    }

    #[test]
    fn a_request_that_gets_no_turn_within_the_wait_times_out_and_leaves_the_queue() {
        let admission = Admission::new(1, 1, Duration::from_millis(1), 1 << 30);
        let _running = admission.enter().unwrap().wait_turn().unwrap();
        let waiting = admission.enter().unwrap();
        assert_eq!(waiting.wait_turn().err(), Some(Refusal::TimedOut));
        let snapshot = admission.snapshot();
        assert_eq!((snapshot.running, snapshot.waiting), (1, 0));
        assert_eq!(snapshot.timed_out, 1);
    }

    #[test]
    fn a_waiting_request_runs_when_a_turn_ends() {
        let admission = Admission::new(1, 1, LONG, 1 << 30);
        let running = admission.enter().unwrap().wait_turn().unwrap();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| admission.enter().unwrap().wait_turn().is_ok());
            // The waiter either queues behind `running` or already holds its
            // ticket; either way it runs once `running` ends.
            drop(running);
            assert!(waiter.join().unwrap());
        });
        let snapshot = admission.snapshot();
        assert_eq!((snapshot.running, snapshot.waiting), (0, 0));
    }

    #[test]
    fn refusals_become_429_with_retry_after_and_408() {
        let admission = Admission::new(1, 0, Duration::ZERO, 1 << 30);
        let _turn = admission.admit().unwrap().turn().unwrap();
        let busy = admission.admit().err().unwrap();
        assert_eq!(busy.status, 429);
        let response = busy.into_response("/x");
        assert!(response
            .headers
            .iter()
            .any(|(name, value)| name == "Retry-After" && value == "1"));
        let admission = Admission::new(1, 1, Duration::ZERO, 1 << 30);
        let _turn = admission.admit().unwrap().turn().unwrap();
        let late = admission.admit().unwrap().turn().err().unwrap();
        assert_eq!(late.status, 408);
    }
}

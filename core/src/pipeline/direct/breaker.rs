//! The circuit breaker in front of the collector.
//!
//! A collector that refuses, hangs or throttles must cost an invocation next to nothing once
//! that is known. After a failed export the circuit *opens*: flushes keep their spans in the
//! retry buffer without a network call, until a delay has passed — the collector's
//! `Retry-After` when it gave one, else an exponential back-off — and then one *probe*, sent
//! from the exporter thread and never from an invocation, decides: success closes the
//! circuit (and the next flush sends what was kept), failure opens it again for longer.
//!
//! A collector that answers, but more slowly than an invocation may wait (its flush
//! budget), would otherwise cost one invocation its whole budget after every successful
//! probe. A send from the exporter thread that succeeds that slowly leaves the circuit
//! *slow*: invocations hand their spans to the exporter thread, which keeps sending them
//! off the response path until one send is fast again.

use std::time::{Duration, Instant};

/// The first back-off after a failure without `Retry-After`.
pub(crate) const FIRST_BACK_OFF: Duration = Duration::from_secs(1);
/// The longest back-off of our own choosing.
pub(crate) const LONGEST_BACK_OFF: Duration = Duration::from_secs(60);
/// The longest `Retry-After` honoured: a collector asking for more is probed after this.
pub(crate) const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// A send cut by a budget shorter than this does not open the circuit: on a loaded machine
/// a healthy collector (a few milliseconds away) may not answer within the last
/// milliseconds of an invocation, and a circuit opened then would hold the next flushes a
/// second for nothing. Cuts by longer budgets (the flush budget is 2 s by default) do.
pub(crate) const SHORTEST_TELLING_CUT: Duration = Duration::from_millis(250);

/// What a flush may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// The circuit is closed: send.
    Send,
    /// The circuit is open and its delay has not passed, or a probe is under way: keep the
    /// spans for later.
    Hold,
    /// The delay has passed: a probe is due. Only the exporter thread sends it.
    ProbeDue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Instant },
    Probing,
    Slow,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: State,
    /// Failures since the last success.
    failures: u32,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: State::Closed,
            failures: 0,
        }
    }
}

impl Breaker {
    /// What an invocation's flush may do at `now`; it never sends a probe.
    pub(crate) fn admit(&self, now: Instant) -> Admit {
        match self.state {
            State::Closed => Admit::Send,
            State::Open { until } if now >= until => Admit::ProbeDue,
            // The exporter thread sends; the invocation only wakes it.
            State::Slow => Admit::ProbeDue,
            State::Open { .. } | State::Probing => Admit::Hold,
        }
    }

    /// What the exporter thread may do at `now`: it sends when the circuit is closed, and
    /// turns a due probe into a send (the circuit is then *probing* until the outcome).
    pub(crate) fn admit_probe(&mut self, now: Instant) -> Admit {
        if self.state == State::Slow {
            return Admit::Send;
        }
        match self.admit(now) {
            Admit::ProbeDue => {
                self.state = State::Probing;
                Admit::Send
            }
            // The probe's own send: the thread sends one thing at a time, so a probing
            // circuit seen here is a probe whose future was dropped.
            Admit::Hold if self.state == State::Probing => Admit::Send,
            admit => admit,
        }
    }

    /// An export succeeded: close the circuit — or, when it took `slow_after` or longer,
    /// leave it slow (see the module documentation).
    pub(crate) fn succeeded(&mut self, took: Duration, slow_after: Duration) {
        self.state = if took >= slow_after {
            State::Slow
        } else {
            State::Closed
        };
        self.failures = 0;
    }

    /// An export failed at `now`; `retry_after` is the collector's `Retry-After`. Returns
    /// the delay before the next probe.
    pub(crate) fn failed(&mut self, now: Instant, retry_after: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = match retry_after {
            Some(asked) => asked.min(LONGEST_RETRY_AFTER),
            None => {
                let doublings = self.failures.saturating_sub(1).min(16);
                FIRST_BACK_OFF
                    .saturating_mul(1 << doublings)
                    .min(LONGEST_BACK_OFF)
            }
        };
        self.state = State::Open {
            until: now.checked_add(delay).unwrap_or(now),
        };
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_circuit_sends() {
        let breaker = Breaker::default();
        assert_eq!(breaker.admit(Instant::now()), Admit::Send);
    }

    #[test]
    fn a_failure_holds_until_the_back_off_has_passed_then_only_the_thread_probes() {
        let start = Instant::now();
        let mut breaker = Breaker::default();
        assert_eq!(breaker.failed(start, None), FIRST_BACK_OFF);
        assert_eq!(breaker.admit(start), Admit::Hold);
        assert_eq!(
            breaker.admit(start + FIRST_BACK_OFF - Duration::from_millis(1)),
            Admit::Hold
        );
        let due = start + FIRST_BACK_OFF;
        assert_eq!(breaker.admit(due), Admit::ProbeDue);
        // An invocation seeing the probe due does not change the state.
        assert_eq!(breaker.admit(due), Admit::ProbeDue);
        assert_eq!(breaker.admit_probe(due), Admit::Send);
        // While the probe is out, invocations hold.
        assert_eq!(breaker.admit(due), Admit::Hold);
        breaker.succeeded(Duration::from_millis(3), Duration::from_secs(2));
        assert_eq!(breaker.admit(due), Admit::Send);
    }

    #[test]
    fn a_slow_success_sends_through_the_thread_until_a_fast_one() {
        let now = Instant::now();
        let budget = Duration::from_secs(2);
        let mut breaker = Breaker::default();
        breaker.failed(now, None);
        assert_eq!(breaker.admit_probe(now + FIRST_BACK_OFF), Admit::Send);
        breaker.succeeded(Duration::from_millis(2100), budget);
        // Invocations wake the thread and hold; the thread sends at once.
        assert_eq!(breaker.admit(now), Admit::ProbeDue);
        assert_eq!(breaker.admit_probe(now), Admit::Send);
        assert_eq!(breaker.admit(now), Admit::ProbeDue, "still slow");
        breaker.succeeded(Duration::from_millis(2), budget);
        assert_eq!(breaker.admit(now), Admit::Send);
        // A failure while slow opens the circuit.
        breaker.succeeded(budget, budget);
        breaker.failed(now, None);
        assert_eq!(breaker.admit(now), Admit::Hold);
    }

    #[test]
    fn back_off_doubles_up_to_its_cap_and_a_success_resets_it() {
        let now = Instant::now();
        let mut breaker = Breaker::default();
        let delays: Vec<u64> = (0..9)
            .map(|_| breaker.failed(now, None).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        breaker.succeeded(Duration::ZERO, Duration::from_secs(2));
        assert_eq!(breaker.failed(now, None), FIRST_BACK_OFF);
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let now = Instant::now();
        let mut breaker = Breaker::default();
        assert_eq!(
            breaker.failed(now, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(breaker.admit(now + Duration::from_secs(6)), Admit::Hold);
        assert_eq!(breaker.admit(now + Duration::from_secs(7)), Admit::ProbeDue);
        assert_eq!(
            breaker.failed(now, Some(Duration::from_secs(86_400))),
            LONGEST_RETRY_AFTER
        );
    }

    #[test]
    fn a_failed_probe_opens_the_circuit_again_for_longer() {
        let now = Instant::now();
        let mut breaker = Breaker::default();
        breaker.failed(now, None);
        let due = now + FIRST_BACK_OFF;
        assert_eq!(breaker.admit_probe(due), Admit::Send);
        assert_eq!(breaker.failed(due, None), Duration::from_secs(2));
        assert_eq!(breaker.admit(due + Duration::from_secs(1)), Admit::Hold);
    }
}

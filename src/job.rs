//! Background work: progress reports, cancellation and jobs on their own thread.
//!
//! A leaf of the core: `features`, `models` and `pipeline` report through a
//! [`Reporter`] and stop with [`Cancelled`]; nothing here imports another cge module.
//! A [`Job`] runs a closure on its own thread. The closure reports through the
//! Reporter (stage, integer percent only when it changes, message) and checks
//! for cancellation; events reach the caller through a notify callback, so the TUI
//! can route them into its single event channel and a CLI can print them.
//! Dropping a job cancels it and waits for the thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Progress of a running job.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub stage: String,
    pub percent: u8,
    pub message: String,
}

/// What a job tells its owner.
#[derive(Debug)]
pub enum JobEvent<T> {
    Progress(Progress),
    Finished(Result<T, String>),
    Cancelled,
}

/// The error a job returns when it noticed its cancel flag.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// Handed to the job's closure: report progress, check for cancellation.
pub struct Reporter {
    cancel: Arc<AtomicBool>,
    last: std::sync::Mutex<Option<(String, u8)>>,
    send: Box<dyn Fn(Progress) + Send + Sync>,
}

impl Reporter {
    /// A reporter that prints nothing and is never cancelled (headless use, tests).
    pub fn silent() -> Self {
        Reporter {
            cancel: Arc::new(AtomicBool::new(false)),
            last: Default::default(),
            send: Box::new(|_| {}),
        }
    }

    /// A reporter calling `f` for each progress change (e.g. printing to stderr).
    pub fn with(f: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        Reporter {
            cancel: Arc::new(AtomicBool::new(false)),
            last: Default::default(),
            send: Box::new(f),
        }
    }

    /// Report progress; sent only when the stage or integer percent changes.
    pub fn progress(&self, stage: &str, percent: u8, message: impl Into<String>) {
        let percent = percent.min(100);
        let mut last = self.last.lock().expect("reporter lock");
        if last
            .as_ref()
            .is_some_and(|(s, p)| s == stage && *p == percent)
        {
            return;
        }
        *last = Some((stage.to_string(), percent));
        drop(last);
        (self.send)(Progress {
            stage: stage.to_string(),
            percent,
            message: message.into(),
        });
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the job was asked to stop.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// The cancel flag, for work that polls it itself (e.g. SQLite's progress handler).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }
}

/// The message of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Name prefix of job threads: a panic hook can tell them from the UI thread.
pub const THREAD_PREFIX: &str = "cge-job-";

/// A background job producing a `T`.
pub struct Job {
    name: String,
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Job {
    /// Run `work` on a new thread; every event goes to `notify`.
    pub fn spawn<T, F, N>(name: &str, work: F, notify: N) -> Job
    where
        T: Send + 'static,
        F: FnOnce(&Reporter) -> anyhow::Result<T> + Send + 'static,
        N: Fn(JobEvent<T>) + Send + Sync + Clone + 'static,
    {
        let cancel = Arc::new(AtomicBool::new(false));
        let progress_notify = notify.clone();
        let reporter = Reporter {
            cancel: cancel.clone(),
            last: Default::default(),
            send: Box::new(move |p| progress_notify(JobEvent::Progress(p))),
        };
        let handle = std::thread::Builder::new()
            .name(format!("{THREAD_PREFIX}{name}"))
            .spawn(move || {
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&reporter)));
                let event = match result {
                    Ok(Ok(v)) if !reporter.is_cancelled() => JobEvent::Finished(Ok(v)),
                    Ok(Ok(_)) => JobEvent::Cancelled,
                    Ok(Err(e))
                        if reporter.is_cancelled() || e.downcast_ref::<Cancelled>().is_some() =>
                    {
                        JobEvent::Cancelled
                    }
                    Ok(Err(e)) => JobEvent::Finished(Err(format!("{e:#}"))),
                    Err(payload) => JobEvent::Finished(Err(format!(
                        "the job crashed (a bug in cge: {}); nothing was changed",
                        panic_text(payload.as_ref())
                    ))),
                };
                notify(event);
            })
            .expect("spawn job thread");
        Job {
            name: name.to_string(),
            cancel,
            handle: Some(handle),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ask the job to stop at its next check.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Cancel and wait for the thread to end.
    pub fn cancel_and_wait(mut self) {
        self.stop();
    }

    /// Cancel and wait at most `timeout` for the thread to end: true if it did. A job still
    /// in a step it cannot leave (one model fit, the final write) is left running, to end
    /// with the process — for a quitting UI, whose pipeline writes its run in one
    /// transaction, that is a killed run: the stored runs stay as they were.
    pub fn cancel_and_wait_for(mut self, timeout: std::time::Duration) -> bool {
        self.cancel();
        let deadline = std::time::Instant::now() + timeout;
        while !self.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if self.is_finished() {
            self.stop();
            true
        } else {
            // Detached: dropping the handle does not wait.
            self.handle.take();
            false
        }
    }

    fn stop(&mut self) {
        self.cancel();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn reports_progress_once_per_percent_and_finishes() {
        let (tx, rx) = mpsc::channel();
        let job = Job::spawn(
            "count",
            |r: &Reporter| {
                for i in 0..=200u32 {
                    r.progress("counting", (i / 2) as u8, format!("{i}"));
                }
                Ok(42)
            },
            move |e| {
                let _ = tx.send(e);
            },
        );
        let events: Vec<JobEvent<i32>> = rx.iter().take(102).collect();
        drop(job);
        let percents: Vec<u8> = events
            .iter()
            .filter_map(|e| {
                if let JobEvent::Progress(p) = e {
                    Some(p.percent)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(percents, (0..=100).collect::<Vec<u8>>());
        assert!(matches!(events.last(), Some(JobEvent::Finished(Ok(42)))));
    }

    #[test]
    fn cancel_stops_the_work() {
        let (tx, rx) = mpsc::channel();
        let job = Job::spawn(
            "forever",
            |r: &Reporter| -> anyhow::Result<()> {
                loop {
                    r.check()?;
                    std::thread::sleep(Duration::from_millis(1));
                }
            },
            move |e| {
                let _ = tx.send(e);
            },
        );
        job.cancel_and_wait();
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(JobEvent::Cancelled)
        ));
    }

    #[test]
    fn a_bounded_wait_leaves_a_job_that_does_not_stop_in_time() {
        let (tx, rx) = mpsc::channel();
        let job = Job::spawn(
            "stubborn",
            |_r: &Reporter| -> anyhow::Result<()> {
                // One step that never checks, like a model fit.
                std::thread::sleep(Duration::from_secs(3));
                Ok(())
            },
            move |e| {
                let _ = tx.send(e);
            },
        );
        let start = std::time::Instant::now();
        assert!(!job.cancel_and_wait_for(Duration::from_millis(50)));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "waited for the step"
        );
        // It ends on its own later, seeing the cancel.
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(10)),
            Ok(JobEvent::Cancelled)
        ));
        // A job that checks stops within the wait.
        let job = Job::spawn(
            "polite",
            |r: &Reporter| -> anyhow::Result<()> {
                loop {
                    r.check()?;
                    std::thread::sleep(Duration::from_millis(1));
                }
            },
            |_| {},
        );
        assert!(job.cancel_and_wait_for(Duration::from_secs(5)));
    }

    #[test]
    fn errors_and_panics_become_messages() {
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        let _a = Job::spawn(
            "err",
            |_r: &Reporter| -> anyhow::Result<()> { anyhow::bail!("bad data") },
            move |e| {
                let _ = tx.send(e);
            },
        );
        let _b = Job::spawn(
            "panic",
            |_r: &Reporter| -> anyhow::Result<()> { panic!("boom") },
            move |e| {
                let _ = tx2.send(e);
            },
        );
        let mut msgs: Vec<String> = (0..2)
            .map(|_| match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
                JobEvent::Finished(Err(m)) => m,
                other => panic!("{other:?}"),
            })
            .collect();
        msgs.sort();
        assert_eq!(msgs[0], "bad data");
        assert!(msgs[1].contains("crashed"), "{}", msgs[1]);
        assert!(
            msgs[1].contains("boom"),
            "the panic's own text: {}",
            msgs[1]
        );
    }
}

//! What kubelet does for a pod with `restartPolicy: Always`, for the app processes of
//! `cargo xtask up`: an app that exits, for whatever reason, is started again after a back-off
//! that grows while it keeps exiting (CrashLoopBackOff), and each exit and restart is logged.
//!
//! Kubelet's curve (Kubernetes docs, "Pod Lifecycle", container restarts): the first restart at
//! once, then 10 s, doubling to at most 5 min; a container that ran 10 min without exiting
//! starts over from the beginning. [`BackOff::scaled`] keeps that shape at a smaller scale.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use duct::Handle;
use duct::unix::HandleExt;
use signal_hook::consts::SIGTERM;

/// The restart delays of a crash loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackOff {
    /// The delay before the second restart in a row (the first is immediate).
    pub initial: Duration,
    /// No delay grows past this.
    pub max: Duration,
    /// An app that ran this long before it exited is restarted at once again.
    pub reset_after: Duration,
}

impl BackOff {
    /// Kubelet's curve starting at `initial` instead of 10 s: the cap and the reset scale with
    /// it (30× and 60×), so `scaled(10 s)` is kubelet's own (5 min, 10 min).
    pub fn scaled(initial: Duration) -> BackOff {
        BackOff {
            initial,
            max: initial * 30,
            reset_after: initial * 60,
        }
    }

    /// The delay before the restart that follows `exits_in_a_row` exits (counted from 0):
    /// 0, `initial`, 2 × `initial`, … up to `max`.
    pub fn delay(&self, exits_in_a_row: u32) -> Duration {
        match exits_in_a_row {
            0 => Duration::ZERO,
            n => self
                .initial
                .saturating_mul(2u32.saturating_pow(n - 1))
                .min(self.max),
        }
    }
}

/// How long a stopped app may take to exit after SIGTERM before it is killed (a pod's default
/// `terminationGracePeriodSeconds` is 30 s; the apps stop in well under a second).
const GRACE: Duration = Duration::from_secs(10);
/// How often the watcher looks whether the app has exited.
const POLL: Duration = Duration::from_millis(50);

/// Starts a process; called again for each restart.
pub type Starter = Box<dyn Fn() -> Result<Handle> + Send>;

/// One app process, restarted whenever it exits until this is dropped (which stops it with
/// SIGTERM, then SIGKILL after 10 s).
pub struct Supervised {
    name: String,
    current: Arc<Mutex<Handle>>,
    exits: Arc<AtomicU32>,
    /// Dropped to stop the watcher.
    stop: Option<mpsc::Sender<()>>,
    watcher: Option<JoinHandle<()>>,
}

impl Supervised {
    /// Starts the process once (an error if it cannot be started at all) and watches it from
    /// a thread of its own.
    pub fn start(name: &str, start: Starter, back_off: BackOff) -> Result<Supervised> {
        let current = Arc::new(Mutex::new(
            start().with_context(|| format!("starting {name}"))?,
        ));
        let exits = Arc::new(AtomicU32::new(0));
        let (stop, stopped) = mpsc::channel();
        let watcher = {
            let (name, current, exits) = (name.to_string(), current.clone(), exits.clone());
            std::thread::Builder::new()
                .name(format!("supervise {name}"))
                .spawn(move || watch(&name, &start, &current, &exits, &stopped, back_off))
                .context("starting the supervisor thread")?
        };
        Ok(Supervised {
            name: name.to_string(),
            current,
            exits,
            stop: Some(stop),
            watcher: Some(watcher),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How often the process has exited so far.
    pub fn exits(&self) -> u32 {
        self.exits.load(Ordering::SeqCst)
    }

    /// Stops restarting and sends the process SIGTERM; [`Supervised::wait_or_kill`] then
    /// waits for it.
    pub fn terminate(&mut self) {
        drop(self.stop.take());
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        let _ = self.handle().send_signal(SIGTERM);
    }

    /// Waits until `deadline` for the process to exit, then kills it.
    pub fn wait_or_kill(&self, deadline: Instant) {
        let handle = self.handle();
        while matches!(handle.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(handle.try_wait(), Ok(None)) {
            eprintln!("{} did not stop within {GRACE:?}; killing it", self.name);
            let _ = handle.kill();
        }
    }

    fn handle(&self) -> std::sync::MutexGuard<'_, Handle> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if self.watcher.is_some() {
            self.terminate();
            self.wait_or_kill(Instant::now() + GRACE);
        }
    }
}

/// Stops several at once: SIGTERM to all, then waits for each.
pub fn stop_all(processes: &mut [Supervised]) {
    for process in processes.iter_mut() {
        process.terminate();
    }
    let deadline = Instant::now() + GRACE;
    for process in processes.iter() {
        process.wait_or_kill(deadline);
    }
}

/// The watcher's loop: wait for the exit, log it, wait the back-off, start again; return as
/// soon as `stopped` is signalled (its sender dropped).
fn watch(
    name: &str,
    start: &Starter,
    current: &Mutex<Handle>,
    exits: &AtomicU32,
    stopped: &mpsc::Receiver<()>,
    back_off: BackOff,
) {
    let stop_requested =
        |wait: Duration| !matches!(stopped.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
    let mut started = Instant::now();
    let mut exits_in_a_row = 0;
    loop {
        let status = loop {
            if stop_requested(POLL) {
                return;
            }
            let handle = current.lock().unwrap_or_else(PoisonError::into_inner);
            match handle.try_wait() {
                Ok(None) => {}
                Ok(Some(output)) => break output.status.to_string(),
                Err(error) => break error.to_string(),
            }
        };
        exits.fetch_add(1, Ordering::SeqCst);
        if started.elapsed() >= back_off.reset_after {
            exits_in_a_row = 0;
        }
        let delay = back_off.delay(exits_in_a_row);
        exits_in_a_row += 1;
        println!(
            "supervisor: {name} exited ({status}) after {:.1} s; restarting it in {delay:?}",
            started.elapsed().as_secs_f64()
        );
        if stop_requested(delay) {
            return;
        }
        match start() {
            Ok(handle) => {
                *current.lock().unwrap_or_else(PoisonError::into_inner) = handle;
                println!("supervisor: restarted {name} (restart {exits_in_a_row} in a row)");
            }
            // The old handle stays: it reports the same exit again, and the back-off grows.
            Err(error) => println!("supervisor: could not restart {name}: {error:#}"),
        }
        started = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_has_kubelets_shape() {
        let kubelet = BackOff::scaled(Duration::from_secs(10));
        assert_eq!(kubelet.max, Duration::from_secs(300));
        assert_eq!(kubelet.reset_after, Duration::from_secs(600));
        let delays: Vec<u64> = (0..8).map(|n| kubelet.delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300]);
        let local = BackOff::scaled(Duration::from_secs(1));
        assert_eq!(local.delay(6), Duration::from_secs(30));
        assert_eq!(local.delay(u32::MAX), Duration::from_secs(30));
    }

    fn sh(script: String) -> Starter {
        Box::new(move || Ok(duct::cmd!("sh", "-c", &script).unchecked().start()?))
    }

    #[test]
    fn an_exiting_process_is_restarted_after_a_growing_back_off() {
        let back_off = BackOff::scaled(Duration::from_millis(500));
        let started = Instant::now();
        let supervised = Supervised::start("exits", sh("exit 3".into()), back_off).unwrap();
        // Restarted at once, then after 0.5 s: the third exit comes 0.5 s in at the earliest,
        // and the next start 1 s after it.
        while supervised.exits() < 3 {
            assert!(started.elapsed() < Duration::from_secs(20), "not restarted");
            std::thread::sleep(POLL);
        }
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(supervised.exits(), 3, "the back-off did not grow");
    }

    #[test]
    fn dropping_stops_the_process_with_sigterm() {
        let marker = dev_services::private_dir("supervise-test")
            .unwrap()
            .join("stopped");
        let script = format!(
            "trap 'touch {}; exit 0' TERM; while :; do sleep 0.05; done",
            marker.display()
        );
        let back_off = BackOff::scaled(Duration::from_millis(100));
        let supervised = Supervised::start("runs", sh(script), back_off).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(supervised.exits(), 0);
        drop(supervised);
        assert!(marker.exists(), "SIGTERM did not reach it");
    }
}

//! Undoing what a command started (containers, sandbox processes) on every way out: when the guard
//! drops, and when the run is interrupted (Ctrl-C, SIGTERM, SIGHUP), after which it exits 130.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

type Action = Box<dyn FnOnce() + Send>;

static PENDING: Mutex<Vec<(u64, Action)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Runs its action once: when dropped, or earlier if a signal arrives.
pub struct Guard(u64);

impl Drop for Guard {
    fn drop(&mut self) {
        let action = {
            let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
            let at = pending.iter().position(|(id, _)| *id == self.0);
            at.map(|at| pending.remove(at).1)
        };
        if let Some(action) = action {
            action();
        }
    }
}

impl Guard {
    /// Forgets the action: what it would undo is to stay.
    pub fn disarm(self) {
        PENDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _)| *id != self.0);
    }
}

/// Registers `action`; the newest runs first, as drops would.
pub fn on_exit(action: impl FnOnce() + Send + 'static) -> Guard {
    install_signal_handler();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((id, Box::new(action)));
    Guard(id)
}

/// Catches Ctrl-C, SIGTERM and SIGHUP from now on (also done by the first `on_exit`): call it before
/// starting anything that must not outlive an interrupted run.
pub fn install_signal_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            config::aws::block_on(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                    signal(SignalKind::hangup()),
                ) else {
                    let _ = ready_tx.send(());
                    return;
                };
                let _ = ready_tx.send(());
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                    _ = hangup.recv() => {}
                }
            });
            eprintln!("\ninterrupted: cleaning up …");
            // The lock is held until the process exits: the main thread goes on meanwhile, and
            // whatever it would start next registers its cleanup first, so it waits here instead.
            let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
            for (_, action) in std::mem::take(&mut *pending).into_iter().rev() {
                action();
            }
            std::process::exit(130);
        });
        // Handlers are in place before anything worth cleaning up starts.
        let _ = ready_rx.recv();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_guard_runs_its_action_once_when_dropped_and_a_disarmed_one_never() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        drop(on_exit(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let counter = runs.clone();
        on_exit(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .disarm();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let pending = PENDING.lock().unwrap();
        assert!(pending.is_empty(), "nothing is left registered");
    }
}

//! Group commit: many writers, one fsync.
//!
//! A writer first makes its change visible in sled, then calls [`GroupCommit::barrier`]. The
//! barrier returns once an fsync that *started after* the call has completed, so the change is
//! on disk. While one fsync runs, every writer that arrives queues behind it; when it ends, one
//! of them runs a single fsync for all. Sixteen concurrent writers therefore share roughly one
//! fsync per round instead of paying sixteen.
//!
//! An fsync failure poisons the store: after a failed fsync the kernel may have dropped the
//! dirty pages, so a later "successful" fsync proves nothing. Every later write then fails
//! (as a temporary error) until pecd is restarted and recovers from what is on disk.

use std::sync::{Condvar, Mutex};

pub struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    /// Last ticket handed out; a ticket is a request for an fsync that starts after it.
    requested: u64,
    /// Every ticket up to this one is durable.
    completed: u64,
    running: bool,
    poisoned: Option<String>,
    commits: u64,
    writes: u64,
}

impl GroupCommit {
    pub fn new() -> GroupCommit {
        GroupCommit {
            state: Mutex::new(State::default()),
            done: Condvar::new(),
        }
    }

    /// Blocks until everything written before this call is durable. `sync` is the fsync work;
    /// exactly one caller at a time runs it.
    pub fn barrier(&self, sync: impl Fn() -> std::io::Result<()>) -> Result<(), String> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.requested += 1;
        let ticket = st.requested;
        loop {
            if let Some(reason) = &st.poisoned {
                return Err(reason.clone());
            }
            if st.completed >= ticket {
                return Ok(());
            }
            if st.running {
                st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.running = true;
            let covers = st.requested;
            let previous = st.completed;
            drop(st);
            let result = sync();
            st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.running = false;
            match result {
                Ok(()) => {
                    st.completed = covers;
                    st.commits += 1;
                    st.writes += covers - previous;
                }
                Err(e) => {
                    tracing::error!(error = %e, "fsync of the store failed; refusing further writes");
                    st.poisoned = Some(format!("fsync failed: {e}"));
                }
            }
            self.done.notify_all();
        }
    }

    /// (fsync rounds, writes they made durable) since start.
    pub fn counters(&self) -> (u64, u64) {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (st.commits, st.writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn concurrent_writers_share_fsyncs() {
        let gc = Arc::new(GroupCommit::new());
        let syncs = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (gc, syncs) = (gc.clone(), syncs.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        gc.barrier(|| {
                            syncs.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(2));
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (commits, writes) = gc.counters();
        assert_eq!(writes, 320);
        assert_eq!(commits, syncs.load(Ordering::SeqCst));
        assert!(commits < 160, "320 barriers took {commits} fsyncs");
    }

    #[test]
    fn a_barrier_waits_for_an_fsync_that_started_after_it() {
        // A writer arriving while an fsync runs must not be released by that fsync.
        let gc = Arc::new(GroupCommit::new());
        let started = Arc::new(std::sync::Barrier::new(2));
        let generation = Arc::new(AtomicU64::new(0));
        let (gc2, started2, gen2) = (gc.clone(), started.clone(), generation.clone());
        let first = std::thread::spawn(move || {
            gc2.barrier(|| {
                started2.wait();
                std::thread::sleep(Duration::from_millis(50));
                gen2.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        });
        started.wait();
        let seen_at_entry = generation.load(Ordering::SeqCst);
        gc.barrier(|| {
            generation.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        first.join().unwrap();
        assert_eq!(seen_at_entry, 0);
        assert_eq!(
            generation.load(Ordering::SeqCst),
            2,
            "second barrier ran its own fsync"
        );
    }

    #[test]
    fn failure_poisons() {
        let gc = GroupCommit::new();
        let err = gc
            .barrier(|| Err(std::io::Error::other("disk gone")))
            .unwrap_err();
        assert!(err.contains("disk gone"));
        assert!(gc.barrier(|| Ok(())).is_err());
    }
}

//! Group commit: many writers, one fsync.
//!
//! A writer calls [`GroupCommit::barrier_with`], optionally handing over an item for the round
//! (a file to fdatasync, a directory to fsync, a metadata transaction to run before the fsync).
//! The barrier returns once a round that *started after* the call has completed, so the
//! writer's change is on disk. While one round runs, every writer that arrives queues behind
//! it; when it ends, one of them runs a single round for all. Sixteen concurrent writers
//! therefore share roughly one fsync per round instead of paying sixteen.
//!
//! An fsync failure poisons the store: after a failed fsync the kernel may have dropped the
//! dirty pages, so a later "successful" fsync proves nothing. Every later write then fails
//! (as a temporary error) until pecd is restarted and recovers from what is on disk.

use std::sync::{Condvar, Mutex};

pub struct GroupCommit<T = ()> {
    state: Mutex<State<T>>,
    done: Condvar,
}

struct State<T> {
    /// Items (for instance directories) the next fsync round must cover.
    pending: Vec<T>,
    /// Last ticket handed out; a ticket is a request for an fsync that starts after it.
    requested: u64,
    /// Every ticket up to this one is durable.
    completed: u64,
    running: bool,
    poisoned: Option<String>,
    commits: u64,
    writes: u64,
}

impl<T> GroupCommit<T> {
    pub fn new() -> GroupCommit<T> {
        GroupCommit {
            state: Mutex::new(State {
                pending: Vec::new(),
                requested: 0,
                completed: 0,
                running: false,
                poisoned: None,
                commits: 0,
                writes: 0,
            }),
            done: Condvar::new(),
        }
    }

    /// Blocks until everything written before this call is durable. `sync` is the fsync work;
    /// exactly one caller at a time runs it. `item`, when given, is something the round must
    /// cover: the round that releases this caller receives it, with everyone else's, in
    /// `sync`'s argument.
    pub fn barrier_with(
        &self,
        item: Option<T>,
        sync: impl Fn(Vec<T>) -> std::io::Result<()>,
    ) -> Result<(), String> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.pending.extend(item);
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
            let items = std::mem::take(&mut st.pending);
            drop(st);
            // A panic in the round must not leave `running` set with everyone waiting forever.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sync(items)))
                .unwrap_or_else(|_| Err(std::io::Error::other("panic in a commit round")));
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
        let gc: Arc<GroupCommit> = Arc::new(GroupCommit::new());
        let syncs = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (gc, syncs) = (gc.clone(), syncs.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        gc.barrier_with(None, |_| {
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
        let gc: Arc<GroupCommit> = Arc::new(GroupCommit::new());
        let started = Arc::new(std::sync::Barrier::new(2));
        let generation = Arc::new(AtomicU64::new(0));
        let (gc2, started2, gen2) = (gc.clone(), started.clone(), generation.clone());
        let first = std::thread::spawn(move || {
            gc2.barrier_with(None, |_| {
                started2.wait();
                std::thread::sleep(Duration::from_millis(50));
                gen2.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        });
        started.wait();
        let seen_at_entry = generation.load(Ordering::SeqCst);
        gc.barrier_with(None, |_| {
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
    fn every_item_reaches_the_round_that_releases_its_owner() {
        let gc = Arc::new(GroupCommit::<u32>::new());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let (gc, seen) = (gc.clone(), seen.clone());
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let item = t * 100 + i;
                        gc.barrier_with(Some(item), |items| {
                            std::thread::sleep(Duration::from_millis(1));
                            seen.lock().unwrap().extend(items);
                            Ok(())
                        })
                        .unwrap();
                        assert!(
                            seen.lock().unwrap().contains(&item),
                            "released before {item} was synced"
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(seen.lock().unwrap().len(), 200);
    }

    #[test]
    fn a_panicking_round_poisons_instead_of_hanging() {
        let gc: Arc<GroupCommit> = Arc::new(GroupCommit::new());
        let gc2 = gc.clone();
        let first = std::thread::spawn(move || gc2.barrier_with(None, |_| panic!("bug")));
        assert!(first.join().unwrap().is_err());
        let err = gc.barrier_with(None, |_| Ok(())).unwrap_err();
        assert!(err.contains("panic"), "{err}");
    }

    #[test]
    fn failure_poisons() {
        let gc: GroupCommit = GroupCommit::new();
        let err = gc
            .barrier_with(None, |_| Err(std::io::Error::other("disk gone")))
            .unwrap_err();
        assert!(err.contains("disk gone"));
        assert!(gc.barrier_with(None, |_| Ok(())).is_err());
    }
}

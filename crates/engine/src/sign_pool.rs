//! The signing pool (PEC.md §9.1: every message pecd emits is signed): the RSA signatures of
//! every certification step run on one fixed set of threads, as many as the machine has
//! cores. The documents of one transaction (ricevuta di accettazione, busta di trasporto,
//! presa in carico, receipts) are signed in parallel; however many connections submit at
//! once, no more signatures run together than there are cores, and none on the async
//! threads. Callers are blocking sections (see `crate::off_thread`) that wait for their
//! documents.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use pecd_signer::build::{Built, Unsigned};
use pecd_signer::smime::SignError;
use pecd_signer::Signer;

type Job = Box<dyn FnOnce() + Send>;

/// The jobs waiting and how many workers sleep for want of one.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    idle: usize,
}

/// The process's pool: one queue, one worker per core. A worker that finds a job waiting
/// takes it without sleeping; a sleeping worker is woken only for a job no busy worker will
/// take first, so a loaded pool hands jobs over without a context switch.
struct Pool {
    queue: Mutex<Queue>,
    wake: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn pool() -> &'static Arc<Pool> {
    static POOL: OnceLock<Arc<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let pool = Arc::new(Pool {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        });
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..workers {
            let pool = pool.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("pecd-sign-{i}"))
                .spawn(move || work(&pool));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "starting a signing thread failed");
            }
        }
        pool
    })
}

impl Pool {
    /// Queues `jobs`, waking as many sleeping workers as there are new jobs (at most).
    fn submit(&self, jobs: Vec<Job>) {
        let mut q = lock(&self.queue);
        let wake = q.idle.min(jobs.len());
        q.jobs.extend(jobs);
        drop(q);
        for _ in 0..wake {
            self.wake.notify_one();
        }
    }
}

/// A worker: runs the next job, sleeping only while the queue is empty. A job that panics
/// loses only its own result, not the worker.
fn work(pool: &Pool) {
    let mut q = lock(&pool.queue);
    loop {
        if let Some(job) = q.jobs.pop_front() {
            drop(q);
            let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            q = lock(&pool.queue);
        } else {
            q.idle += 1;
            q = pool
                .wake
                .wait(q)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            q.idle -= 1;
        }
    }
}

/// The results of one `seal_all`: filled by the jobs in any order; the caller is woken once,
/// by the last.
struct Batch {
    state: Mutex<(usize, Vec<Option<Result<Built, SignError>>>)>,
    done: Condvar,
}

/// Signs `docs` on the pool, in parallel, and returns them signed in the same order. Blocks
/// the calling thread until all are done: call it from a blocking section.
pub(crate) fn seal_all(signer: &Arc<Signer>, docs: Vec<Unsigned>) -> Result<Vec<Built>, SignError> {
    let count = docs.len();
    let batch = Arc::new(Batch {
        state: Mutex::new((count, (0..count).map(|_| None).collect())),
        done: Condvar::new(),
    });
    let jobs: Vec<Job> = docs
        .into_iter()
        .enumerate()
        .map(|(i, doc)| {
            let (signer, batch) = (signer.clone(), batch.clone());
            Box::new(move || {
                let started = std::time::Instant::now();
                let kind = doc.kind.name();
                let sealed = std::panic::catch_unwind(AssertUnwindSafe(|| doc.seal(&signer)))
                    .unwrap_or_else(|_| Err(gone()));
                let m = pecd_common::metrics::metrics();
                m.sign_seconds.observe(started.elapsed().as_secs_f64());
                if sealed.is_ok() {
                    pecd_common::metrics::count(&m.pec_emitted, "kind", kind);
                }
                let mut st = lock(&batch.state);
                st.1[i] = Some(sealed);
                st.0 -= 1;
                if st.0 == 0 {
                    batch.done.notify_one();
                }
            }) as Job
        })
        .collect();
    pool().submit(jobs);
    let mut st = lock(&batch.state);
    while st.0 > 0 {
        st = batch
            .done
            .wait(st)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    std::mem::take(&mut st.1)
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(gone())))
        .collect()
}

/// Signs one document on the pool.
pub(crate) fn seal(signer: &Arc<Signer>, doc: Unsigned) -> Result<Built, SignError> {
    let mut built = seal_all(signer, vec![doc])?;
    built.pop().ok_or_else(gone)
}

fn gone() -> SignError {
    SignError::Material("the signing pool lost a job".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn send_all(jobs: impl Iterator<Item = Job>) {
        pool().submit(jobs.collect());
    }

    #[test]
    fn every_job_runs_and_a_panic_does_not_stop_the_workers() {
        let (done, results) = channel::<usize>();
        send_all((0..8).map(|i| {
            let done = done.clone();
            Box::new(move || done.send(i).unwrap()) as Job
        }));
        let mut seen: Vec<usize> = (0..8).map(|_| results.recv().unwrap()).collect();
        seen.sort();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
        // A job that panics does not take its worker with it.
        send_all(std::iter::once(Box::new(|| panic!("boom")) as Job));
        let (done, results) = channel::<usize>();
        send_all((0..4).map(|i| {
            let done = done.clone();
            Box::new(move || done.send(i).unwrap()) as Job
        }));
        let mut after: Vec<usize> = (0..4).map(|_| results.recv().unwrap()).collect();
        after.sort();
        assert_eq!(after, [0, 1, 2, 3]);
    }

    #[test]
    fn jobs_queued_faster_than_the_workers_run_are_all_run() {
        let (done, results) = channel::<usize>();
        for round in 0..50 {
            let done = done.clone();
            send_all((0..7).map(move |i| {
                let done = done.clone();
                Box::new(move || {
                    std::thread::yield_now();
                    done.send(round * 7 + i).unwrap()
                }) as Job
            }));
        }
        let mut seen: Vec<usize> = (0..350).map(|_| results.recv().unwrap()).collect();
        seen.sort();
        assert_eq!(seen, (0..350).collect::<Vec<_>>());
    }
}

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
    /// Workers that started; with none, `submit` refuses (the jobs would never run).
    workers: std::sync::atomic::AtomicUsize,
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
            workers: std::sync::atomic::AtomicUsize::new(0),
        });
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..workers {
            let shared = pool.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("pecd-sign-{i}"))
                .spawn(move || work(&shared));
            match spawned {
                Ok(_) => {
                    pool.workers
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => tracing::error!(error = %e, "starting a signing thread failed"),
            }
        }
        pool
    })
}

impl Pool {
    /// Queues `jobs`, waking as many sleeping workers as there are new jobs (at most);
    /// `false` (and nothing queued) when no worker could be started.
    fn submit(&self, jobs: Vec<Job>) -> bool {
        if self.workers.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            return false;
        }
        let mut q = lock(&self.queue);
        let wake = q.idle.min(jobs.len());
        q.jobs.extend(jobs);
        drop(q);
        for _ in 0..wake {
            self.wake.notify_one();
        }
        true
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

type Slots = Vec<Option<Result<Built, SignError>>>;

/// The results of one `seal_all`: filled by the jobs in any order; the caller is woken once,
/// by the last.
struct Batch {
    /// Documents still unsigned, and each document's result once known.
    state: Mutex<(usize, Slots)>,
    done: Condvar,
}

impl Batch {
    /// Records document `i`'s result (the first one given counts; none once the caller has
    /// taken the results) and wakes the caller when it was the last.
    fn finish(&self, i: usize, result: Result<Built, SignError>) {
        let mut st = lock(&self.state);
        match st.1.get_mut(i) {
            Some(slot @ None) => *slot = Some(result),
            _ => return,
        }
        st.0 -= 1;
        if st.0 == 0 {
            self.done.notify_one();
        }
    }
}

/// A job's promise to report: dropped without [`Report::send`] (the job panicked anywhere,
/// or was dropped unrun), it reports the document lost, so the caller never waits forever.
struct Report {
    batch: Arc<Batch>,
    index: usize,
    sent: bool,
}

impl Report {
    fn new(batch: Arc<Batch>, index: usize) -> Report {
        Report {
            batch,
            index,
            sent: false,
        }
    }

    /// Reports the document's result. After it the caller may have taken the results
    /// already, so the drop that follows must not touch them.
    fn send(mut self, result: Result<Built, SignError>) {
        self.sent = true;
        self.batch.finish(self.index, result);
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if !self.sent {
            self.batch.finish(self.index, Err(gone()));
        }
    }
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
        .map(|(index, doc)| {
            let signer = signer.clone();
            let report = Report::new(batch.clone(), index);
            Box::new(move || {
                let started = std::time::Instant::now();
                let kind = doc.kind.name();
                let sealed = doc.seal(&signer);
                let m = pecd_common::metrics::metrics();
                m.sign_seconds.observe(started.elapsed().as_secs_f64());
                if sealed.is_ok() {
                    pecd_common::metrics::count(&m.pec_emitted, "kind", kind);
                }
                report.send(sealed);
            }) as Job
        })
        .collect();
    if !pool().submit(jobs) {
        return Err(gone());
    }
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
        assert!(pool().submit(jobs.collect()));
    }

    /// Found by the smtp_session fuzz target: a job that had reported was then dropped, and
    /// the drop reported again into the results the caller had already taken (an index out of
    /// bounds in the worker, after every answer).
    /// Found by the `smtp_session` fuzz target (every certified submission): a job reported
    /// its document, the caller took the results, then the job's report was dropped and
    /// reported again, indexing the emptied results (a panic in the worker, which libFuzzer
    /// counts as a crash).
    #[test]
    fn a_report_after_the_caller_took_the_results_changes_nothing() {
        let batch = Arc::new(Batch {
            state: Mutex::new((1, vec![None])),
            done: Condvar::new(),
        });
        let (sent, dropped) = (Report::new(batch.clone(), 0), Report::new(batch.clone(), 0));
        sent.send(Err(gone()));
        let taken = std::mem::take(&mut lock(&batch.state).1);
        assert!(matches!(taken.as_slice(), [Some(Err(_))]));
        // The unsent report of the same document, dropped late: no panic, no change.
        drop(dropped);
        batch.finish(0, Err(gone()));
        let st = lock(&batch.state);
        assert_eq!((st.0, st.1.len()), (0, 0));
    }

    /// A job that panics outside the signing itself still reports, so its caller is not
    /// left waiting.
    #[test]
    fn a_job_dropped_or_panicking_reports_its_document_lost() {
        let batch = Arc::new(Batch {
            state: Mutex::new((2, vec![None, None])),
            done: Condvar::new(),
        });
        let first = Report::new(batch.clone(), 0);
        let second = Report::new(batch.clone(), 1);
        let job: Job = Box::new(move || {
            let _keep = first;
            panic!("after the signature");
        });
        send_all(std::iter::once(job));
        drop(second);
        let mut st = lock(&batch.state);
        while st.0 > 0 {
            st = batch.done.wait(st).unwrap();
        }
        assert!(st.1.iter().all(|r| matches!(r, Some(Err(_)))));
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

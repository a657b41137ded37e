//! The signing pool (PEC.md §9.1: every message pecd emits is signed): the RSA signatures of
//! every certification step run on one fixed set of threads, as many as the machine has
//! cores. The documents of one transaction (ricevuta di accettazione, busta di trasporto,
//! presa in carico, receipts) are signed in parallel; however many connections submit at
//! once, no more signatures run together than there are cores, and none on the async
//! threads. Callers are blocking sections (see `crate::off_thread`) that wait for their
//! documents.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use pecd_signer::build::{Built, Unsigned};
use pecd_signer::smime::SignError;
use pecd_signer::Signer;

type Job = Box<dyn FnOnce() + Send>;

/// The process's pool: one queue, one worker per core.
struct Pool {
    jobs: Sender<Job>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..workers {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("pecd-sign-{i}"))
                .spawn(move || work(&queue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "starting a signing thread failed");
            }
        }
        Pool { jobs }
    })
}

/// A worker: takes the next job until the queue is gone. A job that panics loses only its
/// own result (its caller sees an error), not the worker.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else { return };
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

/// Signs `docs` on the pool, in parallel, and returns them signed in the same order. Blocks
/// the calling thread until all are done: call it from a blocking section.
pub(crate) fn seal_all(signer: &Arc<Signer>, docs: Vec<Unsigned>) -> Result<Vec<Built>, SignError> {
    let count = docs.len();
    let (done, results) = channel::<(usize, Result<Built, SignError>)>();
    for (i, doc) in docs.into_iter().enumerate() {
        let (signer, done) = (signer.clone(), done.clone());
        let job: Job = Box::new(move || {
            let started = std::time::Instant::now();
            let kind = doc.kind.name();
            let sealed = doc.seal(&signer);
            let m = pecd_common::metrics::metrics();
            m.sign_seconds.observe(started.elapsed().as_secs_f64());
            if sealed.is_ok() {
                pecd_common::metrics::count(&m.pec_emitted, "kind", kind);
            }
            let _ = done.send((i, sealed));
        });
        if pool().jobs.send(job).is_err() {
            return Err(gone());
        }
    }
    drop(done);
    let mut out: Vec<Option<Built>> = (0..count).map(|_| None).collect();
    for _ in 0..count {
        let (i, built) = results.recv().map_err(|_| gone())?;
        out[i] = Some(built?);
    }
    out.into_iter().map(|b| b.ok_or_else(gone)).collect()
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

    #[test]
    fn every_job_runs_and_a_panic_does_not_stop_the_workers() {
        let (done, results) = channel::<usize>();
        for i in 0..8 {
            let done = done.clone();
            pool()
                .jobs
                .send(Box::new(move || done.send(i).unwrap()))
                .unwrap();
        }
        let mut seen: Vec<usize> = (0..8).map(|_| results.recv().unwrap()).collect();
        seen.sort();
        assert_eq!(seen, (0..8).collect::<Vec<_>>());
        // A job that panics does not take its worker with it.
        pool().jobs.send(Box::new(|| panic!("boom"))).unwrap();
        let (done, results) = channel::<usize>();
        for i in 0..4 {
            let done = done.clone();
            pool()
                .jobs
                .send(Box::new(move || done.send(i).unwrap()))
                .unwrap();
        }
        let mut after: Vec<usize> = (0..4).map(|_| results.recv().unwrap()).collect();
        after.sort();
        assert_eq!(after, [0, 1, 2, 3]);
    }
}

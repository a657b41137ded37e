//! A whole POP3 conversation (`pecd_pop3::session::Session::run`) over an in-memory stream:
//! command lines (USER/PASS, AUTH PLAIN, STAT, LIST, UIDL, RETR, TOP, DELE, RSET, QUIT with
//! its deletions) against a scratch store holding luigi@pec.localhost (password
//! `Fuzz-Pass-1`) with three messages in INBOX. The first input byte's low 4 bits pick the
//! read chunk size.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use pecd_fuzz::{runtime, split_options, Recycled, Wire, World};
use pecd_pop3::session::Session;
use pecd_pop3::Context;
use tokio_util::sync::CancellationToken;

fn context() -> Arc<(Arc<Context>, World)> {
    static CTX: OnceLock<Recycled<(Arc<Context>, World)>> = OnceLock::new();
    CTX.get_or_init(Recycled::default).get(|| {
        runtime().block_on(async {
            let world = World::new(true).await;
            (
                Context::new(world.config.clone(), world.store.clone()),
                world,
            )
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let (_, chunk, input) = split_options(data);
    let world = context();
    runtime().block_on(async {
        let peer = "192.0.2.7:40000".parse().expect("address");
        let mut session = Session::new(
            &world.0,
            Wire::new(input, chunk),
            peer,
            CancellationToken::new(),
        );
        let _ = session.run().await;
    });
});

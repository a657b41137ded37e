//! A whole SMTP conversation (`pecd_smtp::session::Session::run`) over an in-memory stream:
//! command lines through smtp-proto, EHLO/AUTH/MAIL/RCPT, DATA and BDAT through the dot
//! and chunk receivers, and the end of DATA through the engine into a scratch store. The
//! first input byte picks the read chunk size (low 4 bits), the listener (bit 4: 465 instead
//! of 25) and whether the session counts as under TLS (bit 5: AUTH allowed). Mailbox
//! luigi@pec.localhost, password `Fuzz-Pass-1` (AUTH PLAIN AGx1aWdpQHBlYy5sb2NhbGhvc3QARnV6ei1QYXNzLTE=).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use pecd_fuzz::{runtime, split_options, Recycled, Wire, World};
use pecd_smtp::context::Context;
use pecd_smtp::ehlo::Listener;
use pecd_smtp::session::Session;
use tokio_util::sync::CancellationToken;

fn context() -> Arc<(Arc<Context>, World)> {
    static CTX: OnceLock<Recycled<(Arc<Context>, World)>> = OnceLock::new();
    CTX.get_or_init(Recycled::default).get(|| {
        runtime().block_on(async {
            let world = World::new(false).await;
            let engine = pecd_engine::Engine::new(world.config.clone(), world.store.clone())
                .await
                .expect("engine");
            let ctx = Context::new(world.config.clone(), world.store.clone(), engine);
            (ctx, world)
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let (options, chunk, input) = split_options(data);
    let listener = if options & 0x10 != 0 {
        Listener::Submissions
    } else {
        Listener::Smtp
    };
    let tls = options & 0x20 != 0;
    let world = context();
    let ctx = &world.0;
    runtime().block_on(async {
        let peer = "192.0.2.7:40000".parse().expect("address");
        let mut session = Session::new(
            ctx,
            Wire::new(input, chunk),
            listener,
            tls,
            peer,
            CancellationToken::new(),
        );
        let _ = session.run().await;
    });
});

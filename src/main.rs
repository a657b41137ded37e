//! pecd: wiring only. Config → store → certificates and TLS → services → signals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

mod verify;

use clap::{Parser, Subcommand};
use pecd_common::throttle::{LoginThrottle, Policy};
use pecd_common::{certs, config::Config, tls};
use pecd_control::{ops::Operations, server};
use pecd_smtp::context::Context;
use pecd_smtp::ehlo::Listener;
use pecd_smtp::server as smtp_server;
use pecd_store::{Retention, Store, StoreError};
use std::collections::BTreeMap;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown waits for requests in flight before syncing the store anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Parser)]
#[command(
    name = "pecd",
    version,
    about = "PEC (Posta Elettronica Certificata) provider server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (without --config: config/pecd.toml if present, else embedded defaults).
    Serve {
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Classify and verify PEC messages (ours or any provider's): kind, signature, signer,
    /// chain, provider-index match, daticert summary; exit 0 when every file is valid.
    Verify {
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// CA certificates (PEM) the signer must chain to [default: peers.trust_anchors,
        /// else the system trust store].
        #[arg(long, value_name = "FILE")]
        trust_anchors: Option<PathBuf>,
        /// A certificate revocation list (PEM or DER) to check the chain against; repeat for
        /// more [default: peers.crls].
        #[arg(long = "crls", value_name = "FILE")]
        crls: Vec<PathBuf>,
        /// Judge certificate validity at the signature's signingTime (old messages whose
        /// certificates have expired since).
        #[arg(long)]
        at_signing_time: bool,
        /// Refuse a signer absent from the provider index (otherwise only reported).
        #[arg(long)]
        require_index: bool,
        /// One JSON document for all files.
        #[arg(long)]
        json: bool,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// The provider index (PEC.md §8).
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Print our own provider entry (LDIF, IGPEC schema) for peers to add.
    Export {
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
}

/// Makes glibc return large freed blocks to the system. Its default raises the mmap threshold
/// after the first large free, after which argon2's 19 MiB blocks stay in each thread's arena
/// for good: with many blocking threads that was megabytes of resident memory per login.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_allocator_retention() {
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_allocator_retention() {}

/// How often pecd looks whether freed heap memory should go back to the system.
const TRIM_INTERVAL: Duration = Duration::from_secs(2);

/// Under reads only (no store write), memory is still handed back this often.
const TRIM_AT_LEAST_EVERY: Duration = Duration::from_secs(30);

/// Hands the heap's free pages back to the system once a burst of work is over. glibc gives
/// memory back only from the top of each arena; after a burst of sessions, messages and
/// store reads on many threads (each arena serving a few of them), the free pages in the
/// middle stayed resident, hundreds of megabytes once the load was over. `malloc_trim` walks
/// every arena under its lock, so it runs when the store has seen no commit for a whole
/// interval after having seen some (the end of a burst), or every [`TRIM_AT_LEAST_EVERY`]
/// under read-only load, and never while writes keep coming (their memory is reused).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
async fn return_freed_memory(store: Store) {
    let mut tick = tokio::time::interval(TRIM_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_rounds = store.commit_rounds();
    let mut rounds_at_trim = last_rounds;
    let mut last_trim = std::time::Instant::now();
    loop {
        tick.tick().await;
        let rounds = store.commit_rounds();
        let quiet = rounds == last_rounds;
        last_rounds = rounds;
        if !trim_due(quiet, rounds != rounds_at_trim, last_trim.elapsed()) {
            continue;
        }
        // SAFETY: malloc_trim only releases free pages; it takes the arenas' own locks.
        let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
        rounds_at_trim = rounds;
        last_trim = std::time::Instant::now();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
/// Whether to trim now: the store was `quiet` for the last interval and either wrote since
/// the last trim (a burst just ended) or the last trim is old (read-only load).
fn trim_due(quiet: bool, wrote_since_trim: bool, since_trim: Duration) -> bool {
    quiet && (wrote_since_trim || since_trim >= TRIM_AT_LEAST_EVERY)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
async fn return_freed_memory(_store: Store) {}

/// Raises the soft limit on open files to the hard one, and warns when even that is below
/// what the connection caps allow: every connection is a descriptor, and running out of them
/// fails store writes and relay connections for everyone, not only for the client that
/// opened the last socket.
fn raise_open_files(config: &Config) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
        limit.rlim_cur
    };
    // The two SMTP listeners count apart; 256 for the store, the relay and the control socket.
    let needed = config.imap.connection_total()
        + config.pop3.connection_total()
        + 2 * config.smtp.connection_total()
        + 256;
    if (soft as u128) < needed as u128 {
        tracing::warn!(
            open_files = soft as u64,
            needed,
            "the open-file limit is below what the connection caps allow; raise it (systemd: LimitNOFILE) or lower the caps"
        );
    }
}

fn main() -> ExitCode {
    bound_allocator_retention();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Verify {
            config,
            trust_anchors,
            crls,
            at_signing_time,
            require_index,
            json,
            files,
        } => verify::verify(verify::VerifyArgs {
            config,
            trust_anchors,
            crls,
            at_signing_time,
            require_index,
            json,
            files,
        }),
        Command::Index {
            command: IndexCommand::Export { config },
        } => verify::index_export(config),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("pecd: {message}");
    ExitCode::FAILURE
}

fn serve(config_path: Option<PathBuf>) -> ExitCode {
    let (config, source) = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    tracing::info!(config = %source, "starting pecd {}", env!("CARGO_PKG_VERSION"));
    raise_open_files(&config);
    pecd_archive::login::configure_cache(&config.auth);
    // The store lock comes first: a second pecd on the same data must stop before it touches
    // anything (certificates, the control socket).
    let store = match Store::open_with(
        &config.store.path,
        Retention::default(),
        config.store.cache_bytes,
    ) {
        Ok(s) => s,
        Err(e @ StoreError::Locked(_)) => return fail(format!("{e}; refusing to start")),
        Err(e) => {
            return fail(format!(
                "cannot open the store at {}: {e}",
                config.store.path.display()
            ))
        }
    };
    match certs::ensure_dev_certificates(&config) {
        Ok(created) => {
            for path in created.0 {
                tracing::warn!(path = %path.display(), "created a development certificate file");
            }
        }
        Err(e) => return fail(e),
    }
    let certificate = match tls::ServerCertificate::load(&config.tls.cert, &config.tls.key) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let tls = match tls::server_config(certificate.clone()) {
        Ok(t) => tokio_rustls::TlsAcceptor::from(t),
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(Arc::new(config), store, tls, certificate)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Binds the listener of config key `key`, logs it and records its bound address under `name`
/// for `pecctl status` (tests bind port 0 and read the port there).
async fn listen(
    key: &str,
    addr: std::net::SocketAddr,
    name: &str,
    bound: &mut BTreeMap<String, String>,
) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("{key} {addr}: cannot listen: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!(listener = name, address = %local, "listening");
    bound.insert(name.to_string(), local.to_string());
    Ok(listener)
}

/// The Unix signals pecd answers: TERM and INT stop it, HUP reloads trust and certificates.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

/// The running services and what shutdown needs to stop them.
struct Running {
    shutdown: CancellationToken,
    tracker: TaskTracker,
    services: Vec<JoinHandle<()>>,
    control: JoinHandle<()>,
}

/// The server's life on the runtime: the engine and its relay and timers, the services, then
/// SIGHUP reloads until a stop signal, then the drain.
async fn run(
    config: Arc<Config>,
    store: Store,
    tls: tokio_rustls::TlsAcceptor,
    certificate: Arc<tls::ServerCertificate>,
) -> anyhow::Result<()> {
    let term = signal(SignalKind::terminate())?;
    let int = signal(SignalKind::interrupt())?;
    let engine = pecd_engine::Engine::new(config.clone(), store.clone())
        .await
        .map_err(|e| anyhow::anyhow!("PEC engine: {e}"))?;
    // The relay to other providers and the 12 h / 24 h timers run for the process's life.
    tokio::spawn(engine.clone().run_relay());
    tokio::spawn(engine.clone().run_timers());
    tokio::spawn(return_freed_memory(store.clone()));
    let mut signals = Signals {
        term,
        int,
        hup: signal(SignalKind::hangup())?,
    };
    // The domains served now: provider.domains, then those the archive enables; one set,
    // the engine's, so an enabled domain is served at once.
    let domains = engine.local_domains().clone();
    let archive = pecd_archive::Archive::open(store.clone(), config.clone(), domains)
        .await
        .map_err(|e| anyhow::anyhow!("provisioning archive: {e}"))?;
    let lifecycle = pecd_lifecycle::Lifecycle::new(archive.clone(), engine.clone(), config.clone());
    tokio::spawn(lifecycle.clone().run_forever());
    let running =
        start_services(&config, &store, &engine, &lifecycle, (&tls, &certificate)).await?;
    wait_for_stop(&mut signals, &engine, &certificate, &config).await;
    stop(running, &store).await
}

/// Binds every listener and the control socket and starts their services.
async fn start_services(
    config: &Arc<Config>,
    store: &Store,
    engine: &Arc<pecd_engine::Engine>,
    lifecycle: &pecd_lifecycle::Lifecycle,
    (tls, certificate): (&tokio_rustls::TlsAcceptor, &Arc<tls::ServerCertificate>),
) -> anyhow::Result<Running> {
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    // One brute-force protection for all three services: a guesser gains nothing by
    // switching protocol.
    let logins = Arc::new(LoginThrottle::new(Policy::from(&**config)));
    let smtp = Context::with_logins(
        config.clone(),
        store.clone(),
        engine.clone(),
        logins.clone(),
    );
    let mut bound = BTreeMap::new();
    let mut services = Vec::new();
    for (key, addr, kind) in [
        ("listen.smtp", config.listen.smtp, Listener::Smtp),
        (
            "listen.submissions",
            config.listen.submissions,
            Listener::Submissions,
        ),
    ] {
        let listener = listen(key, addr, kind.name(), &mut bound).await?;
        services.push(tokio::spawn(smtp_server::serve(
            smtp.clone(),
            listener,
            kind,
            tls.clone(),
            shutdown.clone(),
            tracker.clone(),
        )));
    }

    let pop3 = pecd_pop3::Context::with_logins(config.clone(), store.clone(), logins.clone());
    let listener = listen("listen.pop3s", config.listen.pop3s, "pop3s", &mut bound).await?;
    services.push(tokio::spawn(pecd_pop3::server::serve(
        pop3,
        listener,
        tls.clone(),
        shutdown.clone(),
        tracker.clone(),
    )));

    let imap = pecd_imap::Context::with_logins(config.clone(), store.clone(), logins.clone());
    let listener = listen("listen.imaps", config.listen.imaps, "imaps", &mut bound).await?;
    services.push(tokio::spawn(pecd_imap::server::serve(
        imap,
        listener,
        tls.clone(),
        shutdown.clone(),
        tracker.clone(),
    )));

    let http = pecd_http::HttpState::new(lifecycle.clone(), config.clone(), logins.clone());
    let listener = listen("http.listen", config.http.listen, "https", &mut bound).await?;
    let http_tls = tokio_rustls::TlsAcceptor::from(
        tls::http_server_config(certificate.clone())
            .map_err(|e| anyhow::anyhow!("HTTPS TLS configuration: {e}"))?,
    );
    services.push(tokio::spawn(pecd_http::server::serve_tls(
        listener,
        http_tls,
        pecd_http::router(http),
        config.http.max_connections,
        shutdown.clone(),
        tracker.clone(),
    )));
    let listener = listen(
        "http.metrics_listen",
        config.http.metrics_listen,
        "metrics",
        &mut bound,
    )
    .await?;
    services.push(tokio::spawn(pecd_http::server::serve_plain(
        listener,
        pecd_http::metrics::router(),
        shutdown.clone(),
        tracker.clone(),
    )));

    let socket = config.control.socket.clone();
    let listener = server::bind(&socket)
        .map_err(|e| anyhow::anyhow!("control.socket {}: {e}", socket.display()))?;
    let ops = Arc::new(Operations::new(
        store.clone(),
        lifecycle.clone(),
        engine.clone(),
        config.clone(),
        bound,
    ));
    let control = tokio::spawn(server::serve(
        listener,
        socket.clone(),
        ops,
        shutdown.clone(),
        tracker.clone(),
    ));
    tracing::info!(socket = %socket.display(), store = %store.path().display(), "pecd ready");
    Ok(Running {
        shutdown,
        tracker,
        services,
        control,
    })
}

/// Serves SIGHUP reloads until SIGTERM or SIGINT.
async fn wait_for_stop(
    signals: &mut Signals,
    engine: &pecd_engine::Engine,
    certificate: &tls::ServerCertificate,
    config: &Config,
) {
    loop {
        tokio::select! {
            _ = signals.term.recv() => {
                tracing::info!("SIGTERM: shutting down");
                break;
            }
            _ = signals.int.recv() => {
                tracing::info!("SIGINT: shutting down");
                break;
            }
            // PEC.md §8.3: the local copy of the index is refreshed without a restart; so are
            // the revocation lists an operator's job fetched and a renewed TLS certificate.
            _ = signals.hup.recv() => {
                match engine.reload_trust() {
                    Ok((providers, crls)) => tracing::info!(providers, crls, "SIGHUP: provider index, trust anchors and revocation lists reloaded"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: reload failed; the previous index, trust anchors and revocation lists stay in force"),
                }
                match certificate.reload(&config.tls.cert, &config.tls.key) {
                    Ok(()) => tracing::info!(cert = %config.tls.cert.display(), "SIGHUP: TLS certificate reloaded"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: TLS certificate not reloaded; the previous one stays in force"),
                }
            }
        }
    }
}

/// Stops accepting, waits up to [`DRAIN_TIMEOUT`] for requests in flight, then syncs the store.
async fn stop(running: Running, store: &Store) -> anyhow::Result<()> {
    running.shutdown.cancel();
    running.control.await?;
    for service in running.services {
        service.await?;
    }
    running.tracker.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, running.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {DRAIN_TIMEOUT:?}; syncing the store anyway");
    }
    store.sync().await?;
    tracing::info!("pecd stopped");
    Ok(())
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn memory_is_trimmed_after_a_burst_or_now_and_then_never_while_writes_go_on() {
        let soon = Duration::from_secs(2);
        assert!(trim_due(true, true, soon), "a burst just ended");
        assert!(!trim_due(false, true, soon), "writes are still coming");
        assert!(!trim_due(false, true, TRIM_AT_LEAST_EVERY * 10));
        assert!(
            !trim_due(true, false, soon),
            "nothing happened since the last trim"
        );
        assert!(trim_due(true, false, TRIM_AT_LEAST_EVERY), "read-only load");
    }
}

//! `handoff`: CLI -> config -> tracing -> store -> adapters -> run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use handoff::app;
use handoff::clock::Clock;
use handoff::config::{Config, LogFormat};
use handoff::outbox::Adapters;
use handoff::store::{DatabaseUrl, PgStore, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

/// Hands customer conversations from Discord and web chat to a support team
/// in Slack, Teams or the built-in inbox.
#[derive(Debug, Parser)]
#[command(name = "handoff", version, about)]
struct Cli {
    /// Config file; defaults to ./handoff.toml when it exists.
    #[arg(long, global = true, env = "HANDOFF_CONFIG")]
    config: Option<PathBuf>,
    /// Log format (overrides `log.format`).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bot: HTTP endpoints, event processing and delivery.
    Serve {
        /// Address to listen on (overrides `listen` / HANDOFF_LISTEN).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and print it, secrets redacted.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let default_file = PathBuf::from("handoff.toml");
    let file = cli
        .config
        .clone()
        .or_else(|| default_file.exists().then_some(default_file));
    let mut config = Config::load(file.as_deref(), &env)?;
    if let Some(format) = cli.log_format {
        config.log.format = format;
    }
    if let Command::Serve {
        listen: Some(listen),
    } = &cli.command
    {
        config.listen.clone_from(listen);
        config.listen_addr()?;
    }
    if let Command::CheckConfig = cli.command {
        print!("{}", config.describe());
        return Ok(());
    }
    init_tracing(&config);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let url = config
            .secrets
            .database_url
            .as_ref()
            .map_or(DatabaseUrl::DEFAULT, |s| s.expose());
        let max = config.database.max_connections;
        match DatabaseUrl::parse(url)? {
            DatabaseUrl::Sqlite(url) => {
                with_store(SqliteStore::connect(&url, max).await?, cli.command, &config).await
            }
            DatabaseUrl::Postgres(url) => {
                with_store(PgStore::connect(&url, max).await?, cli.command, &config).await
            }
        }
    })
}

async fn with_store<S: Store>(store: S, command: Command, config: &Config) -> anyhow::Result<()> {
    match command {
        Command::Migrate => {
            store.migrate().await?;
            tracing::info!(store = store.backend(), "Migrations applied.");
            Ok(())
        }
        Command::Serve { .. } => {
            let addr = config.listen_addr()?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            // Platform adapters register here as their crates land.
            let adapters = Adapters::default();
            app::serve(store, config, adapters, listener, Clock::System, shutdown).await?;
            Ok(())
        }
        Command::CheckConfig => Ok(()),
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("Shutdown requested; finishing in-flight work.");
    shutdown.cancel();
}

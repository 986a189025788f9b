//! `handoff`: CLI -> config -> tracing -> store -> adapters -> run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use handoff::analysis::Analyzer;
use handoff::clock::Clock;
use handoff::config::{Config, LogFormat};
use handoff::escalation::Intelligence;
use handoff::outbox::Adapters;
use handoff::store::{DatabaseUrl, PgStore, SqliteStore, Store};
use handoff::{app, batch};
use std::io::Write as _;
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
    /// Analyse JSON lines from stdin (`{"text": ...}`), one result per line.
    Analyze {
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Manage agents.
    Agent {
        #[command(subcommand)]
        action: AgentCommand,
    },
    /// Print case figures (volume by reason and route, time to claim, to
    /// first reply and to resolution, reopens, CSAT, intent corrections).
    Report {
        /// The window: `7d`, `24h`, `90m`.
        #[arg(long, default_value = "7d")]
        since: String,
    },
    /// Check the Slack set-up (token, scopes, the bot in every routed
    /// channel, a way for events to arrive), the Teams set-up (a token can
    /// be had, the key set can be fetched) and the Discord set-up (token,
    /// Message Content intent, permissions in each support channel), and
    /// say what to fix.
    Doctor,
    /// Write the Teams app package (manifest.json and icons, zipped) to
    /// upload in Teams; the bot id is TEAMS_APP_ID.
    TeamsPackage {
        /// Where to write the zip.
        #[arg(long, default_value = "handoff-teams.zip")]
        out: PathBuf,
        /// The app's short name in Teams.
        #[arg(long, default_value = "handoff")]
        name: String,
        /// The company shown as the app's developer.
        #[arg(long, default_value = "handoff")]
        developer: String,
        /// The app package version (raise it for each re-upload).
        #[arg(long, default_value = "1.0.0")]
        version: String,
    },
    /// Print the URL that adds the Discord bot to a server with exactly
    /// the permissions handoff needs.
    DiscordInvite {
        /// The application id (developer portal, General Information);
        /// without it, it is read with DISCORD_TOKEN.
        #[arg(long)]
        application_id: Option<String>,
    },
    /// Print the Slack app manifest for this handoff (create the app from it).
    SlackManifest {
        /// For a handoff without a public URL: Socket Mode, no request URLs.
        #[arg(long)]
        socket_mode: bool,
    },
    /// Dry-run the configured triggers and routes over saved conversations
    /// (JSON lines, one conversation per line; `-` reads stdin).
    Replay {
        /// The file of conversations.
        file: PathBuf,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Add an agent who signs in to the inbox: appends an `[[agents]]`
    /// entry with an argon2 password hash to the config file. The password
    /// comes from HANDOFF_AGENT_PASSWORD or the first line of stdin.
    Add {
        /// The agent's key (`alice`); also their inbox login unless --login.
        id: String,
        /// The name customers and colleagues see (default: the key).
        #[arg(long)]
        name: Option<String>,
        /// The inbox login (default: the key).
        #[arg(long)]
        login: Option<String>,
    },
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
    if let Command::Analyze { .. } = cli.command {
        // What the analyser shares needs no config, so it builds before
        // and while config loads: the default taxonomy (which loading
        // config needs) and then the lexicon on another core, the
        // person-word table here meanwhile. (`Analyzer::new` waits for
        // any still building.)
        std::thread::spawn(handoff::analysis::prepare);
        handoff::analysis::human::prepare();
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let default_file = PathBuf::from("handoff.toml");
    let file = cli
        .config
        .clone()
        .or_else(|| default_file.exists().then_some(default_file));
    // `agent add` creates the config file it is pointed at.
    let creating = matches!(cli.command, Command::Agent { .. })
        && file.as_deref().is_some_and(|f| !f.exists());
    let mut config = Config::load(file.as_deref().filter(|_| !creating), &env)?;
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
    match &cli.command {
        Command::CheckConfig => {
            print!("{}", config.describe());
            return Ok(());
        }
        Command::Analyze { threads } => return analyze(&config, *threads),
        Command::SlackManifest { socket_mode } => {
            print!(
                "{}",
                handoff_slack::doctor::manifest(&config.public_url, *socket_mode)
            );
            return Ok(());
        }
        Command::TeamsPackage {
            out,
            name,
            developer,
            version,
        } => {
            let app_id = config
                .secrets
                .teams_app_id
                .clone()
                .context("TEAMS_APP_ID must be set: it is the bot id the package names")?;
            let zip =
                handoff_teams::package::app_package(&handoff_teams::package::PackageOptions {
                    app_id,
                    name: name.clone(),
                    public_url: config.public_url.clone(),
                    version: version.clone(),
                    developer: developer.clone(),
                })?;
            std::fs::write(out, zip).with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "Wrote {}. In Teams: Apps -> Manage your apps -> Upload an app -> Upload a custom app, then add it to the team whose channels the routes name.",
                out.display()
            );
            return Ok(());
        }
        Command::Doctor => {
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            return runtime.block_on(doctor(&config));
        }
        Command::DiscordInvite { application_id } => {
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            return runtime.block_on(discord_invite(&config, application_id.as_deref()));
        }
        Command::Replay { file, json } => return replay(&config, file, *json),
        Command::Agent {
            action: AgentCommand::Add { id, name, login },
        } => {
            let path = file.unwrap_or_else(|| PathBuf::from("handoff.toml"));
            return add_agent(&config, &path, id, name.as_deref(), login.as_deref(), &env);
        }
        _ => {}
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
        Command::Report { since } => {
            let window = handoff::report::parse_window(&since).with_context(|| {
                format!("--since {since:?} is not a window like 7d, 24h or 90m")
            })?;
            // Read-only: a database behind this binary's schema is an
            // error that says to migrate, not a silent migration.
            store.ready().await?;
            let cases = store
                .cases_since(chrono::Utc::now() - window, i64::MAX)
                .await?;
            print!("{}", handoff::report::CaseReport::of(&cases).table(&since));
            Ok(())
        }
        Command::CheckConfig
        | Command::Doctor
        | Command::DiscordInvite { .. }
        | Command::SlackManifest { .. }
        | Command::TeamsPackage { .. }
        | Command::Analyze { .. }
        | Command::Replay { .. }
        | Command::Agent { .. } => Ok(()),
    }
}

/// Prints each Slack, Teams and Discord check with what to fix; fails when
/// any check does.
async fn doctor(config: &Config) -> anyhow::Result<()> {
    let mut findings = Vec::new();
    match config.slack_settings() {
        Some(settings) => {
            let api = handoff_slack::SlackApi::new(
                &settings.api_url,
                &settings.bot_token,
                settings.app_token.as_deref(),
            )?;
            findings.extend(
                handoff_slack::doctor::check(&settings, &api, &config.slack_channels()).await,
            );
        }
        None => {
            println!(
                "Slack is not set up (SLACK_BOT_TOKEN is unset): cards go to the built-in inbox."
            );
            anyhow::ensure!(
                config.slack_channels().is_empty(),
                "routes send cards to the Slack channels {}, so SLACK_BOT_TOKEN must be set",
                config.slack_channels().join(", ")
            );
        }
    }
    match config.teams_settings() {
        Some(settings) => {
            findings.extend(
                handoff_teams::doctor::check(&settings, handoff_teams::api::client()?).await,
            );
        }
        None => {
            println!("Teams is not set up (TEAMS_APP_ID and TEAMS_APP_PASSWORD are not both set).");
            anyhow::ensure!(
                config.teams_channels().is_empty(),
                "routes send cards to the Teams channels {}, so TEAMS_APP_ID and TEAMS_APP_PASSWORD must be set",
                config.teams_channels().join(", ")
            );
        }
    }
    match config.discord_settings() {
        Some(settings) => {
            let api = handoff_discord::DiscordApi::new(&settings.api_url, &settings.token)?;
            findings.extend(handoff_discord::doctor::check(&api, &settings.support_channels).await);
        }
        None => println!("Discord is not set up (DISCORD_TOKEN is unset)."),
    }
    let mut problems = 0;
    for f in &findings {
        println!("{} {}", if f.ok { "ok " } else { "FIX" }, f.what);
        if let Some(fix) = &f.fix {
            problems += 1;
            println!("    {fix}");
        }
    }
    anyhow::ensure!(problems == 0, "{problems} check(s) failed; see above");
    Ok(())
}

/// Prints the bot's invite URL.
async fn discord_invite(config: &Config, application_id: Option<&str>) -> anyhow::Result<()> {
    let id = match (application_id, config.discord_settings()) {
        (Some(id), _) => id.to_owned(),
        (None, Some(settings)) => {
            let api = handoff_discord::DiscordApi::new(&settings.api_url, &settings.token)?;
            handoff_discord::doctor::application_id(&api)
                .await
                .context("reading the application id with DISCORD_TOKEN failed")?
        }
        (None, None) => anyhow::bail!(
            "pass --application-id (developer portal, General Information) or set DISCORD_TOKEN"
        ),
    };
    anyhow::ensure!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
        "{id:?} is not a Discord application id"
    );
    println!("{}", handoff_discord::doctor::invite_url(&id));
    Ok(())
}

fn analyze(config: &Config, threads: Option<usize>) -> anyhow::Result<()> {
    let analyzer = Analyzer::new(&config.analysis.settings());
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let mut input = std::io::stdin().lock();
    let mut output = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let (lines, errors) = batch::analyze(&analyzer, &mut input, &mut output, threads)
        .context("reading or writing the JSON lines failed")?;
    output.flush().context("writing the results failed")?;
    if errors > 0 {
        eprintln!("analyzed {lines} lines; {errors} were errors (see their output lines)");
    }
    Ok(())
}

fn replay(config: &Config, file: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let intel = Intelligence::new(config)?;
    let mut output = std::io::BufWriter::new(std::io::stdout().lock());
    if file == std::path::Path::new("-") {
        batch::replay(&intel, &mut std::io::stdin().lock(), &mut output, json)?;
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        batch::replay(&intel, &mut std::io::BufReader::new(f), &mut output, json)?;
    }
    output.flush().context("writing the results failed")?;
    Ok(())
}

fn add_agent(
    config: &Config,
    path: &std::path::Path,
    id: &str,
    name: Option<&str>,
    login: Option<&str>,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !id.trim().is_empty() && !config.agents.iter().any(|a| a.id == id),
        "an agent with the key {id:?} already exists in {} (or the key is empty)",
        path.display()
    );
    let password = match env.get("HANDOFF_AGENT_PASSWORD") {
        Some(p) => p.clone(),
        None => {
            eprintln!("Password for {id} (one line on stdin):");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the password")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    anyhow::ensure!(
        password.chars().count() >= 8,
        "the password must be at least 8 characters"
    );
    let quote = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let entry = format!(
        "\n[[agents]]\nid = {}\nname = {}\ninbox_login = {}\npassword_hash = {}\n",
        quote(id),
        quote(name.unwrap_or(id)),
        quote(login.unwrap_or(id)),
        quote(&handoff_inbox::auth::hash_password(&password)),
    );
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    f.write_all(entry.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "Added agent {id} to {}; they sign in at /inbox as {}.",
        path.display(),
        login.unwrap_or(id)
    );
    Ok(())
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

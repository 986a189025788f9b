//! The real `handoff` binary: commands, bad input, and a served process
//! from start to graceful stop, on SQLite and PostgreSQL.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use sqlx::Connection;

fn handoff(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handoff"));
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("HANDOFF_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[test]
fn version_and_help_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (out, stdout, _) = run(handoff(dir.path()).arg("--version"));
    assert!(out.status.success());
    assert!(stdout.starts_with("handoff "), "{stdout}");
    let (out, stdout, _) = run(handoff(dir.path()).arg("--help"));
    assert!(out.status.success());
    for sub in ["serve", "migrate", "check-config"] {
        assert!(stdout.contains(sub), "{stdout}");
    }
}

#[test]
fn check_config_prints_the_effective_config_without_secret_values() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("handoff.toml"),
        "[outbox]\nmax_attempts = 5\n",
    )
    .unwrap();
    let (out, stdout, stderr) = run(handoff(dir.path())
        .arg("check-config")
        .env("HANDOFF_LISTEN", "127.0.0.1:9999")
        .env("SLACK_BOT_TOKEN", "xoxb-do-not-print")
        .env("DATABASE_URL", "postgres://u:pw-do-not-print@db/x"));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("max_attempts = 5"),
        "the file is read by default"
    );
    assert!(stdout.contains("listen = \"127.0.0.1:9999\""));
    assert!(stdout.contains("# SLACK_BOT_TOKEN: set"));
    assert!(stdout.contains("# DISCORD_TOKEN: unset"));
    assert!(!stdout.contains("do-not-print") && !stderr.contains("do-not-print"));
    assert!(
        !dir.path().join("handoff.db").exists(),
        "check-config touches no database"
    );
}

#[test]
fn an_unreadable_or_invalid_config_fails_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) =
        run(handoff(dir.path()).args(["--config", "missing.toml", "check-config"]));
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot read config file missing.toml"),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("bad.toml"),
        "[outbox]\nbatch_size = \"lots\"\n",
    )
    .unwrap();
    let (out, _, stderr) = run(handoff(dir.path()).args(["--config", "bad.toml", "serve"]));
    assert!(!out.status.success());
    assert!(
        stderr.contains("batch_size") && stderr.contains("bad.toml"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("handoff.db").exists(),
        "no database was created"
    );
}

#[test]
fn a_bad_database_url_fails_clearly_without_leaking_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(handoff(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", "mysql://db/x"));
    assert!(!out.status.success());
    assert!(stderr.contains("unsupported scheme \"mysql\""), "{stderr}");

    let (out, _, stderr) = run(handoff(dir.path())
        .arg("migrate")
        .env("DATABASE_URL", "postgres://nobody:sekret@127.0.0.1:1/none"));
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot open the database postgres://nobody:***@127.0.0.1:1/none"),
        "{stderr}"
    );
    assert!(!stderr.contains("sekret"), "{stderr}");
}

/// Marks a database as migrated by a future handoff (schema version 9999)
/// and adds a row that must survive the refused migration.
macro_rules! from_the_future {
    ($conn:expr) => {{
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, $1, 1)",
        )
        .bind(vec![0u8])
        .execute(&mut $conn)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO inbound_events (platform, event_id, payload, received_at) \
             VALUES ('slack', 'keep-me', '{}', '2026-01-01T00:00:00Z')",
        )
        .execute(&mut $conn)
        .await
        .unwrap();
    }};
}

/// (inbound events, applied migrations): what a refused migration must not change.
macro_rules! count_rows {
    ($conn:expr) => {{
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_events")
            .fetch_one(&mut $conn)
            .await
            .unwrap();
        let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut $conn)
            .await
            .unwrap();
        (events, migrations)
    }};
}

fn refuses_newer_schema(dir: &Path, url: &str) {
    for args in [&["migrate"][..], &["serve", "--listen", "127.0.0.1:0"]] {
        let (out, _, stderr) = run(handoff(dir).args(args).env("DATABASE_URL", url));
        assert!(!out.status.success(), "{args:?} must refuse");
        assert!(
            stderr.contains("schema is at version 9999, newer than this handoff knows"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn a_database_from_a_newer_handoff_is_refused_untouched_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let (out, _, stderr) = run(handoff(dir.path()).arg("migrate").env("DATABASE_URL", &url));
    assert!(out.status.success(), "{stderr}");
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    from_the_future!(conn);
    let before = count_rows!(conn);
    refuses_newer_schema(dir.path(), &url);
    assert_eq!(count_rows!(conn), before, "no data touched");
}

#[tokio::test]
async fn a_database_from_a_newer_handoff_is_refused_untouched_postgres() {
    let Some(url) = common::pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(handoff(dir.path()).arg("migrate").env("DATABASE_URL", &url));
    assert!(out.status.success(), "{stderr}");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    from_the_future!(conn);
    let before = count_rows!(conn);
    refuses_newer_schema(dir.path(), &url);
    assert_eq!(count_rows!(conn), before, "no data touched");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `url` until it answers 200, giving up (and failing) after a
/// generous bound so a broken start cannot hang the suite.
async fn wait_for_ok(child: &mut Child, url: &str) -> String {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("handoff exited early with {status}");
        }
        if let Ok(resp) = client.get(url).send().await
            && resp.status().is_success()
        {
            return resp.text().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered 200");
}

async fn serve_until_sigterm(dir: &Path, database_url: Option<&str>) {
    let port = free_port();
    let mut cmd = handoff(dir);
    cmd.args(["serve", "--log-format", "json"])
        .env("HANDOFF_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    let mut child = cmd.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(
        wait_for_ok(&mut child, &format!("{base}/readyz")).await,
        "ready\n"
    );
    assert_eq!(
        wait_for_ok(&mut child, &format!("{base}/healthz")).await,
        "ok\n"
    );
    let metrics = wait_for_ok(&mut child, &format!("{base}/metrics")).await;
    assert!(
        metrics.contains("# TYPE handoff_outbox_pending gauge"),
        "{metrics}"
    );
    assert!(metrics.contains("handoff_outbox_pending 0"), "{metrics}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..600 {
        if let Some(s) = child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(status) = exited else {
        child.kill().unwrap();
        panic!("handoff did not stop on SIGTERM");
    };
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "exit {status}: {logs}");
    // JSON logs, one object per line, ending with the orderly stop.
    for line in logs.lines() {
        assert!(line.starts_with('{'), "not JSON: {line}");
    }
    assert!(
        logs.contains("Shutdown requested") && logs.contains("handoff stopped."),
        "{logs}"
    );
}

#[tokio::test]
async fn serve_on_the_sqlite_default_is_ready_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    serve_until_sigterm(dir.path(), None).await;
    assert!(
        dir.path().join("handoff.db").exists(),
        "the default database is ./handoff.db"
    );
}

#[tokio::test]
async fn serve_on_postgres_is_ready_then_stops_on_sigterm() {
    let Some(url) = common::pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    serve_until_sigterm(dir.path(), Some(&url)).await;
}

#[test]
fn analyze_streams_one_result_per_line_and_reports_bad_lines_in_place() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let mut child = handoff(dir.path())
        .arg("analyze")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(
            "{\"text\":\"My card 4242 4242 4242 4242 was charged twice!! agent please\"}\nnot json\n{\"text\":\"\"}\n{\"text\":\"thanks, works now 👍\"}\n"
                .as_bytes(),
        )
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["sentiment"]["label"], "negative");
    assert_eq!(lines[0]["human_request"], true);
    assert_eq!(lines[0]["entities"][0]["kind"], "card_number");
    assert_eq!(lines[0]["entities"][0]["start"], 8);
    assert!(!lines[0]["redacted"].as_str().unwrap().contains("4242 4242"));
    assert!(lines[1]["error"].is_string() && lines[2]["error"].is_string());
    assert_eq!(lines[3]["sentiment"]["label"], "positive");
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 were errors"));
    assert!(
        !dir.path().join("handoff.db").exists(),
        "analyze touches no database"
    );
}

#[test]
fn check_config_names_a_bad_rule_and_its_key() {
    let dir = tempfile::tempdir().unwrap();
    for (toml, key) in [
        (
            "[[triggers]]\nkind = \"keywords\"\npatterns = [\"(unclosed\"]\n",
            "triggers[0].patterns[0]",
        ),
        (
            "[[triggers]]\nkind = \"keywords\"\nintents = [\"warranty\"]\n",
            "triggers[0].intents[0]",
        ),
        (
            "[[routing.routes]]\nname = \"x\"\nwhen = { intents = [\"nope\"] }\n",
            "routing.routes[0].when.intents[0]",
        ),
        (
            "[analysis]\nfallback_intent = \"misc\"\n",
            "analysis.fallback_intent",
        ),
    ] {
        std::fs::write(dir.path().join("handoff.toml"), toml).unwrap();
        let (out, _, stderr) = run(handoff(dir.path()).arg("check-config"));
        assert!(!out.status.success(), "{toml}");
        assert!(stderr.contains(&format!("`{key}`")), "{toml}: {stderr}");
    }
}

#[test]
fn replay_dry_runs_the_configured_rules_over_saved_conversations() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("handoff.toml"),
        "[[triggers]]\nkind = \"keywords\"\nreason = \"legal\"\nurgency = \"urgent\"\nkeywords = [\"lawyer\"]\n\
         [[routing.routes]]\nname = \"legal-team\"\nwhen = { reasons = [\"legal\"] }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("history.jsonl"),
        "[{\"author\":\"customer\",\"text\":\"hello\"},{\"author\":\"bot\",\"text\":\"Hi! How can I help?\"},{\"author\":\"customer\",\"text\":\"my lawyer will hear about this\"}]\n\
         [{\"author\":\"customer\",\"text\":\"agent please\"}]\n",
    )
    .unwrap();
    let (out, stdout, stderr) = run(handoff(dir.path()).args(["replay", "history.jsonl"]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("1: escalates at message 3 (urgent) -> route legal-team [legal]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2: no escalation"),
        "only the configured rules run: {stdout}"
    );
    assert!(
        stdout.contains("2 conversations, 1 would escalate"),
        "{stdout}"
    );
    let (out, _, stderr) = run(handoff(dir.path()).args(["replay", "missing.jsonl"]));
    assert!(!out.status.success());
    assert!(stderr.contains("cannot open missing.jsonl"), "{stderr}");
}

#[test]
fn agent_add_creates_the_config_and_takes_the_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("team.toml");
    let (out, _, err) = run(handoff(dir.path())
        .args([
            "--config",
            file.to_str().unwrap(),
            "agent",
            "add",
            "alice",
            "--name",
            "Alice",
        ])
        .env("HANDOFF_AGENT_PASSWORD", "correct horse battery"));
    assert!(out.status.success(), "{err}");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("id = \"alice\"") && written.contains("password_hash = \"$argon2"),
        "{written}"
    );
    let (out, _, err) = run(handoff(dir.path())
        .args(["--config", file.to_str().unwrap(), "agent", "add", "alice"])
        .env("HANDOFF_AGENT_PASSWORD", "correct horse battery"));
    assert!(!out.status.success(), "a second alice is refused");
    assert!(err.contains("already exists"), "{err}");
    let (out, _, err) =
        run(handoff(dir.path()).args(["--config", file.to_str().unwrap(), "check-config"]));
    assert!(out.status.success(), "the written file loads: {err}");
}

/// `handoff doctor` against a Slack double, and a clean bill of health once
/// the set-up is right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_what_to_fix_in_slack() {
    use common::slack::{BOT_TOKEN, DEFAULT_SCOPES, SlackDouble};
    let slack = SlackDouble::start().await;
    slack.set_channel("CSUPPORT", "support", true);
    slack.set_channel("CBILLING", "billing", false);
    slack.set_scopes("chat:write,users:read,channels:history,channels:read");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("handoff.toml"),
        format!(
            "[slack]\napi_url = \"{}\"\n[routing]\ndefault = \"support\"\n\
             [[routing.routes]]\nname = \"support\"\nslack_channel = \"CSUPPORT\"\n\
             [[routing.routes]]\nname = \"billing\"\nslack_channel = \"CBILLING\"\n",
            slack.api_url()
        ),
    )
    .unwrap();
    let path = dir.path().to_owned();
    let doctor = move |token: &'static str| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            run(handoff(&path)
                .arg("doctor")
                .env("SLACK_BOT_TOKEN", token)
                .env("SLACK_SIGNING_SECRET", "s3cret"))
        })
    };
    let (out, stdout, _) = doctor(BOT_TOKEN).await.unwrap();
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("ok  The bot token works: @handoff"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FIX The app lacks scopes: reactions:write"),
        "{stdout}"
    );
    assert!(stdout.contains("groups:history"), "{stdout}");
    assert!(stdout.contains("ok  The bot is in #support"), "{stdout}");
    assert!(
        stdout.contains("FIX The bot is not in #billing (CBILLING)"),
        "{stdout}"
    );
    assert!(stdout.contains("/invite @handoff"), "{stdout}");
    assert!(!stdout.contains(BOT_TOKEN) && !stdout.contains("s3cret"));

    let (out, stdout, _) = doctor("xoxb-wrong").await.unwrap();
    assert!(!out.status.success());
    assert!(
        stdout.contains("invalid_auth") && stdout.contains("SLACK_BOT_TOKEN"),
        "{stdout}"
    );

    slack.set_scopes(DEFAULT_SCOPES);
    slack.set_channel("CBILLING", "billing", true);
    let (out, stdout, _) = doctor(BOT_TOKEN).await.unwrap();
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains("FIX"), "{stdout}");
}

/// `handoff doctor` and `handoff discord-invite` against a Discord double.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_and_invite_for_discord() {
    use common::discord::{BOT_ID, Discord, TOKEN, perm};
    let discord = Discord::start().await;
    let support = discord.text_channel("support");
    let open = discord.text_channel("open-help");
    discord.deny(
        &support,
        perm::CREATE_PUBLIC_THREADS | perm::READ_MESSAGE_HISTORY,
    );
    discord.set_message_content_intent(false);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("handoff.toml"),
        format!(
            "[discord]\napi_url = \"{}\"\nsupport_channels = [\"{support}\", \"{open}\", \"42\"]\n",
            discord.url()
        ),
    )
    .unwrap();
    let path = dir.path().to_owned();
    let cli = move |args: &'static [&'static str], token: Option<&'static str>| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = handoff(&path);
            cmd.args(args);
            match token {
                Some(t) => cmd.env("DISCORD_TOKEN", t),
                None => cmd.env_remove("DISCORD_TOKEN"),
            };
            run(&mut cmd)
        })
    };
    let (out, stdout, _) = cli(&["doctor"], Some(TOKEN)).await.unwrap();
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("ok  The Discord token works"), "{stdout}");
    assert!(
        stdout.contains("FIX The Message Content intent is off"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "FIX In #support ({support}) the bot lacks READ_MESSAGE_HISTORY, CREATE_PUBLIC_THREADS"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok  The bot has every permission it needs in #open-help"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FIX Support channel 42 cannot be seen"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN));

    let (out, stdout, _) = cli(&["doctor"], Some("wrong-token")).await.unwrap();
    assert!(!out.status.success());
    assert!(
        stdout.contains("FIX The Discord token does not work"),
        "{stdout}"
    );

    let (out, stdout, _) = cli(&["discord-invite"], Some(TOKEN)).await.unwrap();
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout.trim(),
        format!(
            "https://discord.com/oauth2/authorize?client_id={BOT_ID}&scope=bot&permissions={}",
            handoff_discord::permissions::NEEDED
        )
    );
    let (out, _, stderr) = cli(&["discord-invite"], None).await.unwrap();
    assert!(!out.status.success());
    assert!(stderr.contains("--application-id"), "{stderr}");
    let (out, stdout, _) = cli(&["discord-invite", "--application-id", "123"], None)
        .await
        .unwrap();
    assert!(out.status.success());
    assert!(stdout.contains("client_id=123&"), "{stdout}");
}

#[test]
fn slack_manifest_names_this_handoffs_address() {
    let dir = tempfile::tempdir().unwrap();
    let (out, stdout, _) = run(handoff(dir.path())
        .arg("slack-manifest")
        .env("HANDOFF_PUBLIC_URL", "https://help.acme.test"));
    assert!(out.status.success());
    assert!(stdout.contains("request_url: https://help.acme.test/slack/events"));
    assert!(stdout.contains("- chat:write"));
    let (_, stdout, _) = run(handoff(dir.path()).args(["slack-manifest", "--socket-mode"]));
    assert!(stdout.contains("socket_mode_enabled: true") && !stdout.contains("request_url"));
}

#[test]
fn teams_package_writes_the_app_zip_and_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let app_id = "0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f";
    let (out, stdout, stderr) = run(handoff(dir.path())
        .args(["teams-package", "--out", "app.zip", "--developer", "Acme"])
        .env("TEAMS_APP_ID", app_id)
        .env("HANDOFF_PUBLIC_URL", "https://help.acme.test"));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Upload a custom app"), "{stdout}");
    let zip = std::fs::read(dir.path().join("app.zip")).unwrap();
    assert!(zip.starts_with(b"PK\x03\x04"));
    // The zip's central directory names exactly the three files Teams
    // wants (their contents are checked by the package's own tests).
    let names: Vec<&str> = ["manifest.json", "color.png", "outline.png"]
        .into_iter()
        .filter(|n| zip.windows(n.len()).any(|w| w == n.as_bytes()))
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");

    let (out, _, stderr) = run(handoff(dir.path())
        .arg("teams-package")
        .env_remove("TEAMS_APP_ID"));
    assert!(!out.status.success());
    assert!(stderr.contains("TEAMS_APP_ID must be set"), "{stderr}");
    let (out, _, stderr) = run(handoff(dir.path())
        .arg("teams-package")
        .env("TEAMS_APP_ID", app_id)
        .env("HANDOFF_PUBLIC_URL", "http://help.acme.test"));
    assert!(!out.status.success());
    assert!(stderr.contains("https"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_that_a_teams_token_can_be_had() {
    use common::teams::{APP_ID, APP_PASSWORD, TeamsDouble};
    let teams = TeamsDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("handoff.toml"),
        format!(
            "[teams]\nopenid_url = \"{}\"\ntoken_url = \"{}\"\n",
            teams.openid_url(),
            teams.token_url()
        ),
    )
    .unwrap();
    let path = dir.path().to_owned();
    let cli = move |password: &'static str| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            run(handoff(&path)
                .arg("doctor")
                .env_remove("SLACK_BOT_TOKEN")
                .env_remove("DISCORD_TOKEN")
                .env("TEAMS_APP_ID", APP_ID)
                .env("TEAMS_APP_PASSWORD", password))
        })
    };
    let (out, stdout, stderr) = cli(APP_PASSWORD).await.unwrap();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "ok  A Teams token was issued for the app {APP_ID}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok  The Bot Framework key set has"),
        "{stdout}"
    );
    let (out, stdout, _) = cli("wrong-password").await.unwrap();
    assert!(!out.status.success());
    assert!(
        stdout.contains("FIX The token endpoint refused the app's credentials"),
        "{stdout}"
    );
    assert!(stdout.contains("TEAMS_APP_PASSWORD"), "{stdout}");
    assert!(
        !stdout.contains("wrong-password"),
        "the password is never printed"
    );
}

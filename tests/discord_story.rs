//! Discord as the customer side, end to end against a local Discord double
//! (REST and gateway on 127.0.0.1, driven by the real serenity client in
//! handoff): a DM customer escalates, the card reaches the inbox, the
//! agent's reply arrives as a Discord message that cannot ping anyone, long
//! replies are split, the CSAT buttons rate the case; a support-channel
//! post moves into its own thread (and a forum post is its own thread);
//! messages sent while handoff was stopped or disconnected are caught up in
//! order and once; closed DMs are reported on the card and to the agent;
//! Discord's 429 is waited out. On SQLite and PostgreSQL.

mod common;

use common::discord::{Discord, TOKEN, User, wait_for};
use common::story::{Agent, Running, team_config};

use common::slack::{self as slack_double, SIGNING_SECRET, SlackDouble};
use handoff::config::{AgentConfig, Config, Secret};
use handoff::routing::Route;
use handoff::store::Store;
use handoff_core::Platform;
use serde_json::{Value, json};

on_both_backends!(
    a_dm_customer_is_answered_and_rates_the_help,
    a_support_channel_post_moves_into_its_own_thread,
    messages_sent_while_down_are_caught_up_in_order_once,
    closed_dms_and_rate_limits_are_handled,
    slack_agents_answer_discord_customers,
);

/// Two replicas on one PostgreSQL: only the lease holder listens, and the
/// other takes over when it stops. (SQLite serves one process, so there is
/// nothing to share there.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_replica_listens_and_another_takes_over() {
    let Some(store) = common::pg_store().await else {
        return;
    };
    let discord = Discord::start().await;
    let nelly = discord.user("Nelly");
    let dm = discord.dm_channel(&nelly);
    let first = serve(store.clone(), &discord, &[]).await;
    let second = common::story::serve(store.clone(), discord_config(&discord, &[])).await;
    // The second replica stands by (its lease poll is 5 s).
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert_eq!(discord.identifies(), 1, "only the lease holder connects");
    discord.say(&dm, &nelly, "hello");
    until_stored(&store, &dm, 1).await;

    first.stop().await;
    discord.until_ready().await;
    assert_eq!(discord.identifies(), 2);
    discord.say(&dm, &nelly, "still there?");
    let got = until_stored(&store, &dm, 2).await;
    assert_eq!(got, ["hello", "still there?"]);
    second.stop().await;
}

fn discord_config(discord: &Discord, support: &[&str]) -> Config {
    let mut c = team_config();
    c.discord.api_url = discord.url();
    c.discord.support_channels = support.iter().map(|s| (*s).to_owned()).collect();
    c.outbox.backoff_base_ms = 50;
    c.secrets.discord_token = Some(Secret::new(TOKEN));
    c
}

async fn serve<S: Store>(store: S, discord: &Discord, support: &[&str]) -> Running {
    let app = common::story::serve(store, discord_config(discord, support)).await;
    discord.until_ready().await;
    app
}

/// The bot's messages in `channel` once there are at least `n`.
async fn bot_messages(discord: &Discord, channel: &str, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} bot message(s) in {channel}"), || {
        let m = discord.bot_messages(channel);
        (m.len() >= n).then_some(m)
    })
    .await
}

fn content(m: &Value) -> &str {
    m["content"].as_str().unwrap_or_default()
}

/// Every message the bot created went out with mentions disabled.
fn assert_no_pings(discord: &Discord) {
    let posts: Vec<_> = discord
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/messages"))
        .collect();
    assert!(!posts.is_empty());
    for c in posts {
        assert_eq!(c.body["allowed_mentions"], json!({"parse": []}), "{c:?}");
    }
}

/// The bot's rating question (the message with buttons) in `channel`.
async fn csat_in(discord: &Discord, channel: &str) -> Value {
    wait_for("the CSAT question with buttons", || {
        discord
            .bot_messages(channel)
            .into_iter()
            .find(|m| m["components"].as_array().is_some_and(|c| !c.is_empty()))
    })
    .await
}

/// `user` clicks `custom_id` on `message`; returns handoff's answer.
async fn click(
    discord: &Discord,
    channel: &str,
    message: &Value,
    user: &User,
    custom_id: &str,
) -> Value {
    let click = discord.click(channel, message["id"].as_str().unwrap(), user, custom_id);
    wait_for("the click to be answered", || {
        discord
            .interaction_responses()
            .into_iter()
            .find_map(|(id, answer)| (id == click).then_some(answer))
    })
    .await
}

/// The one case in the inbox, once it is there: its id and card.
async fn the_card(agent: &Agent, pred: impl Fn(&Value) -> bool) -> (String, Value) {
    let cards = agent
        .cards_when(|c| c.len() == 1 && pred(&c[0]["card"]))
        .await;
    let card = cards[0]["card"].clone();
    (card["case"].as_str().unwrap().to_owned(), card)
}

async fn act(agent: &Agent, case: &str, action: &str) {
    let path = format!("/inbox/api/cases/{case}/action");
    assert_eq!(agent.post(&path, json!({"action": action})).await, 202);
}

async fn reply(agent: &Agent, case: &str, text: &str) {
    let path = format!("/inbox/api/cases/{case}/reply");
    assert_eq!(agent.post(&path, json!({"text": text})).await, 202);
}

async fn a_dm_customer_is_answered_and_rates_the_help<S: Store>(store: S) {
    let discord = Discord::start().await;
    let app = serve(store, &discord, &[]).await;
    let nelly = discord.user("Nelly");
    let dm = discord.dm_channel(&nelly);

    discord.say(
        &dm,
        &nelly,
        "I need to talk to a human, order 88123 is late",
    );
    let notice = bot_messages(&discord, &dm, 1).await;
    assert!(content(&notice[0]).contains("person"), "{notice:?}");

    let alice = Agent::sign_in(&app.base, "alice").await;
    let (case, card) = the_card(&alice, |_| true).await;
    assert_eq!(card["customer"], "Nelly");
    assert_eq!(card["reasons"][0]["reason"], "human_request");
    act(&alice, &case, "claim").await;
    let joined = bot_messages(&discord, &dm, 2).await;
    assert!(content(&joined[1]).contains("Alice"), "{joined:?}");

    // The agent cannot ping anyone through the bot, and what they wrote is
    // shown as written, led by their name.
    reply(
        &alice,
        &case,
        "Hi @everyone, <@&42> it ships *today* [here](https://evil.example)",
    )
    .await;
    let answer = bot_messages(&discord, &dm, 3).await;
    let text = content(&answer[2]);
    assert!(text.starts_with("**Alice:** Hi \\@everyone"), "{text}");
    assert!(
        text.contains("\\<@&42>") && text.contains("\\*today\\*"),
        "{text}"
    );
    assert!(text.contains("\\[here\\](https://evil.example)"), "{text}");

    // The customer's follow-up, edit and reply-with-a-file reach the team.
    let follow = discord.say(&dm, &nelly, "thanks, but where is it now?");
    discord.edit(&dm, &follow, "thanks, but where is it right now?");
    discord.say_with(
        &dm,
        &nelly,
        "this receipt",
        &[(
            "receipt.png",
            "https://cdn.discordapp.com/attachments/1/2/receipt.png",
        )],
        Some(&follow),
    );
    let lines = alice
        .transcript_when(&case, |l| {
            let has = |s: &str| {
                l.iter()
                    .any(|x| x["text"].as_str().unwrap_or("").contains(s))
            };
            has("receipt.png") && has("(edited)")
        })
        .await;
    let texts: Vec<&str> = lines.iter().filter_map(|l| l["text"].as_str()).collect();
    assert!(texts.contains(&"thanks, but where is it now?"), "{texts:?}");
    assert!(
        texts.contains(&"(edited) thanks, but where is it right now?"),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t
                .starts_with("(replying to \"thanks, but where is it right now?\") this receipt")),
        "{texts:?}"
    );

    // A long answer arrives in parts Discord accepts, cut between sentences.
    let long = "Here is what happened with your parcel. ".repeat(80);
    reply(&alice, &case, &long).await;
    let parts = bot_messages(&discord, &dm, 5).await;
    assert!(parts.len() >= 5);
    for p in &parts[3..] {
        let t = content(p);
        assert!(t.chars().count() <= 2000, "{}", t.chars().count());
        assert!(
            t.ends_with("parcel."),
            "cut mid-sentence: …{}",
            &t[t.len() - 20..]
        );
    }

    // Resolved: the customer is told and rates with a button.
    act(&alice, &case, "resolve").await;
    let csat = csat_in(&discord, &dm).await;
    let answer = click(&discord, &dm, &csat, &nelly, "csat:4").await;
    assert_eq!(answer["type"], 7, "the buttons are replaced: {answer}");
    assert!(content(&answer["data"]).contains("4/5"));
    alice.cards_when(|c| c[0]["card"]["csat"] == 4).await;
    assert_no_pings(&discord);
    app.stop().await;
}

async fn a_support_channel_post_moves_into_its_own_thread<S: Store>(store: S) {
    let discord = Discord::start().await;
    let support = discord.text_channel("support");
    let forum = discord.forum_channel("help-forum");
    let general = discord.text_channel("general");
    let app = serve(store, &discord, &[&support, &forum]).await;
    let nelly = discord.user("Nelly");

    // Chatter elsewhere is none of handoff's business.
    discord.say(&general, &nelly, "I want to talk to a human about lunch");
    let post = discord.say(
        &support,
        &nelly,
        "Can I talk to a real person? I cannot log in",
    );
    let thread = wait_for("the support thread", || {
        discord
            .threads()
            .into_iter()
            .find(|t| t["id"] == post.as_str())
    })
    .await;
    assert_eq!(thread["parent_id"], support.as_str());
    assert!(thread["name"].as_str().unwrap().contains("I cannot log in"));
    // The notice goes into the thread, not the public channel.
    bot_messages(&discord, &post, 1).await;
    assert!(discord.bot_messages(&support).is_empty());

    let alice = Agent::sign_in(&app.base, "alice").await;
    let (case, _) = the_card(&alice, |_| true).await;
    discord.say(&post, &nelly, "my username is nelly42");
    alice
        .transcript_when(&case, |l| {
            l.iter().any(|x| x["text"] == "my username is nelly42")
        })
        .await;
    act(&alice, &case, "claim").await;
    reply(&alice, &case, "Found it, try again now.").await;
    let said = bot_messages(&discord, &post, 3).await;
    assert!(content(&said[2]).contains("Found it"), "{said:?}");

    // A forum post is a thread already.
    let ada = discord.user("Ada");
    let topic = discord.forum_post(
        &forum,
        &ada,
        "Refund",
        "Can I speak to a human? I want a refund",
    );
    bot_messages(&discord, &topic, 1).await;
    alice.cards_when(|c| c.len() == 2).await;
    // A bystander cannot rate someone else's conversation.
    act(&alice, &case, "resolve").await;
    let csat = csat_in(&discord, &post).await;
    let answer = click(&discord, &post, &csat, &ada, "csat:1").await;
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64, "only the bystander sees it");
    assert!(discord.bot_messages(&general).is_empty());
    assert!(
        !discord
            .calls()
            .iter()
            .any(|c| c.path.contains(&format!("/channels/{general}/messages/")))
    );

    // Discord briefly failing to open a thread is retried, not announced.
    discord.fail_next("/threads", 502, 0, "Bad Gateway");
    let retried = discord.say(&support, &ada, "Can I talk to a person about my invoice?");
    wait_for("the retried thread", || {
        discord
            .threads()
            .into_iter()
            .find(|t| t["id"] == retried.as_str())
    })
    .await;
    bot_messages(&discord, &retried, 1).await;
    assert!(discord.bot_messages(&support).is_empty());

    // When Discord refuses the thread, the customer is told where to go.
    discord.fail_next(
        "/threads",
        400,
        160_006,
        "Maximum number of active threads reached",
    );
    let crowded = discord.say(
        &support,
        &ada,
        "let me talk to a human, my card was charged twice",
    );
    let told = bot_messages(&discord, &support, 1).await;
    assert_eq!(told[0]["message_reference"]["message_id"], crowded.as_str());
    assert!(content(&told[0]).contains("Maximum number of active threads"));
    assert_no_pings(&discord);
    app.stop().await;
}

/// The stored customer messages of the DM conversation `dm`, oldest first.
async fn stored<S: Store>(store: &S, dm: &str) -> Vec<String> {
    let Some(c) = store
        .conversation_by_ref(Platform::Discord, dm)
        .await
        .unwrap()
    else {
        return Vec::new();
    };
    store
        .messages(c.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.author == handoff::store::AuthorKind::Customer)
        .map(|m| m.body)
        .collect()
}

async fn until_stored<S: Store>(store: &S, dm: &str, n: usize) -> Vec<String> {
    common::story::eventually(&format!("{n} stored messages"), || async {
        let got = stored(store, dm).await;
        (got.len() >= n).then_some(got)
    })
    .await
}

async fn messages_sent_while_down_are_caught_up_in_order_once<S: Store>(store: S) {
    let discord = Discord::start().await;
    let nelly = discord.user("Nelly");
    let dm = discord.dm_channel(&nelly);
    let app = serve(store.clone(), &discord, &[]).await;
    discord.say(&dm, &nelly, "hello there");
    until_stored(&store, &dm, 1).await;
    app.stop().await;

    // Said while handoff was stopped: only Discord's history has them.
    for text in ["one", "two", "three"] {
        discord.say(&dm, &nelly, text);
    }
    let app = serve(store.clone(), &discord, &[]).await;
    let got = until_stored(&store, &dm, 4).await;
    assert_eq!(got, ["hello there", "one", "two", "three"]);

    // A gateway outage past what a resume replays: the messages are only in
    // history, and the fresh session after it reads them.
    discord.lose_events(true);
    discord.say(&dm, &nelly, "four");
    discord.say(&dm, &nelly, "five");
    discord.lose_events(false);
    let identified = discord.identifies();
    discord.invalidate();
    discord.until_ready().await;
    let got = until_stored(&store, &dm, 6).await;
    assert_eq!(got, ["hello there", "one", "two", "three", "four", "five"]);
    assert_eq!(discord.identifies(), identified + 1, "a fresh session");
    // A dropped connection: serenity resumes, the double replays what was
    // missed, and the catch-up after the resume stores nothing twice.
    discord.drop_connection();
    discord.say(&dm, &nelly, "six");
    discord.until_ready().await;
    discord.reconnect();
    discord.until_ready().await;
    discord.say(&dm, &nelly, "seven");
    let got = until_stored(&store, &dm, 8).await;
    assert_eq!(
        got,
        [
            "hello there",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven"
        ]
    );
    assert!(discord.resumes() >= 2);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(stored(&store, &dm).await.len(), 8, "nothing stored twice");
    app.stop().await;
}

async fn closed_dms_and_rate_limits_are_handled<S: Store>(store: S) {
    let discord = Discord::start().await;
    let app = serve(store, &discord, &[]).await;
    let nelly: User = discord.user("Nelly");
    let dm = discord.dm_channel(&nelly);
    discord.say(&dm, &nelly, "let me talk to a human, I was charged twice");
    bot_messages(&discord, &dm, 1).await;
    let alice = Agent::sign_in(&app.base, "alice").await;
    let (case, _) = the_card(&alice, |_| true).await;

    // A 429: the outbox waits Discord's retry_after and sends it once.
    discord.rate_limit_next("/messages", 0.2);
    act(&alice, &case, "claim").await;
    bot_messages(&discord, &dm, 2).await;
    let limited = discord.calls().iter().filter(|c| c.status == 429).count();
    assert_eq!(limited, 1);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(discord.bot_messages(&dm).len(), 2, "sent once");

    // The customer closes their DMs: the agent's reply cannot arrive.
    discord.close_dms(&nelly);
    reply(&alice, &case, "Refund is on its way.").await;
    let (_, card) = the_card(&alice, |c| !c["delivery_error"].is_null()).await;
    assert!(
        card["delivery_error"]
            .as_str()
            .unwrap()
            .contains("closed their DMs"),
        "{card}"
    );
    // The transcript shows the reply as not delivered.
    let lines = alice
        .transcript_when(&case, |l| {
            l.iter().any(|x| x["text"] == "Refund is on its way.")
        })
        .await;
    let line = lines
        .iter()
        .find(|x| x["text"] == "Refund is on its way.")
        .unwrap();
    assert_ne!(line["delivered"], true, "{line}");

    // Open again: the next reply arrives and the card stops warning.
    discord.reopen_dms(&nelly);
    reply(&alice, &case, "Sorry, let me try again.").await;
    bot_messages(&discord, &dm, 3).await;
    the_card(&alice, |c| c["delivery_error"].is_null()).await;
    assert_eq!(discord.bot_messages(&dm).len(), 3);
    app.stop().await;
}

const SLACK_CHANNEL: &str = "CSUPPORT";

/// A thread reply by Alice under the card, posted to handoff signed.
async fn alice_says(slack: &SlackDouble, base: &str, card_ts: &str, ts: &str, text: &str) {
    slack.add_message(SLACK_CHANNEL, ts, Some(card_ts), "UALICE", text);
    let e = slack_double::event_callback(
        &format!("Ev{}", ts.replace('.', "")),
        slack_double::thread_reply(SLACK_CHANNEL, card_ts, ts, "UALICE", text),
    );
    let r = slack_double::post_event(base, SIGNING_SECRET, &e, None).await;
    assert_eq!(r.status(), 200);
}

async fn slack_agents_answer_discord_customers<S: Store>(store: S) {
    let discord = Discord::start().await;
    let slack = SlackDouble::start().await;
    slack.add_user("UALICE", "Alice Liddell", "Alice Liddell");
    slack.set_channel(SLACK_CHANNEL, "support", true);
    let mut config = discord_config(&discord, &[]);
    config.agents = vec![AgentConfig {
        id: "alice".into(),
        name: String::new(),
        slack_user: Some("UALICE".into()),
        teams_user: None,
        inbox_login: None,
        password_hash: None,
    }];
    config.routing.routes = vec![Route {
        name: "support".into(),
        slack_channel: Some(SLACK_CHANNEL.into()),
        teams_channel: None,
        slack_mention: None,
        teams_mention: None,
        mention_from: None,
        when: Default::default(),
    }];
    config.slack.api_url = slack.api_url();
    config.secrets.slack_bot_token = Some(Secret::new(slack_double::BOT_TOKEN));
    config.secrets.slack_signing_secret = Some(Secret::new(SIGNING_SECRET));
    let app = common::story::serve(store, config).await;
    discord.until_ready().await;
    let nelly = discord.user("Nelly");
    let dm = discord.dm_channel(&nelly);
    discord.say(&dm, &nelly, "let me talk to a human, I was charged twice");

    // The card says who the customer is on Discord, picture included.
    let (card_ts, case, card) = slack_double::card_in(&slack, SLACK_CHANNEL).await;
    let text = slack_double::parsed_texts(&card);
    assert!(
        text.contains(&format!("*Nelly* (@{}) on discord", nelly.username)),
        "{text}"
    );
    assert!(
        card["blocks"][1]["accessory"]["image_url"]
            .as_str()
            .unwrap()
            .starts_with("https://cdn.discordapp.com/")
    );

    let mut claim = slack_double::block_action(
        "UALICE",
        "UALICE",
        SLACK_CHANNEL,
        &card_ts,
        "handoff.claim",
        &case,
    );
    claim["actions"][0]["block_id"] = json!(format!("handoff:{case}"));
    let r = slack_double::post_interaction(&app.base, SIGNING_SECRET, &claim).await;
    assert_eq!(r.status(), 200);
    bot_messages(&discord, &dm, 2).await;

    // Slack emphasis becomes Discord's; a Slack link shows where it goes.
    let reply_ts = "1700000600.000100";
    alice_says(
        &slack,
        &app.base,
        &card_ts,
        reply_ts,
        "*Good news*: the refund is ~pending~ sent, see <https://help.example.com/r|here>",
    )
    .await;
    let said = bot_messages(&discord, &dm, 3).await;
    assert_eq!(
        content(&said[2]),
        "**Alice Liddell:** **Good news**: the refund is ~~pending~~ sent, see here (https://help.example.com/r)"
    );
    slack_double::until_reaction(&slack, SLACK_CHANNEL, reply_ts, "incoming_envelope").await;

    // Closed DMs: the agent's message is marked, the thread explains, and
    // the card says the customer cannot be reached.
    discord.close_dms(&nelly);
    let lost_ts = "1700000600.000200";
    alice_says(&slack, &app.base, &card_ts, lost_ts, "Anything else?").await;
    slack_double::until_reaction(&slack, SLACK_CHANNEL, lost_ts, "warning").await;
    let note = slack_double::thread_post(&slack, &card_ts, "did not reach the customer").await;
    assert!(
        note.args["text"]
            .as_str()
            .unwrap()
            .contains("closed their DMs"),
        "{:?}",
        note.args
    );
    common::story::eventually("the card to say so", || async {
        let m = slack.message(SLACK_CHANNEL, &card_ts)?;
        slack_double::parsed_texts(&m)
            .contains("Messages are not reaching the customer")
            .then_some(())
    })
    .await;
    assert_eq!(discord.bot_messages(&dm).len(), 3);
    assert_no_pings(&discord);
    app.stop().await;
}

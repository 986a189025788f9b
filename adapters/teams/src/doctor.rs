//! `handoff doctor` for Teams: can a token be had with `TEAMS_APP_ID` and
//! `TEAMS_APP_PASSWORD`, and can the key set that incoming tokens are
//! checked against be fetched. Each finding says what to fix.

use handoff_core::doctor::Finding;

use crate::TeamsSettings;
use crate::api::{ApiError, TeamsApi};
use crate::auth::Verifier;

/// Runs every check.
pub async fn check(settings: &TeamsSettings, http: reqwest::Client) -> Vec<Finding> {
    let api = TeamsApi::new(http.clone(), settings);
    let token = match api.fetch_token().await {
        Ok((_, lifetime)) => Finding::good(format!(
            "A Teams token was issued for the app {} (valid for {} min).",
            settings.app_id,
            lifetime.as_secs() / 60
        )),
        Err(ApiError::Refused { code, message, .. }) if code == "invalid_client" => Finding::bad(
            format!("The token endpoint refused the app's credentials: {message}"),
            "Azure portal -> your Azure Bot -> Configuration -> Manage Password: create a new client secret and put its value (not its id) in TEAMS_APP_PASSWORD.",
        ),
        Err(ApiError::Refused { code, message, .. })
            if code == "unauthorized_client" || message.contains("AADSTS700016") =>
        {
            Finding::bad(
                format!(
                    "The token endpoint does not know the app {}: {message}",
                    settings.app_id
                ),
                "TEAMS_APP_ID must be the Microsoft App ID of the Azure Bot. A single-tenant bot also needs [teams] tenant_id.",
            )
        }
        Err(e) => Finding::bad(
            format!("No Teams token could be had: {e}."),
            "Check [teams] token_url (or tenant_id) and that this machine can reach it.",
        ),
    };
    let keys = match Verifier::new(http, &settings.openid_url, &settings.app_id)
        .check_keys()
        .await
    {
        Ok(count) => Finding::good(format!(
            "The Bot Framework key set has {count} signing keys; incoming activities can be checked."
        )),
        Err(e) => Finding::bad(
            format!("{e}: every activity from Teams would be refused."),
            "Check [teams] openid_url and that this machine can reach it.",
        ),
    };
    vec![token, keys]
}

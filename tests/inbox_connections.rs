//! Channel connections on the real stack (rules CC1–CC3; source 002 F.2.7): the owner connects an
//! Instagram account with a token that expires in three days — it is sealed before any topic, the
//! connection is `expiring` and the owner is told at once; disconnecting forgets the token. Only the
//! owner may change connections (settings:update).

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use souk_schemas::connections::ConnectionCommand;
use souk_schemas::connections::ConnectionUpdated;
use support::inbox::{decoded, eventually};
use support::textile::Textile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_sealed_told_before_it_expires_and_forgotten_when_disconnected() {
    let t = Textile::start_unseeded("inbox-connections").await;
    let token = "IGQVJ-plain-token-of-the-page";
    let expires_at = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let path = "/v1/connections/instagram/17841400000000001";
    t.client.command(Method::PUT, path, json!({"access_token": token, "expires_at": expires_at, "command_id": "connect-1"})).await.unwrap();

    let updated = eventually("the connection in the table", async || decoded::<ConnectionUpdated>(&t, "connections.table").await.into_iter().last()).await;
    assert_eq!((updated.status.as_str(), updated.platform.as_str(), updated.platform_user_id.as_str()), ("expiring", "instagram", "17841400000000001"));
    assert!(updated.access_token.as_deref().is_some_and(|s| s.starts_with("s1.master.")), "sealed: {updated:?}");
    let note = eventually("the owner told", async || {
        let feed = t.client.get("/v1/notifications?kind=token_expiring").await.ok()?;
        feed["notifications"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!((note["priority"].as_str(), note["title"].as_str()), (Some("medium"), Some("Your instagram connection expires in less than 7 days")));
    let commands: Vec<ConnectionCommand> = decoded(&t, "connections.commands").await;
    assert!(!serde_json::to_string(&commands).unwrap().contains(token), "the token never reaches a topic in plain text");

    // Only the owner changes connections; a bad platform is a 400.
    let admin = t.client.tenant.staff_key("admin").unwrap();
    let resp = reqwest::Client::new().delete(format!("{}{path}", t.client.base())).bearer_auth(admin).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (status, _) = t.client.owner(Method::PUT, "/v1/connections/myspace/1", Some(json!({"access_token": "x", "expires_at": expires_at}))).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);

    t.client.command(Method::DELETE, path, json!({"reason": "moving to a new page"})).await.unwrap();
    let last = eventually("disconnected", async || decoded::<ConnectionUpdated>(&t, "connections.table").await.into_iter().last().filter(|u| u.status == "disconnected")).await;
    assert_eq!(last.access_token, None);
}

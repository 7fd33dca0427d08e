//! schemathesis (from PyPI, installed by `./dev install` into the tools directory) against the
//! whole documented API of a running `souk run`: every check on (server errors, undocumented
//! statuses and content types, response schemas, schema-violating requests accepted, schema-valid
//! requests refused, unsupported methods, ignored auth), with the owner's API key, no failure
//! allowed. The only relaxations are in `tests/schemathesis/schemathesis.toml`, each with its
//! reason. The seed is printed (set SOUK_SCHEMATHESIS_SEED to replay a run).

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::textile::Textile;

/// The schemathesis executable: `SOUK_SCHEMATHESIS`, else the one `./dev install` put in the tools
/// directory. A missing tool fails the test (it never skips).
fn schemathesis() -> PathBuf {
    if let Ok(path) = std::env::var("SOUK_SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").expect("HOME");
    let tools = std::env::var("SOUK_TOOLS_DIR").unwrap_or_else(|_| format!("{home}/.cache/souk/tools"));
    let path = PathBuf::from(tools).join("schemathesis-venv/bin/schemathesis");
    assert!(path.exists(), "schemathesis is not installed at {}: run `./dev install` (it installs schemathesis from PyPI)", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_documented_api_passes_schemathesis() {
    let souk = Textile::start("schema").await;
    let seed = std::env::var("SOUK_SCHEMATHESIS_SEED").unwrap_or_else(|_| (chrono::Utc::now().timestamp_millis() % 1_000_000_007).to_string());
    eprintln!("schemathesis seed {seed} (replay with SOUK_SCHEMATHESIS_SEED={seed})");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis/schemathesis.toml");
    let spec = format!("{}/openapi.json", souk.client.base());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(schemathesis())
            .args(["--config-file", config, "run", &spec, "--checks", "all", "--max-examples", "40", "--seed", &seed, "--workers", "2"])
            .args(["--header", &format!("Authorization: Bearer {}", souk.client.tenant.api_key)])
            .env("NO_COLOR", "1")
            .output()
            .map(|o| (o, souk))
    })
    .await
    .expect("join")
    .expect("running schemathesis");
    let (output, souk) = output;
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found failures (see above); souk's log:\n{}", souk.logs());
    assert!(stdout.contains("Tested:"), "schemathesis did not test any operation:\n{stdout}");
}

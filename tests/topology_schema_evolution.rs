//! `souk topology apply` is idempotent, accepts a BACKWARD-compatible change (a new field with a
//! default) and refuses an incompatible one (a new field without default) with the registry's reason.

use std::process::Command;

fn apply(prefix: &str, schemas: Option<&std::path::Path>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_souk"));
    cmd.args(["--topology", concat!(env!("CARGO_MANIFEST_DIR"), "/topology.toml"), "topology", "apply"]).env("SOUK_TOPIC_PREFIX", prefix);
    if let Some(dir) = schemas {
        cmd.env("SOUK_SCHEMAS_DIR", dir);
    }
    cmd.output().expect("run souk")
}

fn with_new_field(field: &str) -> tempdir::Dir {
    let base = include_str!("../schemas/avro/reserve_requested.avsc");
    let mut json: serde_json::Value = serde_json::from_str(base).unwrap();
    json["fields"].as_array_mut().unwrap().push(serde_json::from_str(field).unwrap());
    let dir = tempdir::Dir::new();
    std::fs::write(dir.0.join("reserve_requested.avsc"), json.to_string()).unwrap();
    dir
}

mod tempdir {
    /// A temporary directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let p = std::env::temp_dir().join(format!("souk-schemas-{}-{}", std::process::id(), rand::random::<u32>()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn apply_is_idempotent_and_refuses_incompatible_changes_with_the_registry_reason() {
    let prefix = souk_runtime::testkit::unique_prefix("schema");
    let first = apply(&prefix, None);
    assert!(first.status.success(), "first apply: {}", String::from_utf8_lossy(&first.stderr));
    let again = apply(&prefix, None);
    assert!(again.status.success(), "second apply: {}", String::from_utf8_lossy(&again.stderr));
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(!out.contains("created topic"), "nothing created the second time: {out}");
    assert!(!out.contains("registered "), "nothing registered the second time: {out}");

    let compatible = with_new_field(r#"{"name":"note","type":["null","string"],"default":null}"#);
    let evolved = apply(&prefix, Some(&compatible.0));
    assert!(evolved.status.success(), "a field with a default is BACKWARD-compatible: {}", String::from_utf8_lossy(&evolved.stderr));

    let incompatible = with_new_field(r#"{"name":"priority","type":"int"}"#);
    let refused = apply(&prefix, Some(&incompatible.0));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a new field without default must be refused");
    assert!(stderr.contains("inventory.commands-value") && stderr.contains("BACKWARD"), "names the subject and the rule: {stderr}");
    assert!(stderr.to_lowercase().contains("priority") || stderr.to_lowercase().contains("default") || stderr.to_lowercase().contains("incompatib"), "carries the reason: {stderr}");
    // The registry itself refused the version under its BACKWARD rule, and said why.
    assert!(stderr.contains("registry says: registry refused schema") && stderr.contains("409"), "carries the registry's own refusal: {stderr}");
}

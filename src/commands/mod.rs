//! One module per CLI command.

pub mod bench;
pub mod demo;
pub mod intent;
pub mod log;
pub mod run;
pub mod topology;

use souk_runtime::topology::Topology;
use std::path::{Path, PathBuf};

static SCHEMA_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Adds the `.avsc` files of `dir` over the built-in catalog (set once from `--schemas`).
pub fn set_schema_dir(dir: PathBuf) {
    let _ = SCHEMA_DIR.set(dir);
}

/// Loads the topology and the schema catalog (built-in, plus `--schemas` overrides).
pub fn load(path: &Path) -> anyhow::Result<(Topology, souk_schemas::Catalog)> {
    let mut catalog = souk_schemas::Catalog::builtin()?;
    if let Some(dir) = SCHEMA_DIR.get() {
        let entries = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        for entry in entries {
            let file = entry?.path();
            if file.extension().is_some_and(|e| e == "avsc") {
                let text = std::fs::read_to_string(&file)?;
                catalog.add(&file.display().to_string(), &text)?;
            }
        }
    }
    Ok((Topology::load(path)?, catalog))
}

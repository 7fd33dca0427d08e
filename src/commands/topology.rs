//! `souk topology check|apply`.

use souk_runtime::topology::Role;
use std::path::Path;

/// Prints every problem with its line; fails if there is any.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let (topology, catalog) = super::load(path)?;
    let known: Vec<String> = catalog.names().map(str::to_string).collect();
    let mut errors = topology.check(&known);
    errors.extend(souk::registry::builtin().check(&topology));
    errors.sort_by_key(|e| e.line);
    for e in &errors {
        eprintln!("{e}");
    }
    if !errors.is_empty() {
        anyhow::bail!("{} problem(s) in {}", errors.len(), path.display());
    }
    let counts: Vec<String> = Role::ALL.iter().map(|role| format!("{} {}", topology.components(*role).len(), role.table())).collect();
    println!("{}: ok ({} topics, {})", path.display(), topology.topics.len(), counts.join(", "));
    Ok(())
}

/// Checks, then creates topics and registers schemas.
pub async fn apply(path: &Path) -> anyhow::Result<()> {
    check(path)?;
    let (topology, catalog) = super::load(path)?;
    let report = souk_runtime::admin::apply(&topology, &catalog, &souk_runtime::stack::kafka_bootstrap(), &souk_runtime::stack::schema_registry_url()).await?;
    for t in &report.created_topics {
        println!("created topic {t}");
    }
    println!("{} topics already existed", report.existing_topics.len());
    for (subject, id, new) in &report.schemas {
        println!("{} {subject} (id {id})", if *new { "registered" } else { "unchanged " });
    }
    Ok(())
}

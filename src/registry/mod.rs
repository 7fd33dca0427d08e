//! The component registry: every kind of processor, stage, sink and producer souk can run, each
//! built by a factory looked up by its `kind` in topology.toml. `souk run` starts whatever the
//! topology declares (or `--only` names); `souk topology check` parses every component's options
//! with its kind's config struct, so an unknown kind or a misspelt option is an error before
//! anything starts.
//!
//! Adding a component is one [`Registry::register`] line in [`builtin`] plus the component itself
//! (ARCHITECTURE.md, "Adding a processor", lists the files).

pub mod builtin;

use anyhow::{anyhow, bail, Context};
use futures::future::BoxFuture;
use serde::Deserialize;
use souk_runtime::codec::Codec;
use souk_runtime::engine::EngineSettings;
use souk_runtime::http::Surface;
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::{CheckError, ComponentSpec, Role, Topology};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

pub use builtin::builtin;

/// Options of a kind that has none: any key in its table besides the common ones is an error.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// What a kind needs from the process before it can be built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// A Postgres pool (migrated).
    pub database: bool,
    /// The tenant registry (routing, secrets, per-tenant settings).
    pub tenants: bool,
}

impl Needs {
    /// Nothing beyond Kafka and the codec.
    pub const NOTHING: Needs = Needs { database: false, tenants: false };
    /// A database pool.
    pub const DATABASE: Needs = Needs { database: true, tenants: false };
    /// The tenant registry.
    pub const TENANTS: Needs = Needs { database: false, tenants: true };
    /// A database pool and the tenant registry.
    pub const DATABASE_AND_TENANTS: Needs = Needs { database: true, tenants: true };

    fn union(self, other: Needs) -> Needs {
        Needs { database: self.database || other.database, tenants: self.tenants || other.tenants }
    }
}

/// Where this deployment's outside world is: values that differ per machine rather than per
/// pipeline, so they come from the command line and the environment, not from topology.toml.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The tenant registry file.
    pub tenants: PathBuf,
    /// Where the HTTP API (every running component's routes) listens.
    pub http_addr: String,
    /// The search index directory (written by the search sink, read by the search API).
    pub index_dir: PathBuf,
    /// WhatsApp Cloud API base URL.
    pub whatsapp_base_url: String,
    /// Graph API version of outbound calls.
    pub whatsapp_api_version: String,
    /// Payment provider (Stripe-compatible API) base URL of the payments dispatcher.
    pub payments_base_url: String,
    /// Instagram Graph API base URL of the social dispatcher.
    pub instagram_base_url: String,
    /// OpenAI-compatible endpoint and model for stages that call a model; offline when `None`.
    pub llm: Option<(String, String)>,
    /// Overrides the clock's `interval_ms`.
    pub tick_interval_ms: Option<u64>,
    /// The clock ticks only when asked over HTTP (tests and demos drive stream time).
    pub driven_clock: bool,
}

/// Everything a factory may use to build a component: shared by every component of one `souk run`.
pub struct BuildContext {
    /// The loaded topology.
    pub topology: Topology,
    /// The Schema Registry codec.
    pub codec: Arc<Codec>,
    /// Kafka bootstrap servers, exactly-once mode and instance identity.
    pub engine: EngineSettings,
    /// The migrated Postgres pool, when a wanted component needs one.
    pub db: Option<sqlx::PgPool>,
    /// The tenant registry (empty when no wanted component needs it).
    pub tenants: Arc<Tenants>,
    /// Machine-specific settings.
    pub deployment: Deployment,
    /// Turns true when the components must stop (each finishes its current batch).
    pub shutdown: watch::Receiver<bool>,
}

impl BuildContext {
    /// The database pool; present whenever a component whose kind needs it is built.
    pub fn db(&self) -> anyhow::Result<sqlx::PgPool> {
        self.db.clone().ok_or_else(|| anyhow!("this component needs Postgres but no pool was opened (its kind must declare Needs::database)"))
    }

    /// The instance id as `group.instance.id`, when the operator chose a stable one.
    pub fn static_instance(&self) -> Option<String> {
        self.engine.static_membership.then(|| self.engine.instance.clone())
    }
}

/// A built component: the task that runs it until shutdown, and its share of the HTTP API.
pub struct Started {
    /// Runs the component; ends when `shutdown` turns true, or fails. `None` for a component whose
    /// routes do all its work.
    pub task: Option<BoxFuture<'static, anyhow::Result<()>>>,
    /// Routes it serves; `souk run` serves every running component's routes on one address.
    pub http: Option<Surface>,
}

impl Started {
    /// A component that only runs a task.
    pub fn task(task: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static) -> Started {
        Started { task: Some(Box::pin(task)), http: None }
    }

    /// A component that only serves HTTP.
    pub fn http(surface: Surface) -> Started {
        Started { task: None, http: Some(surface) }
    }
}

/// Builds one component of a kind: the resolved declaration and the shared context in, a running
/// task out. Everything that can fail at start (options, topics, binding) fails here.
pub type BuildFn = fn(Arc<BuildContext>, ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>>;

/// One registered kind.
#[derive(Clone, Copy)]
pub struct Kind {
    /// What it needs from the process.
    pub needs: Needs,
    /// Parses the component's options with the kind's config struct (refusing unknown fields).
    pub check: fn(&ComponentSpec) -> anyhow::Result<()>,
    /// Builds it.
    pub build: BuildFn,
}

impl Kind {
    /// A kind whose options are `T`.
    pub fn new<T: serde::de::DeserializeOwned>(needs: Needs, build: BuildFn) -> Kind {
        Kind { needs, check: |spec| spec.options::<T>().map(|_| ()), build }
    }
}

/// Kinds by role and name.
#[derive(Default, Clone)]
pub struct Registry {
    kinds: BTreeMap<(Role, &'static str), Kind>,
}

impl Registry {
    /// Registers `kind` as `name` for components of `role`; a name registered twice is a bug.
    pub fn register(&mut self, role: Role, name: &'static str, kind: Kind) -> &mut Registry {
        assert!(self.kinds.insert((role, name), kind).is_none(), "{role} kind {name} registered twice");
        self
    }

    /// The kind a component declares.
    pub fn kind(&self, role: Role, kind: &str) -> anyhow::Result<&Kind> {
        self.kinds.iter().find(|((r, n), _)| *r == role && *n == kind).map(|(_, k)| k).ok_or_else(|| {
            let known: Vec<&str> = self.kinds.keys().filter(|(r, _)| *r == role).map(|(_, n)| *n).collect();
            anyhow!("unknown {role} kind {kind:?} (this build has: {})", known.join(", "))
        })
    }

    /// Registered kind names of `role`.
    pub fn names(&self, role: Role) -> Vec<&'static str> {
        self.kinds.keys().filter(|(r, _)| *r == role).map(|(_, n)| *n).collect()
    }

    /// Every component's kind exists and its options parse; each problem names its line.
    pub fn check(&self, topology: &Topology) -> Vec<CheckError> {
        let mut errors = Vec::new();
        for (role, name, decl) in topology.all_components() {
            let line = topology.line_of_kind(decl);
            let checked = self.kind(role, decl.kind.get_ref()).and_then(|kind| (kind.check)(&topology.component(role, name)?));
            if let Err(e) = checked {
                errors.push(CheckError { line, message: format!("{role} {name}: {e:#}") });
            }
        }
        errors
    }

    /// The components `only` selects (all when empty), with their roles; a name that is not
    /// declared is an error.
    pub fn selected(&self, topology: &Topology, only: &[String]) -> anyhow::Result<Vec<(Role, String)>> {
        for o in only {
            if !topology.all_components().any(|(_, n, _)| n == o) {
                bail!("--only {o}: no processor, stage, sink, producer or api of that name in the topology");
            }
        }
        Ok(topology.all_components().filter(|(_, n, _)| only.is_empty() || only.contains(n)).map(|(r, n, _)| (r, n.clone())).collect())
    }

    /// What the selected components need together.
    pub fn needs(&self, topology: &Topology, selected: &[(Role, String)]) -> anyhow::Result<Needs> {
        let mut needs = Needs::NOTHING;
        for (role, name) in selected {
            needs = needs.union(self.kind(*role, &topology.component(*role, name)?.kind)?.needs);
        }
        Ok(needs)
    }

    /// Builds every selected component, in topology order (processors, stages, sinks, producers).
    pub async fn build(&self, cx: Arc<BuildContext>, selected: &[(Role, String)]) -> anyhow::Result<Vec<(String, Started)>> {
        // Every component is checked before any starts; then each starts as its own task (loading
        // its tables, initialising its transactional producer, which blocks), so a process starts
        // in the time of its slowest component rather than the sum of all.
        let mut builds = Vec::with_capacity(selected.len());
        for (role, name) in selected {
            let spec = cx.topology.component(*role, name)?;
            let kind = self.kind(*role, &spec.kind).with_context(|| format!("{role} {name}"))?;
            (kind.check)(&spec)?;
            let (role, name, build) = (*role, name.clone(), (kind.build)(cx.clone(), spec));
            builds.push(tokio::spawn(async move {
                let began = std::time::Instant::now();
                let built = build.await.with_context(|| format!("starting {role} {name}"))?;
                tracing::debug!(component = %name, took_ms = began.elapsed().as_millis() as u64, "component built");
                Ok::<_, anyhow::Error>((name, built))
            }));
        }
        let mut started = Vec::with_capacity(builds.len());
        for build in builds {
            started.push(build.await.context("a component's start panicked")??);
        }
        Ok(started)
    }
}

#[cfg(test)]
mod tests;

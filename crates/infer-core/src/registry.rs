//! The list of every backend this build knows, usable or not.

use serde::{Deserialize, Serialize};

use crate::{Backend, BackendInfo, Error, ModelFormat};

/// Every backend of this build, stubs included, so reports can say why one is missing.
#[derive(Default)]
pub struct Registry {
    backends: Vec<Box<dyn Backend>>,
}

/// Whether a backend can be used, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Availability {
    /// Usable.
    Available(BackendInfo),
    /// The framework binding was not compiled in.
    NotCompiled {
        /// The message, with the feature to enable.
        reason: String,
    },
    /// Compiled in but not usable here.
    Unavailable {
        /// Why.
        reason: String,
    },
}

impl Availability {
    /// A short text for tables: `available`, `not compiled`, `unavailable: ...`.
    #[must_use]
    pub fn summary(&self) -> String {
        match self {
            Availability::Available(info) => format!("available ({})", info.runtime_version),
            Availability::NotCompiled { .. } => "not compiled".into(),
            Availability::Unavailable { reason } => format!("unavailable: {reason}"),
        }
    }
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a backend.
    pub fn register(&mut self, backend: Box<dyn Backend>) {
        self.backends.push(backend);
    }

    /// All backends in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Backend> {
        self.backends.iter().map(AsRef::as_ref)
    }

    /// The backend with this name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&dyn Backend> {
        self.iter().find(|b| b.name() == name)
    }

    /// The backends that read `format`.
    pub fn for_format(&self, format: ModelFormat) -> impl Iterator<Item = &dyn Backend> {
        self.iter().filter(move |b| b.formats().contains(&format))
    }

    /// Probes every backend.
    #[must_use]
    pub fn probe_all(&self) -> Vec<(&'static str, Availability)> {
        self.iter().map(|b| (b.name(), availability(b))).collect()
    }
}

/// Probes one backend and classifies the answer.
#[must_use]
pub fn availability(backend: &dyn Backend) -> Availability {
    match backend.probe() {
        Ok(info) => Availability::Available(info),
        Err(e @ Error::NotCompiled { .. }) => Availability::NotCompiled { reason: e.to_string() },
        Err(Error::Unavailable { reason, .. }) => Availability::Unavailable { reason },
        Err(e) => Availability::Unavailable { reason: e.to_string() },
    }
}

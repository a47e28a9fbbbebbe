//! The list of every backend this build knows, usable or not.

use serde::{Deserialize, Serialize};

use std::path::Path;

use crate::{Backend, BackendInfo, Error, ModelFormat, Probe, Result, Sniff};

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

    /// The backend named `name`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] listing the known names.
    pub fn named(&self, name: &str) -> Result<&dyn Backend> {
        self.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.iter().map(Backend::name).collect();
            Error::InvalidInput(format!("unknown backend `{name}`: expected one of {}", known.join(", ")))
        })
    }

    /// Every backend that reads `model`, with the format it recognised, best first: those that
    /// recognised its content, the ones whose format the file's name also says first (the name
    /// breaks ties), then those that only recognised the name; each group in registration order
    /// (so the first registered reader of a format is its default).
    ///
    /// # Errors
    /// [`Error::Load`] naming the path when it cannot be read.
    pub fn readers(&self, model: &Path) -> Result<Vec<(&dyn Backend, ModelFormat)>> {
        let probe = Probe::new(model)?;
        let sniffs: Vec<(&dyn Backend, Sniff)> = self.iter().map(|b| (b, b.sniff(&probe))).collect();
        // 0: content and name agree; 1: content only; 2: name only.
        let rank = |s: Sniff| match s {
            Sniff::Content(f) if probe.named(f) => Some(0),
            Sniff::Content(_) => Some(1),
            Sniff::Name(_) => Some(2),
            Sniff::No => None,
        };
        let mut ranked: Vec<(usize, &dyn Backend, ModelFormat)> =
            sniffs.into_iter().filter_map(|(b, s)| Some((rank(s)?, b, s.format()?))).collect();
        ranked.sort_by_key(|&(rank, ..)| rank);
        Ok(ranked.into_iter().map(|(_, b, f)| (b, f)).collect())
    }

    /// The other backends that recognise `model` by its content besides `chosen`, for a note
    /// such as "also read by openvino, tract (--backend NAME)": empty when the choice was the
    /// only one.
    ///
    /// # Errors
    /// [`Error::Load`] naming the path when it cannot be read.
    pub fn alternatives(&self, model: &Path, chosen: &str) -> Result<Vec<&'static str>> {
        let probe = Probe::new(model)?;
        Ok(self
            .iter()
            .filter(|b| b.name() != chosen && matches!(b.sniff(&probe), Sniff::Content(_)))
            .map(Backend::name)
            .collect())
    }

    /// The backend for `model`: the one named, or the default reader of its format.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an unknown name; [`Error::Load`] naming the path when it does
    /// not exist or no backend reads it (listing what each backend reads).
    pub fn choose(&self, model: &Path, name: Option<&str>) -> Result<(&dyn Backend, Option<ModelFormat>)> {
        if let Some(name) = name {
            let backend = self.named(name)?;
            let probe = Probe::new(model)?;
            return Ok((backend, backend.sniff(&probe).format()));
        }
        match self.readers(model)?.first() {
            Some(&(b, f)) => Ok((b, Some(f))),
            None => Err(Error::load(
                model,
                format!("unknown model format: expected {}; pass --backend to choose explicitly", self.format_hints()),
            )),
        }
    }

    /// What the backends read, for messages: `.onnx (onnx), a SavedModel folder (tf), …`.
    #[must_use]
    pub fn format_hints(&self) -> String {
        let mut hints: Vec<String> = Vec::new();
        for b in self.iter() {
            for f in b.formats() {
                let h = format!("{} ({})", f.hint, b.name());
                if !hints.contains(&h) {
                    hints.push(h);
                }
            }
        }
        hints.join(", ")
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{LoadOptions, Session};

    const A: ModelFormat = ModelFormat { id: "a", name: "A", hint: ".a", extensions: &["a"] };
    const B: ModelFormat = ModelFormat { id: "b", name: "B", hint: ".b", extensions: &["b"] };

    /// Reads `.a` files that start with `A` (content) or any `.a` (name); `strict` ones only by content.
    struct Fake(&'static str, bool);

    impl Backend for Fake {
        fn name(&self) -> &'static str {
            self.0
        }
        fn formats(&self) -> &'static [ModelFormat] {
            &[A]
        }
        fn sniff(&self, p: &Probe) -> Sniff {
            match (p.has_extension(&["a"]), p.head.starts_with(b"A")) {
                (true, true) => Sniff::Content(A),
                (true, false) if !self.1 => Sniff::Name(A),
                _ => Sniff::No,
            }
        }
        fn probe(&self) -> Result<BackendInfo> {
            Err(Error::Unavailable { backend: self.0.into(), reason: "fake".into() })
        }
        fn load(&self, path: &Path, _: &LoadOptions) -> Result<Box<dyn Session>> {
            Err(Error::load(path, "fake"))
        }
    }

    #[test]
    fn chooses_by_content_then_name_then_registration_order() {
        let mut r = Registry::new();
        r.register(Box::new(Fake("loose", false)));
        r.register(Box::new(Fake("strict", true)));
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("m.a");
        std::fs::write(&good, b"A...").unwrap();
        let names = |p| r.readers(p).unwrap().iter().map(|(b, _)| b.name()).collect::<Vec<_>>();
        assert_eq!(names(&good), ["loose", "strict"]);
        assert_eq!(r.choose(&good, None).unwrap().0.name(), "loose");
        assert_eq!(r.choose(&good, Some("strict")).unwrap().0.name(), "strict");
        let bad = dir.path().join("m2.a");
        std::fs::write(&bad, b"junk").unwrap();
        assert_eq!(names(&bad), ["loose"]);
        let other = dir.path().join("m.txt");
        std::fs::write(&other, b"A").unwrap();
        let e = r.choose(&other, None).err().unwrap().to_string();
        assert!(e.contains("m.txt") && e.contains(".a (loose), .a (strict)"), "{e}");
        let e = r.choose(&good, Some("nope")).err().unwrap().to_string();
        assert!(e.contains("unknown backend `nope`: expected one of loose, strict"), "{e}");
        assert!(r.choose(&dir.path().join("gone.a"), None).err().unwrap().to_string().contains("gone.a"));
        assert_eq!(r.alternatives(&good, "loose").unwrap(), ["strict"]);
        assert!(r.alternatives(&bad, "loose").unwrap().is_empty());
    }

    /// Reads files that start with its letter whatever they are called, and claims files named
    /// with its extension by name.
    struct ByContent(&'static str, ModelFormat, &'static [u8]);

    impl Backend for ByContent {
        fn name(&self) -> &'static str {
            self.0
        }
        fn formats(&self) -> &'static [ModelFormat] {
            &[]
        }
        fn sniff(&self, p: &Probe) -> Sniff {
            if p.head.starts_with(self.2) {
                Sniff::Content(self.1)
            } else if p.named(self.1) {
                Sniff::Name(self.1)
            } else {
                Sniff::No
            }
        }
        fn probe(&self) -> Result<BackendInfo> {
            Err(Error::Unavailable { backend: self.0.into(), reason: "fake".into() })
        }
        fn load(&self, path: &Path, _: &LoadOptions) -> Result<Box<dyn Session>> {
            Err(Error::load(path, "fake"))
        }
    }

    /// Content decides whatever the name; the name breaks a tie between two readers of the
    /// content; a name alone comes last.
    #[test]
    fn content_decides_over_the_name_which_only_breaks_ties() {
        let mut r = Registry::new();
        r.register(Box::new(ByContent("reads-a", A, b"A")));
        r.register(Box::new(ByContent("reads-b", B, b"B")));
        r.register(Box::new(ByContent("reads-any", B, b"")));
        let dir = tempfile::tempdir().unwrap();
        let names = |p: &Path| r.readers(p).unwrap().iter().map(|(b, _)| b.name()).collect::<Vec<_>>();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        // An `A` file named `.b`: reads-a by content, although the name says B.
        let a_named_b = write("m.b", b"A...");
        assert_eq!(names(&a_named_b), ["reads-any", "reads-a", "reads-b"]);
        let no_extension = write("model", b"A...");
        assert_eq!(names(&no_extension), ["reads-a", "reads-any"]);
        assert_eq!(r.choose(&no_extension, None).unwrap().0.name(), "reads-a");
        assert_eq!(r.alternatives(&no_extension, "reads-a").unwrap(), ["reads-any"]);
        // Two readers of the content: the one whose extension the file has first.
        let b_named_b = write("m2.b", b"B...");
        assert_eq!(names(&b_named_b), ["reads-b", "reads-any"]);
        let b_named_a = write("m2.a", b"B...");
        assert_eq!(names(&b_named_a), ["reads-b", "reads-any", "reads-a"]);
    }
}

//! The cases, each a method of [`Suite`] that panics (fails its test) on a backend that does not
//! conform. [`crate::suite!`] makes one `#[test]` of each.

use std::{
    collections::BTreeSet,
    io::Write,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
};

use infer_core::{
    Backend, BackendInfo, DType, Device, Dim, Error, LoadOptions, Probe, Result, Session, Sniff, Tensor, npy::read_npy,
};

use crate::fixtures::{self, Expect, Fixture};

/// Set to `1` to make a backend that is not available (not compiled, or its runtime missing)
/// fail every case that needs it instead of skipping it. `cargo xtask test` sets it for its
/// all-backends run.
pub const REQUIRE_ALL_BACKENDS: &str = "INFER_REQUIRE_ALL_BACKENDS";

/// Skips a test that cannot run here, visibly: one line `SKIPPED <test>: <why>` written past the
/// test harness's capture (so `cargo test` shows it and `cargo xtask test` counts it), or a
/// failure when [`REQUIRE_ALL_BACKENDS`] is set, where everything the test needs must be present.
///
/// # Panics
/// Under [`REQUIRE_ALL_BACKENDS`]: that is how the test fails.
pub fn skip(test: &str, why: &str) {
    assert!(!require_all_backends(), "{test} cannot run ({why}) but {REQUIRE_ALL_BACKENDS}=1 requires it");
    say(&format!("SKIPPED {test}: {why}"));
}

/// Whether [`REQUIRE_ALL_BACKENDS`] is set to `1`.
#[must_use]
pub fn require_all_backends() -> bool {
    std::env::var(REQUIRE_ALL_BACKENDS).is_ok_and(|v| v == "1")
}

/// The cases that need the backend's runtime (the others, `probe` and `sniff`, always run).
pub const NEED_RUNTIME: &[&str] =
    &["info", "parity", "wrong_shape", "wrong_dtype", "wrong_count", "nan_input", "absent_device", "truncated_file"];

/// Writes a line to the process's stderr directly, past the test harness's output capture, so
/// that skips and observations show in `cargo test`'s output even when the test passes.
fn say(line: &str) {
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}

/// Calls `f`, turning a panic into a failure that says which call panicked: a backend must
/// answer bad input with an error, never a panic.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!("{what} panicked instead of returning an error: {msg}")
        }
    }
}

/// Requires `e`'s message to be one non-empty line.
fn one_line(what: &str, e: &Error) -> String {
    let msg = e.to_string();
    assert!(!msg.trim().is_empty() && !msg.contains('\n'), "{what}: the error must be one line, got {msg:?}");
    msg
}

/// The conformance suite of one backend on its fixtures.
pub struct Suite {
    backend: Box<dyn Backend>,
    compiled: bool,
    fixtures: Vec<Fixture>,
}

impl Suite {
    /// The suite of `backend`, on every catalogue fixture of its formats
    /// ([`fixtures::for_backend`]). `compiled` says whether this build compiled the backend's
    /// binding (`cfg!(feature = "runtime")`): a stub must answer `NotCompiled`, a binding never.
    pub fn new(backend: impl Backend + 'static, compiled: bool) -> Self {
        let fixtures = fixtures::for_backend(&backend);
        Self { backend: Box::new(backend), compiled, fixtures }
    }

    /// The same suite on other fixtures.
    #[must_use]
    pub fn with_fixtures(mut self, fixtures: Vec<Fixture>) -> Self {
        self.fixtures = fixtures;
        self
    }

    fn name(&self) -> &'static str {
        self.backend.name()
    }

    /// The fixtures, at least one: a backend with none would pass every case without running.
    fn fixtures(&self) -> &[Fixture] {
        let formats: Vec<&str> = self.backend.formats().iter().map(|f| f.id).collect();
        assert!(
            !self.fixtures.is_empty(),
            "backend `{}`: no committed tiny fixture of its formats ({}): add one to fixtures/tiny/ and to \
             infer_conformance::fixtures::catalogue",
            self.name(),
            formats.join(", ")
        );
        &self.fixtures
    }

    /// The probe's answer when the backend can run here. Otherwise says why the case is skipped
    /// and returns `None`, or fails when [`REQUIRE_ALL_BACKENDS`] is set.
    fn runtime(&self, case: &str) -> Option<BackendInfo> {
        match self.backend.probe() {
            Ok(info) => Some(info),
            Err(e) => {
                assert!(
                    !require_all_backends(),
                    "conformance `{case}`: backend `{}` is not available and {REQUIRE_ALL_BACKENDS}=1: {e}",
                    self.name()
                );
                // Once per backend and process: the cases run side by side in one test binary.
                static SAID: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
                if SAID.lock().unwrap_or_else(PoisonError::into_inner).insert(self.name()) {
                    say(&format!(
                        "conformance: SKIPPED every {} case that needs its runtime ({}): {e}",
                        self.name(),
                        NEED_RUNTIME.join(", ")
                    ));
                }
                None
            }
        }
    }

    fn load(&self, f: &Fixture, model: &Path, opts: &LoadOptions) -> Result<Box<dyn Session>> {
        no_panic(&format!("{}: loading {}", self.name(), f.name), || self.backend.load(model, opts))
    }

    /// Loads `f` on the CPU with default options.
    fn session(&self, f: &Fixture) -> Box<dyn Session> {
        self.load(f, &f.model, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{}: cannot load {}: {e}", self.name(), f.name))
    }

    fn run(&self, f: &Fixture, s: &mut dyn Session, inputs: &[Tensor], what: &str) -> Result<Vec<Tensor>> {
        no_panic(&format!("{}: running {} with {what}", self.name(), f.name), || s.run(inputs))
    }

    /// **probe**: a build without the binding answers `NotCompiled` naming the backend and its
    /// `crate/feature`; a build with it answers `Ok` (a runtime version, the CPU among the
    /// devices, a library that exists) or `Unavailable` with a one-line reason; nothing else.
    pub fn probe(&self) {
        let name = self.name();
        let answer = no_panic(&format!("{name}: probe"), || self.backend.probe());
        match &answer {
            Ok(info) => {
                assert!(self.compiled, "{name}: probe answers Ok in a build without its binding");
                assert_eq!(info.name, name, "{name}: probe names another backend");
                assert!(!info.runtime_version.trim().is_empty(), "{name}: probe gives no runtime version");
                assert!(info.devices.contains(&Device::Cpu), "{name}: the CPU is not among {:?}", info.devices);
                if let Some(lib) = &info.library {
                    assert!(lib.exists(), "{name}: the library {} does not exist", lib.display());
                }
            }
            Err(e @ Error::NotCompiled { backend, feature }) => {
                assert!(!self.compiled, "{name}: compiled with its binding, yet probe says: {e}");
                assert_eq!(backend, name, "{e}");
                let (krate, feat) = feature.split_once('/').unwrap_or_default();
                assert!(!krate.is_empty() && !feat.is_empty(), "{name}: the feature must be `crate/feature`: {e}");
                one_line("probe", e);
            }
            Err(e @ Error::Unavailable { backend, reason }) => {
                assert!(self.compiled, "{name}: not compiled, yet probe says unavailable (not `NotCompiled`): {e}");
                assert_eq!(backend, name, "{e}");
                assert!(!reason.trim().is_empty(), "{name}: unavailable without a reason");
                one_line("probe", e);
            }
            Err(e) => panic!("{name}: probe must answer Ok, NotCompiled or Unavailable, got: {e}"),
        }
        // A second probe gives the same answer.
        let again = self.backend.probe();
        assert_eq!(
            again.as_ref().map_err(ToString::to_string),
            answer.as_ref().map_err(ToString::to_string),
            "{name}: two probes disagree"
        );
        if let Err(e) = &answer {
            assert!(!require_all_backends(), "backend `{name}` is not available and {REQUIRE_ALL_BACKENDS}=1: {e}");
        }
    }

    /// **sniff** (no runtime needed): each fixture is claimed by content as its format, a cut
    /// copy of it still by name at least (so that loading it says what is wrong); the other
    /// formats' fixtures and the reference `.npy` files are not claimed at all.
    pub fn sniff(&self) {
        let name = self.name();
        let sniff = |p: &Path| {
            let probe = Probe::new(p).unwrap_or_else(|e| panic!("{e}"));
            no_panic(&format!("{name}: sniff {}", p.display()), || self.backend.sniff(&probe))
        };
        for f in self.fixtures() {
            let got = sniff(&f.model);
            assert!(
                matches!(got, Sniff::Content(format) if format.id == f.format),
                "{name}: {} must be recognised by content as `{}`, got {got:?}",
                f.name,
                f.format
            );
            let (_dir, copy) = truncated_copy(f, 2);
            let got = sniff(&copy);
            assert!(
                got.format().is_some_and(|format| format.id == f.format),
                "{name}: a cut copy of {} must still be claimed as `{}` (by name at least), got {got:?}",
                f.name,
                f.format
            );
        }
        let own: Vec<&str> = self.backend.formats().iter().map(|f| f.id).collect();
        for other in fixtures::catalogue() {
            let mut paths = other.reference_inputs.clone();
            if !own.contains(&other.format) {
                paths.push(other.model.clone());
            }
            for p in paths {
                let got = sniff(&p);
                assert_eq!(got, Sniff::No, "{name}: must not claim {}", p.display());
            }
        }
    }

    /// **info**: inputs and outputs by name, dtype and dimensions (fixed sizes exact, dynamic
    /// ones dynamic), the CPU as the device, the parameter count where the backend reports one.
    pub fn info(&self) {
        if self.runtime("info").is_none() {
            return;
        }
        let name = self.name();
        for f in self.fixtures() {
            let s = self.session(f);
            check_specs(&format!("{name}: {} input", f.name), s.inputs(), &f.inputs);
            check_specs(&format!("{name}: {} output", f.name), s.outputs(), &f.outputs);
            assert_eq!(s.device(), Device::Cpu, "{name}: {}", f.name);
            if let (Some(expected), Some(got)) = (f.parameters, s.info().parameters) {
                assert_eq!(got.count, expected, "{name}: {} parameters", f.name);
            }
            // Where a backend says where each description came from, it says it for each one.
            let (ins, outs) = (s.info().input_sources.clone(), s.info().output_sources.clone());
            assert!(ins.is_empty() || ins.len() == s.inputs().len(), "{name}: {} input sources {ins:?}", f.name);
            assert!(outs.is_empty() || outs.len() == s.outputs().len(), "{name}: {} output sources {outs:?}", f.name);
        }
    }

    /// **parity**: the reference inputs give the committed reference outputs (shape, dtype, and
    /// values within the fixture's tolerance); where rows are independent and the batch is free,
    /// a row run alone gives its reference row.
    pub fn parity(&self) {
        if self.runtime("parity").is_none() {
            return;
        }
        let name = self.name();
        for f in self.fixtures() {
            let mut s = self.session(f);
            let inputs = reference(&f.reference_inputs);
            let expected = reference(&f.reference_outputs);
            let got = self
                .run(f, s.as_mut(), &inputs, "its reference inputs")
                .unwrap_or_else(|e| panic!("{name}: {} on its reference inputs: {e}", f.name));
            let diffs = compare(&format!("{name}: {}", f.name), &got, &expected, f.tolerance);
            eprintln!("conformance: {name}::parity {}: max abs diff {diffs:?} (allowed {})", f.name, f.tolerance);
            let free_batch = f.inputs.iter().all(|i| i.dims.as_ref().is_none_or(|d| d.first() == Some(&None)));
            if f.rows_independent && free_batch && inputs[0].shape().first() > Some(&1) {
                let row: Vec<Tensor> = inputs.iter().map(|t| rows(t, 1, 2)).collect();
                let got = self
                    .run(f, s.as_mut(), &row, "one row")
                    .unwrap_or_else(|e| panic!("{name}: {} on row 1 alone: {e}", f.name));
                let want: Vec<Tensor> = expected.iter().map(|t| rows(t, 1, 2)).collect();
                compare(&format!("{name}: {} row 1 alone", f.name), &got, &want, f.tolerance);
            }
        }
    }

    /// **wrong shape**: each input in turn given a last dimension one too long: a described
    /// input is refused with `ShapeMismatch` naming it; an undescribed one (any tensor accepted)
    /// fails in the runtime with a one-line error. Never a panic.
    pub fn wrong_shape(&self) {
        if self.runtime("wrong_shape").is_none() {
            return;
        }
        let name = self.name();
        for f in self.fixtures() {
            let mut s = self.session(f);
            for (i, expect) in f.inputs.iter().enumerate() {
                let mut inputs = reference(&f.reference_inputs);
                let mut shape = inputs[i].shape().to_vec();
                if let Some(last) = shape.last_mut() {
                    *last += 1;
                }
                inputs[i] = Tensor::zeros(inputs[i].dtype(), shape.clone()).unwrap_or_else(|e| panic!("{e}"));
                let what = format!("`{}` of shape {shape:?}", expect.name);
                let err = self.run(f, s.as_mut(), &inputs, &what).err().unwrap_or_else(|| {
                    panic!("{name}: {} accepted {what}", f.name);
                });
                let msg = one_line(&format!("{name}: {} with {what}", f.name), &err);
                if expect.is_described() {
                    assert!(
                        matches!(err.root(), Error::ShapeMismatch { name: n, actual, .. } if n == expect.name && *actual == shape),
                        "{name}: {} with {what}: expected a shape mismatch naming `{}`, got: {msg}",
                        f.name,
                        expect.name
                    );
                }
            }
        }
    }

    /// **wrong dtype**: each input in turn given as another dtype (f32 → f64, integers → the
    /// other integer width): a described input is refused with `DtypeMismatch` naming it, the
    /// dtype expected and the one given. An undescribed input may be accepted (the runtime
    /// converts or promotes) or refused with a one-line error; what happened is printed.
    pub fn wrong_dtype(&self) {
        if self.runtime("wrong_dtype").is_none() {
            return;
        }
        let name = self.name();
        for f in self.fixtures() {
            let mut s = self.session(f);
            for (i, expect) in f.inputs.iter().enumerate() {
                let mut inputs = reference(&f.reference_inputs);
                let given = inputs[i].dtype();
                inputs[i] = other_dtype(&inputs[i]);
                let wrong = inputs[i].dtype();
                let what = format!("`{}` as {wrong} instead of {given}", expect.name);
                let answer = self.run(f, s.as_mut(), &inputs, &what);
                match (answer, expect.is_described()) {
                    (Ok(_), true) => panic!("{name}: {} accepted {what}", f.name),
                    (Ok(_), false) => {
                        say(&format!(
                            "conformance: {name}::wrong_dtype {}: {what} accepted (undescribed input)",
                            f.name
                        ));
                    }
                    (Err(e), described) => {
                        let msg = one_line(&format!("{name}: {} with {what}", f.name), &e);
                        if described {
                            assert!(
                                matches!(e.root(), Error::DtypeMismatch { name: n, expected, actual }
                                    if n == expect.name && Some(*expected) == expect.dtype && *actual == wrong),
                                "{name}: {} with {what}: expected a dtype mismatch naming `{}`, got: {msg}",
                                f.name,
                                expect.name
                            );
                        } else {
                            say(&format!("conformance: {name}::wrong_dtype {}: {what} refused: {msg}", f.name));
                        }
                    }
                }
            }
        }
    }

    /// **wrong count**: no inputs, and one input too many, are refused with `InvalidInput`
    /// saying how many the model takes.
    pub fn wrong_count(&self) {
        if self.runtime("wrong_count").is_none() {
            return;
        }
        let name = self.name();
        for f in self.fixtures() {
            let mut s = self.session(f);
            let mut inputs = reference(&f.reference_inputs);
            inputs.push(inputs[0].clone());
            for given in [&[][..], &inputs[..]] {
                let what = format!("{} input(s)", given.len());
                let err = self.run(f, s.as_mut(), given, &what).err().unwrap_or_else(|| {
                    panic!("{name}: {} accepted {what}", f.name);
                });
                let msg = one_line(&format!("{name}: {} with {what}", f.name), &err);
                assert!(
                    matches!(err.root(), Error::InvalidInput(m) if m.contains(&format!("takes {} input(s)", f.inputs.len()))),
                    "{name}: {} with {what}: expected an invalid-input error saying it takes {}, got: {msg}",
                    f.name,
                    f.inputs.len()
                );
            }
        }
    }

    /// **NaN input**: each floating-point input in turn with its first row all NaN. The backend
    /// must not panic: it runs (the outputs keep their shapes, and where rows are independent the
    /// other rows keep their reference values) or refuses with a one-line error. What it did is
    /// printed.
    pub fn nan_input(&self) {
        if self.runtime("nan_input").is_none() {
            return;
        }
        let name = self.name();
        for f in self.fixtures() {
            let mut s = self.session(f);
            let expected = reference(&f.reference_outputs);
            for (i, expect) in f.inputs.iter().enumerate() {
                let mut inputs = reference(&f.reference_inputs);
                let Some(poisoned) = nan_first_row(&inputs[i]) else { continue };
                inputs[i] = poisoned;
                let what = format!("row 0 of `{}` NaN", expect.name);
                match self.run(f, s.as_mut(), &inputs, &what) {
                    Err(e) => {
                        let msg = one_line(&format!("{name}: {} with {what}", f.name), &e);
                        say(&format!("conformance: {name}::nan_input {}: {what}: refused: {msg}", f.name));
                    }
                    Ok(got) => {
                        assert_eq!(got.len(), expected.len(), "{name}: {} with {what}: output count", f.name);
                        let mut seen = Vec::new();
                        for ((y, want), spec) in got.iter().zip(&expected).zip(&f.outputs) {
                            assert_eq!(y.shape(), want.shape(), "{name}: {} with {what}: `{}`", f.name, spec.name);
                            let n = y.shape().first().copied().unwrap_or(1);
                            if f.rows_independent && n > 1 {
                                let diff = rows(y, 1, n).max_abs_diff(&rows(want, 1, n)).unwrap_or(f64::NAN);
                                assert!(
                                    diff <= f.tolerance,
                                    "{name}: {} with {what}: the NaN reached other rows of `{}` (max abs diff {diff})",
                                    f.name,
                                    spec.name
                                );
                            }
                            let row0 = if n > 0 { rows(y, 0, 1).to_f64_vec() } else { Vec::new() };
                            let nan = row0.iter().filter(|v| v.is_nan()).count();
                            seen.push(format!("`{}` row 0: {nan} of {} NaN", spec.name, row0.len()));
                        }
                        say(&format!("conformance: {name}::nan_input {}: {what}: ran, {}", f.name, seen.join(", ")));
                    }
                }
            }
        }
    }

    /// **absent device**: a CUDA ordinal the backend does not list (`cuda:7`, or one past the
    /// last it lists) is refused with `DeviceUnavailable` naming the device; with
    /// `fallback_to_cpu` the session runs on the CPU and still matches the reference.
    pub fn absent_device(&self) {
        let Some(info) = self.runtime("absent_device") else { return };
        let name = self.name();
        let listed: Vec<usize> =
            info.devices.iter().filter_map(|d| if let Device::Cuda(n) = d { Some(*n) } else { None }).collect();
        let ordinal = if listed.contains(&7) { listed.iter().max().map_or(7, |m| m + 1) } else { 7 };
        let device = Device::Cuda(ordinal);
        for f in self.fixtures() {
            let opts = LoadOptions { device, ..LoadOptions::default() };
            let err = self.load(f, &f.model, &opts).err().unwrap_or_else(|| {
                panic!("{name}: {} loaded on {device}, which it does not list ({:?})", f.name, info.devices);
            });
            let msg = one_line(&format!("{name}: {} on {device}", f.name), &err);
            assert!(
                matches!(err.root(), Error::DeviceUnavailable { backend, device: d, .. } if backend == name && *d == device),
                "{name}: {} on {device}: expected `device unavailable` naming {device}, got: {msg}",
                f.name
            );
            assert!(msg.contains(&device.to_string()), "{name}: the error must name {device}: {msg}");
            eprintln!("conformance: {name}::absent_device {}: {msg}", f.name);
            let opts = LoadOptions { fallback_to_cpu: true, ..opts };
            let mut s = self.load(f, &f.model, &opts).unwrap_or_else(|e| {
                panic!("{name}: {} on {device} with fallback_to_cpu: {e}", f.name);
            });
            assert_eq!(s.device(), Device::Cpu, "{name}: {} after falling back", f.name);
            let got = self
                .run(f, s.as_mut(), &reference(&f.reference_inputs), "its reference inputs after falling back")
                .unwrap_or_else(|e| panic!("{name}: {} after falling back: {e}", f.name));
            compare(
                &format!("{name}: {} after falling back", f.name),
                &got,
                &reference(&f.reference_outputs),
                f.tolerance,
            );
        }
    }

    /// **truncated file**: a copy of the model with its file (or the file named by
    /// [`Fixture::truncate`] in a model folder) cut to half its length, and to nothing, is
    /// refused with a one-line error naming the model or that file. Never a panic.
    pub fn truncated_file(&self) {
        if self.runtime("truncated_file").is_none() {
            return;
        }
        let name = self.name();
        for f in self.fixtures() {
            for divisor in [2, 0] {
                let (_dir, copy) = truncated_copy(f, divisor);
                let cut = f.truncate.map_or_else(|| copy.clone(), |inner| copy.join(inner));
                let what = format!("{} cut to {} bytes", f.name, file_len(&cut));
                let err = self.load(f, &copy, &LoadOptions::default()).err().unwrap_or_else(|| {
                    panic!("{name}: loaded {what}");
                });
                let msg = one_line(&format!("{name}: {what}"), &err);
                assert!(
                    !matches!(err.root(), Error::NotCompiled { .. } | Error::Unavailable { .. }),
                    "{name}: {what}: {msg}"
                );
                eprintln!("conformance: {name}::truncated_file {what}: {msg}");
                let (model, file) = (copy.display().to_string(), cut.display().to_string());
                assert!(
                    msg.contains(&model) || msg.contains(&file),
                    "{name}: {what}: the error must name {file}: {msg}"
                );
            }
        }
    }
}

/// Compares `got` with `expected` output by output; returns the max abs differences.
fn compare(what: &str, got: &[Tensor], expected: &[Tensor], tolerance: f64) -> Vec<f64> {
    assert_eq!(got.len(), expected.len(), "{what}: {} outputs, the reference has {}", got.len(), expected.len());
    got.iter()
        .zip(expected)
        .enumerate()
        .map(|(i, (y, want))| {
            assert_eq!(y.dtype(), want.dtype(), "{what}: output {i}");
            assert_eq!(y.shape(), want.shape(), "{what}: output {i}");
            let diff = y.max_abs_diff(want).unwrap_or(f64::NAN);
            assert!(diff <= tolerance, "{what}: output {i} differs from the reference by {diff} > {tolerance}");
            diff
        })
        .collect()
}

fn check_specs(what: &str, got: &[infer_core::TensorSpec], expected: &[Expect]) {
    let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(|e| e.name).collect();
    assert_eq!(names, want, "{what} names");
    for (spec, e) in got.iter().zip(expected) {
        if let Some(dtype) = e.dtype {
            assert_eq!(spec.dtype, dtype, "{what} `{}`", e.name);
        }
        if let Some(dims) = &e.dims {
            let shape = spec.shape_string();
            let got_dims = spec.dims.as_deref().unwrap_or_else(|| panic!("{what} `{}`: unknown rank", e.name));
            assert_eq!(got_dims.len(), dims.len(), "{what} `{}`: {shape}", e.name);
            for (d, want) in got_dims.iter().zip(dims) {
                match (d, want) {
                    (Dim::Fixed(n), Some(m)) if n == m => {}
                    (Dim::Dynamic(_), None) => {}
                    _ => panic!("{what} `{}`: {shape}, expected {dims:?} (None: dynamic)", e.name),
                }
            }
        }
    }
}

fn reference(paths: &[PathBuf]) -> Vec<Tensor> {
    paths.iter().map(|p| read_npy(p).unwrap_or_else(|e| panic!("reference: {e}"))).collect()
}

fn rows(t: &Tensor, start: usize, end: usize) -> Tensor {
    t.slice_rows(start, end).unwrap_or_else(|e| panic!("rows {start}..{end}: {e}"))
}

/// `t` as another dtype of the same values: f32 ↔ f64, i64 ↔ i32, anything else as f32.
fn other_dtype(t: &Tensor) -> Tensor {
    let shape = t.shape().to_vec();
    let v = t.to_f64_vec();
    #[allow(clippy::cast_possible_truncation)]
    let made = match t.dtype() {
        DType::F32 => Tensor::from_vec(shape, v),
        DType::I64 => Tensor::from_vec(shape, v.into_iter().map(|x| x as i32).collect::<Vec<i32>>()),
        DType::I32 => Tensor::from_vec(shape, v.into_iter().map(|x| x as i64).collect::<Vec<i64>>()),
        _ => Tensor::from_vec(shape, v.into_iter().map(|x| x as f32).collect::<Vec<f32>>()),
    };
    made.unwrap_or_else(|e| panic!("{e}"))
}

/// `t` with its first row NaN, for f32 and f64 tensors.
fn nan_first_row(t: &Tensor) -> Option<Tensor> {
    let row = t.shape().iter().skip(1).product::<usize>();
    let shape = t.shape().to_vec();
    let made = match t.dtype() {
        DType::F32 => {
            let mut v = t.as_slice::<f32>().ok()?.to_vec();
            v.iter_mut().take(row).for_each(|x| *x = f32::NAN);
            Tensor::from_vec(shape, v)
        }
        DType::F64 => {
            let mut v = t.as_slice::<f64>().ok()?.to_vec();
            v.iter_mut().take(row).for_each(|x| *x = f64::NAN);
            Tensor::from_vec(shape, v)
        }
        _ => return None,
    };
    made.ok()
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// A copy of `f`'s files (or folder) in a fresh temporary folder, with the model's file (or the
/// file [`Fixture::truncate`] names in a folder) cut to `len / divisor` bytes (0: emptied).
/// Returns the folder (removed when dropped) and the path to load.
fn truncated_copy(f: &Fixture, divisor: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary folder: {e}"));
    let copy_of = |p: &Path| dir.path().join(p.file_name().unwrap_or_else(|| panic!("{}", p.display())));
    for file in f.files() {
        copy_tree(&file, &copy_of(&file));
    }
    let model = copy_of(&f.model);
    let cut = f.truncate.map_or_else(|| model.clone(), |inner| model.join(inner));
    let bytes = std::fs::read(&cut).unwrap_or_else(|e| panic!("{}: {e}", cut.display()));
    let keep = bytes.len().checked_div(divisor).unwrap_or(0);
    std::fs::write(&cut, &bytes[..keep]).unwrap_or_else(|e| panic!("{}: {e}", cut.display()));
    (dir, model)
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
        for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
            let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", from.display()));
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("{} → {}: {e}", from.display(), to.display()));
    }
}

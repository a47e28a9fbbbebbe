//! One conformance suite, run against every **infer** backend on the committed tiny fixtures
//! (in the spirit of tract's `test-rt`): the same cases, written once, for every backend crate.
//!
//! A backend crate gets the whole suite with one line in its `tests/conformance.rs`:
//!
//! ```text
//! infer_conformance::suite!(infer_onnx::OnnxBackend, compiled = cfg!(feature = "runtime"));
//! ```
//!
//! which makes one `#[test]` per case ([`Suite`]'s methods): `probe`, `sniff`, `info`,
//! `parity`, `wrong_shape`, `wrong_dtype`, `wrong_count`, `nan_input`, `absent_device` and
//! `truncated_file`, each run on every fixture of [`fixtures::catalogue`] whose format the
//! backend declares in `Backend::formats` (or on the list given as `fixtures = …`).
//!
//! A backend that cannot run here (built without its binding, or its runtime missing) runs
//! `probe` (which checks that it says why) and `sniff` (which needs no runtime), and skips the
//! other cases ([`cases::NEED_RUNTIME`]), printing once per test binary
//! `conformance: SKIPPED every <backend> case that needs its runtime (…): <reason>` past the test
//! harness's capture, so the line shows in `cargo test`'s output. With
//! `INFER_REQUIRE_ALL_BACKENDS=1` ([`REQUIRE_ALL_BACKENDS`]) `probe` and those cases fail
//! instead: that is how `cargo xtask test` makes sure that every backend really ran.
//!
//! This crate is a dev-dependency only: it panics (fails the test) on a backend that does not
//! conform, and depends on `infer-core` alone.
//!
//! ```
//! use infer_conformance::fixtures;
//! // The committed fixtures, every one with its format and reference files.
//! let formats: std::collections::BTreeSet<&str> = fixtures::catalogue().iter().map(|f| f.format).collect();
//! assert_eq!(formats.into_iter().collect::<Vec<_>>(), ["onnx", "savedmodel", "torchscript"]);
//! ```

pub mod cases;
pub mod fixtures;

pub use cases::{REQUIRE_ALL_BACKENDS, Suite, require_all_backends, skip};
pub use fixtures::{Expect, Fixture};

/// Makes one `#[test]` per conformance case for a backend, in the test file where it is
/// invoked.
///
/// - `suite!(BACKEND, compiled = BOOL)`: the backend's fixtures from
///   [`fixtures::catalogue`] (those of its formats);
/// - `suite!(BACKEND, compiled = BOOL, fixtures = VEC)`: the given [`Fixture`]s instead.
///
/// `BACKEND` is an expression giving the backend (`infer_onnx::OnnxBackend`,
/// `MyBackend::new()`); `compiled` says whether this build compiled its binding, normally
/// `cfg!(feature = "runtime")`.
#[macro_export]
macro_rules! suite {
    ($backend:expr, compiled = $compiled:expr $(,)?) => {
        $crate::suite!(@tests $crate::Suite::new($backend, $compiled));
    };
    ($backend:expr, compiled = $compiled:expr, fixtures = $fixtures:expr $(,)?) => {
        $crate::suite!(@tests $crate::Suite::new($backend, $compiled).with_fixtures($fixtures));
    };
    (@tests $suite:expr) => {
        fn conformance_suite() -> $crate::Suite {
            $suite
        }
        $crate::suite!(@case conformance_suite; probe sniff info parity wrong_shape wrong_dtype wrong_count nan_input absent_device truncated_file);
    };
    (@case $make:ident; $($case:ident)+) => {
        $(
            #[test]
            fn $case() {
                $make().$case();
            }
        )+
    };
}

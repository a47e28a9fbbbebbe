//! This backend's options ([`crate::OPTIONS`]) and the [`LoadOptions`] it reads, turned into
//! typed settings before any file is read (no runtime needed, so always compiled and tested).
//!
//! ```
//! use infer_core::{LoadOptions, OptLevel};
//! use infer_tract::Settings;
//!
//! let opts = LoadOptions { intra_threads: 2, ..LoadOptions::default() }.with_option("optimize", "off");
//! assert_eq!(Settings::from_options(&opts)?, Settings { optimize: false, threads: 2 });
//! // Without the option, `--optimization none` means the same as `optimize=off`.
//! let opts = LoadOptions { optimization: OptLevel::None, ..LoadOptions::default() };
//! assert!(!Settings::from_options(&opts)?.optimize);
//! # Ok::<(), infer_core::Error>(())
//! ```

use infer_core::{LoadOptions, OptLevel, Result, options};

use crate::{BACKEND, OPTIONS};

/// What a session is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `true`: tract's `into_optimized` (operators lowered to its kernels, fused); `false`: the
    /// decluttered model run as it is (`into_decluttered` then a plan).
    pub optimize: bool,
    /// Threads for tract's matrix products (its only multi-threaded part): `0` or `1` is tract's
    /// own default, everything on the calling thread; `n > 1` a pool of `n` threads per session.
    pub threads: usize,
}

impl Settings {
    /// Reads `opts`: the option `optimize` (`on` or `off`) when given, else `off` only for
    /// [`OptLevel::None`]; the threads from [`LoadOptions::intra_threads`].
    ///
    /// # Errors
    /// [`infer_core::Error::InvalidInput`] for an option this backend does not declare, or a
    /// value it does not accept.
    pub fn from_options(opts: &LoadOptions) -> Result<Self> {
        options::check(BACKEND, OPTIONS, &opts.options)?;
        let optimize = match opts.option("optimize") {
            Some(v) => v.eq_ignore_ascii_case("on"),
            None => opts.optimization != OptLevel::None,
        };
        Ok(Self { optimize, threads: opts.intra_threads })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn optimize_follows_the_option_then_the_level() {
        let on = |o: &LoadOptions| Settings::from_options(o).unwrap().optimize;
        assert!(on(&LoadOptions::default()));
        assert!(!on(&LoadOptions::default().with_option("optimize", "OFF")));
        let none = LoadOptions { optimization: OptLevel::None, ..LoadOptions::default() };
        assert!(!on(&none));
        assert!(on(&none.clone().with_option("optimize", "on")));
        assert!(on(&LoadOptions { optimization: OptLevel::Basic, ..LoadOptions::default() }));
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        let e = Settings::from_options(&LoadOptions::default().with_option("optimize", "fast")).unwrap_err();
        assert!(e.to_string().contains("`optimize` is `fast`: expected one of on, off"), "{e}");
        let e = Settings::from_options(&LoadOptions::default().with_option("hint", "latency")).unwrap_err();
        assert!(e.to_string().contains("no option `hint`: expected optimize"), "{e}");
    }
}

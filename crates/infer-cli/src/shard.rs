//! Sharded batch inference (`infer run MODEL DIR --shard I/N`) and the merge of the shards'
//! outputs (`infer merge`).
//!
//! A job engine (Kubernetes Indexed Job, Slurm job array, AWS Batch array job) runs the same
//! command N times with an index; each run classifies its part of the folder. The parts are
//! contiguous ranges of the folder's image list ordered by relative path (byte order), sized
//! `floor(i·len/N) .. floor((i+1)·len/N)`: balanced within one input, and the same on every
//! machine whatever order the file system lists the folder in.
//!
//! Each shard writes `shard-I-of-N.csv` (or `.jsonl`) and then, last, its manifest
//! `shard-I-of-N.manifest.json` ([`Manifest`]): I, N, the digest of the whole sorted input
//! list, the inputs it covered, the digest of its predictions file and the settings that shape
//! the output. A shard is complete when its manifest agrees with the run and with its
//! predictions file; a complete shard is kept when the command runs again, so a failed shard is
//! re-run alone. [`merge`] checks from the manifests that every shard is there and that the
//! shards cover the list exactly once, and otherwise names the shards to re-run.
//!
//! ```
//! use infer_cli::shard::Shard;
//!
//! // Slurm `--array=1-4`: task 3 is the third of four (0-based index 2).
//! let env = |k: &str| match k {
//!     "SLURM_ARRAY_TASK_ID" => Some("3".to_string()),
//!     "SLURM_ARRAY_TASK_MIN" => Some("1".to_string()),
//!     "SLURM_ARRAY_TASK_COUNT" => Some("4".to_string()),
//!     _ => None,
//! };
//! let (shard, _origin) = Shard::resolve("auto", &env).unwrap();
//! assert_eq!((shard.index, shard.count), (2, 4));
//! assert_eq!(shard.range(10), 5..7);
//! ```

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    ops::Range,
    path::{Path, PathBuf},
};

use infer_core::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use infer_measure::workload::images_in;

/// The job engines' index variables, in the order `--shard auto` looks for them.
pub const INDEX_VARIABLES: [&str; 3] = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID", "AWS_BATCH_JOB_ARRAY_INDEX"];

/// One part of N: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shard {
    /// 0-based index.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Reads `I/N`, `auto/N` or `auto` (see [`Shard::resolve`]) with this process's environment.
    ///
    /// # Errors
    /// As [`Shard::resolve`].
    pub fn from_arg(text: &str) -> std::result::Result<(Self, String), String> {
        Self::resolve(text, &|k| std::env::var(k).ok())
    }

    /// Reads `I/N` (0-based I), `auto/N` or `auto`, taking I, for `auto`, from the first job
    /// engine variable set among [`INDEX_VARIABLES`]: Kubernetes' `JOB_COMPLETION_INDEX`, Slurm's
    /// `SLURM_ARRAY_TASK_ID` made 0-based with `SLURM_ARRAY_TASK_MIN` (and divided by
    /// `SLURM_ARRAY_TASK_STEP` when the array has a step), AWS Batch's
    /// `AWS_BATCH_JOB_ARRAY_INDEX`. N is the one given, or Slurm's `SLURM_ARRAY_TASK_COUNT`; when
    /// both are there they must agree. Returns the shard and where it came from, in words.
    ///
    /// # Errors
    /// A message naming the text or the variable when it is malformed, no engine variable is set,
    /// N is unknown, or I is not below N.
    pub fn resolve(text: &str, var: &dyn Fn(&str) -> Option<String>) -> std::result::Result<(Self, String), String> {
        let bad = || format!("invalid --shard `{text}`: expected I/N with 0 <= I < N (e.g. 0/4), auto/N or auto");
        let (i, n) = match text.trim().split_once('/') {
            Some((i, n)) => (i.trim(), Some(n.trim())),
            None => (text.trim(), None),
        };
        let n: Option<usize> = n.map(|n| n.parse().map_err(|_| bad())).transpose()?;
        if n == Some(0) {
            return Err(bad());
        }
        let (index, count, origin) = if i == "auto" {
            Self::from_engine(n, var)?
        } else {
            let index: usize = i.parse().map_err(|_| bad())?;
            let count = n.ok_or_else(bad)?;
            (index, count, "given".to_string())
        };
        if index >= count {
            return Err(format!("shard index {index} ({origin}) is not below the number of shards {count}"));
        }
        Ok((Self { index, count }, origin))
    }

    /// Index, count and origin from the engine's variables.
    fn from_engine(
        n: Option<usize>,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<(usize, usize, String), String> {
        let number = |name: &str| -> std::result::Result<Option<usize>, String> {
            var(name)
                .map(|v| v.trim().parse::<usize>().map_err(|_| format!("{name}={v} is not a non-negative integer")))
                .transpose()
        };
        let Some(name) = INDEX_VARIABLES.iter().find(|v| var(v).is_some()) else {
            return Err(format!(
                "--shard auto: none of {} is set; run under a job engine or give --shard I/N",
                INDEX_VARIABLES.join(", ")
            ));
        };
        let raw = number(name)?.unwrap_or(0);
        let (index, origin, engine_count) = if *name == "SLURM_ARRAY_TASK_ID" {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let offset = raw
                .checked_sub(min)
                .ok_or_else(|| format!("SLURM_ARRAY_TASK_ID={raw} is below SLURM_ARRAY_TASK_MIN={min}"))?;
            if offset % step != 0 {
                return Err(format!(
                    "SLURM_ARRAY_TASK_ID={raw} is not on the array's step {step} from SLURM_ARRAY_TASK_MIN={min}"
                ));
            }
            let origin = if step == 1 {
                format!("SLURM_ARRAY_TASK_ID={raw} - SLURM_ARRAY_TASK_MIN={min}")
            } else {
                format!("(SLURM_ARRAY_TASK_ID={raw} - SLURM_ARRAY_TASK_MIN={min}) / SLURM_ARRAY_TASK_STEP={step}")
            };
            (offset / step, origin, number("SLURM_ARRAY_TASK_COUNT")?)
        } else {
            (raw, format!("{name}={raw}"), None)
        };
        let count = match (n, engine_count) {
            (Some(n), Some(c)) if n != c => {
                return Err(format!("--shard auto/{n} but SLURM_ARRAY_TASK_COUNT={c}: the two must agree"));
            }
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => {
                return Err(format!(
                    "--shard auto: {name} gives the index but not the number of shards: use --shard auto/N \
                     (N = the Job's completions or the array's size)"
                ));
            }
        };
        Ok((index, count, origin))
    }

    /// The indices of this shard's items among `len`: `floor(i·len/N) .. floor((i+1)·len/N)`.
    #[must_use]
    pub fn range(self, len: usize) -> Range<usize> {
        let at = |i: usize| usize::try_from(i as u128 * len as u128 / self.count.max(1) as u128).unwrap_or(len);
        at(self.index)..at(self.index + 1)
    }

    /// `shard-I-of-N`, the stem of this shard's files.
    #[must_use]
    pub fn stem(self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// This shard's manifest in `folder`.
    #[must_use]
    pub fn manifest_path(self, folder: &Path) -> PathBuf {
        folder.join(format!("{}.manifest.json", self.stem()))
    }

    /// This shard's predictions file in `folder` (`ext`: `csv` or `jsonl`).
    #[must_use]
    pub fn predictions_path(self, folder: &Path, ext: &str) -> PathBuf {
        folder.join(format!("{}.{ext}", self.stem()))
    }
}

/// The image files of a folder with their relative paths, ordered by relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputList {
    /// The files, as paths to open.
    pub files: Vec<PathBuf>,
    /// Their paths relative to the folder (`/`-separated), in byte order: what predictions name.
    pub names: Vec<String>,
    /// [`list_digest`] of `names`.
    pub digest: String,
}

/// The images of `dir` as the unsharded `infer run` lists them, ordered by relative path.
///
/// # Errors
/// As [`images_in`]: the folder cannot be read or has no image.
pub fn list_inputs(dir: &Path) -> Result<InputList> {
    let mut pairs: Vec<(String, PathBuf)> = images_in(dir)?
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap_or(&p);
            let name = rel.iter().map(|c| c.to_string_lossy()).collect::<Vec<_>>().join("/");
            (name, p)
        })
        .collect();
    pairs.sort();
    let names: Vec<String> = pairs.iter().map(|(n, _)| n.clone()).collect();
    let digest = list_digest(&names);
    Ok(InputList { files: pairs.into_iter().map(|(_, p)| p).collect(), names, digest })
}

/// `sha256:…` of a sorted list of names, one per line.
#[must_use]
pub fn list_digest(names: &[String]) -> String {
    let mut h = Sha256::new();
    for n in names {
        h.update(n.as_bytes());
        h.update(b"\n");
    }
    format!("sha256:{:x}", h.finalize())
}

/// An input a shard could not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Relative path.
    pub input: String,
    /// The error.
    pub error: String,
}

/// What one shard wrote, saved beside its predictions as `shard-I-of-N.manifest.json`. It is
/// written last: its presence means the predictions file was complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// 0-based shard index I.
    pub shard: usize,
    /// Number of shards N.
    pub shards: usize,
    /// [`list_digest`] of the whole sorted input list (every shard's inputs).
    pub inputs_digest: String,
    /// Length of the whole input list.
    pub inputs_total: usize,
    /// The inputs this shard covered (relative paths, in order): predicted or skipped.
    pub inputs: Vec<String>,
    /// Inputs that could not be read (also in `inputs`, absent from the predictions).
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// File name of the predictions, beside the manifest.
    pub predictions: String,
    /// `sha256:…` of the predictions file.
    pub predictions_digest: String,
    /// `csv` or `jsonl`.
    pub format: String,
    /// The settings that shape the predictions (top-k, softmax, labels), in words: shards with
    /// other settings do not merge.
    pub settings: String,
    /// The model's file name.
    pub model: String,
    /// `sha256:…` of the model (file or folder).
    pub model_digest: Option<String>,
    /// Host the shard ran on.
    #[serde(default)]
    pub host: String,
    /// Version of infer that wrote it.
    pub infer_version: String,
}

impl Manifest {
    /// The shard this manifest is of.
    #[must_use]
    pub fn shard(&self) -> Shard {
        Shard { index: self.shard, count: self.shards }
    }
}

/// What a run needs an earlier shard output to match to keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    /// The shard.
    pub shard: Shard,
    /// Digest of the whole input list.
    pub inputs_digest: &'a str,
    /// `csv` or `jsonl`.
    pub format: &'a str,
    /// Output settings in words.
    pub settings: &'a str,
    /// The model's digest.
    pub model_digest: Option<&'a str>,
}

/// What is already in the predictions folder for a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// Nothing, or an incomplete output (no manifest, or a predictions file that does not match
    /// its manifest): the shard is to be run.
    Absent,
    /// A complete output of the same work: kept unless `--overwrite`.
    Complete(Box<Manifest>),
    /// A complete output of other work (another input list, model, format or settings): the
    /// reason in words.
    Other(String),
}

/// Looks at `folder` for the output of `expected.shard`.
///
/// # Errors
/// A manifest that cannot be read or parsed, naming it.
pub fn existing(folder: &Path, expected: &Expected<'_>) -> Result<Existing> {
    let path = expected.shard.manifest_path(folder);
    if !path.exists() {
        return Ok(Existing::Absent);
    }
    let m = read_manifest(&path)?;
    if verify_predictions(folder, &m).is_err() {
        return Ok(Existing::Absent);
    }
    let differs = if m.shard() != expected.shard {
        Some(format!("it is the manifest of shard {}", m.shard()))
    } else if m.inputs_digest != expected.inputs_digest {
        Some("it was made from another input list (the folder's images changed)".into())
    } else if m.format != expected.format {
        Some(format!("its predictions are {}, this run writes {}", m.format, expected.format))
    } else if m.settings != expected.settings {
        Some(format!("it was made with other settings ({}; now {})", m.settings, expected.settings))
    } else if m.model_digest.as_deref() != expected.model_digest {
        Some(format!("it was made with another model ({})", m.model))
    } else {
        None
    };
    Ok(match differs {
        Some(why) => Existing::Other(why),
        None => Existing::Complete(Box::new(m)),
    })
}

/// Reads a shard manifest.
///
/// # Errors
/// [`Error::Io`] or [`Error::File`] naming `path`.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::file(path, format!("not a shard manifest: {e}")))
}

/// Checks that a manifest's predictions file is there with the digest it records.
fn verify_predictions(folder: &Path, m: &Manifest) -> std::result::Result<(), String> {
    let path = folder.join(&m.predictions);
    match infer_measure::environment::digest_path(&path) {
        Ok(d) if d == m.predictions_digest => Ok(()),
        Ok(_) => Err(format!("{} does not match its manifest (changed or truncated)", m.predictions)),
        Err(_) => Err(format!("{} is missing", m.predictions)),
    }
}

/// The rows of all shards joined, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// Number of shards.
    pub shards: usize,
    /// `csv` or `jsonl`.
    pub format: String,
    /// The merged predictions file's bytes (one CSV header).
    pub bytes: Vec<u8>,
    /// Inputs in the whole list.
    pub inputs_total: usize,
    /// Inputs predicted.
    pub predicted: usize,
    /// Inputs no shard could read.
    pub skipped: Vec<Skipped>,
}

/// Joins the shards in `folder` after checking from their manifests that every shard of one
/// split is present and complete, that all were made from the same input list, model, format
/// and settings, and that together they cover every input exactly once.
///
/// # Errors
/// [`Error::File`] naming the folder (or the file) and the shards to re-run, with the `--shard`
/// argument that re-runs them.
pub fn merge(folder: &Path) -> Result<Merged> {
    let (manifests, seen) = read_manifests(folder)?;
    let count = split_count(folder, &seen)?;
    // Every shard present, its predictions matching its manifest.
    let mut rerun: Vec<(usize, String)> = Vec::new();
    for index in 0..count {
        let shard = Shard { index, count };
        match manifests.get(&shard) {
            None if seen.contains(&shard) => rerun.push((index, "its manifest is missing: it did not finish".into())),
            None => rerun.push((index, "it has no output".into())),
            Some(m) => {
                if let Err(why) = verify_predictions(folder, m) {
                    rerun.push((index, why));
                }
            }
        }
    }
    if !rerun.is_empty() {
        return Err(rerun_error(folder, count, &rerun));
    }
    let all: Vec<&Manifest> = manifests.values().collect();
    let first = all[0];
    check_consistent(folder, count, &all)?;
    // Join, checking that each shard's rows are its inputs less the skipped ones, in order.
    let mut bytes = Vec::new();
    let mut predicted = 0;
    let mut skipped = Vec::new();
    for m in &all {
        let path = folder.join(&m.predictions);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let (body, files) = rows_of(&path, &m.format, &text)?;
        let expected: Vec<&str> =
            m.inputs.iter().filter(|i| !m.skipped.iter().any(|s| &s.input == *i)).map(String::as_str).collect();
        let mut got: Vec<&str> = files.iter().map(String::as_str).collect();
        got.dedup();
        if got != expected {
            return Err(rerun_error(
                folder,
                count,
                &[(m.shard, format!("{} does not hold one prediction per input of its manifest", m.predictions))],
            ));
        }
        if bytes.is_empty() && m.format == "csv" {
            bytes.extend_from_slice(CSV_HEADER.as_bytes());
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(body.as_bytes());
        predicted += expected.len();
        skipped.extend(m.skipped.iter().cloned());
    }
    Ok(Merged {
        shards: count,
        format: first.format.clone(),
        bytes,
        inputs_total: first.inputs_total,
        predicted,
        skipped,
    })
}

/// The manifests in `folder` by shard, and every shard any file there belongs to.
fn read_manifests(folder: &Path) -> Result<(BTreeMap<Shard, Manifest>, BTreeSet<Shard>)> {
    let entries = std::fs::read_dir(folder).map_err(|e| Error::io(folder, e))?;
    let mut manifests: BTreeMap<Shard, Manifest> = BTreeMap::new();
    let mut seen: BTreeSet<Shard> = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(folder, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(shard) = parse_file_name(&name) else { continue };
        seen.insert(shard);
        if name.ends_with(".manifest.json") {
            let m = read_manifest(&entry.path())?;
            if m.shard() != shard {
                return Err(Error::file(
                    entry.path(),
                    format!("the manifest says shard {}, its name says {shard}: was it renamed?", m.shard()),
                ));
            }
            manifests.insert(shard, m);
        }
    }
    Ok((manifests, seen))
}

/// The `N` of the one split whose shards are in `folder`.
fn split_count(folder: &Path, seen: &BTreeSet<Shard>) -> Result<usize> {
    let counts: BTreeSet<usize> = seen.iter().map(|s| s.count).collect();
    match counts.len() {
        0 => Err(Error::file(
            folder,
            "no shard output (shard-I-of-N.manifest.json) here: run `infer run MODEL DIR --shard I/N \
             --predictions` with this folder first",
        )),
        1 => Ok(counts.into_iter().next().unwrap_or(1)),
        _ => {
            let list: Vec<String> = counts.iter().map(ToString::to_string).collect();
            Err(Error::file(
                folder,
                format!(
                    "holds shards of different splits (N = {}): keep one split's files, or use another folder",
                    list.join(" and ")
                ),
            ))
        }
    }
}

/// That the complete shards `all` (at least one) were made from one input list, model, format
/// and settings, and together cover that list exactly once.
fn check_consistent(folder: &Path, count: usize, all: &[&Manifest]) -> Result<()> {
    let first = all[0];
    for m in &all[1..] {
        let differs = if m.inputs_digest != first.inputs_digest || m.inputs_total != first.inputs_total {
            Some("another input list")
        } else if m.model_digest != first.model_digest {
            Some("another model")
        } else if m.format != first.format {
            Some("another format")
        } else if m.settings != first.settings {
            Some("other settings")
        } else {
            None
        };
        if let Some(what) = differs {
            return Err(rerun_error(
                folder,
                count,
                &[(m.shard, format!("it was made from {what} than shard {}", first.shard))],
            ));
        }
    }
    // Coverage: every input exactly once, and the union is the list the digest names.
    let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
    for m in all {
        for input in &m.inputs {
            if let Some(other) = owner.insert(input, m.shard) {
                return Err(Error::file(
                    folder,
                    format!(
                        "input `{input}` is in shard {other}/{count} and in shard {}/{count}: re-run both with \
                         --overwrite",
                        m.shard
                    ),
                ));
            }
        }
    }
    let union: Vec<String> = owner.keys().map(|k| (*k).to_string()).collect();
    if union.len() != first.inputs_total || list_digest(&union) != first.inputs_digest {
        let expected_ranges: Vec<(usize, String)> = all
            .iter()
            .filter(|m| m.inputs.len() != m.shard().range(m.inputs_total).len())
            .map(|m| {
                (
                    m.shard,
                    format!(
                        "it covered {} inputs, its share is {}",
                        m.inputs.len(),
                        m.shard().range(m.inputs_total).len()
                    ),
                )
            })
            .collect();
        if expected_ranges.is_empty() {
            return Err(Error::file(
                folder,
                format!(
                    "the shards cover {} inputs that are not the list of {} their manifests name: re-run every \
                     shard with --overwrite",
                    union.len(),
                    first.inputs_total
                ),
            ));
        }
        return Err(rerun_error(folder, count, &expected_ranges));
    }
    Ok(())
}

/// The header of CSV predictions.
pub const CSV_HEADER: &str = "file,rank,index,score,label";

/// The body of a predictions file (without the CSV header) and the file named by each row.
fn rows_of<'t>(path: &Path, format: &str, text: &'t str) -> Result<(&'t str, Vec<String>)> {
    let bad = |why: String| Error::file(path, why);
    match format {
        "csv" => {
            let body = text
                .strip_prefix(CSV_HEADER)
                .and_then(|rest| rest.strip_prefix('\n'))
                .ok_or_else(|| bad(format!("expected the header `{CSV_HEADER}`")))?;
            let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body.as_bytes());
            let files = reader
                .records()
                .map(|r| r.map(|r| r.get(0).unwrap_or_default().to_string()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("not valid CSV: {e}")))?;
            Ok((body, files))
        }
        "jsonl" => {
            let files = text
                .lines()
                .enumerate()
                .map(|(i, line)| {
                    let v: serde_json::Value =
                        serde_json::from_str(line).map_err(|e| bad(format!("line {}: not JSON: {e}", i + 1)))?;
                    v.get("file")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("line {}: no `file`", i + 1)))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((text, files))
        }
        other => Err(bad(format!("unknown predictions format `{other}`: expected csv or jsonl"))),
    }
}

/// `shard-I-of-N.<anything>` → the shard.
fn parse_file_name(name: &str) -> Option<Shard> {
    let rest = name.strip_prefix("shard-")?;
    let (i, rest) = rest.split_once("-of-")?;
    let (n, _) = rest.split_once('.')?;
    let (index, count) = (i.parse().ok()?, n.parse().ok()?);
    (index < count).then_some(Shard { index, count })
}

/// The error that names the shards to re-run and how.
fn rerun_error(folder: &Path, count: usize, shards: &[(usize, String)]) -> Error {
    let what: Vec<String> = shards.iter().map(|(i, why)| format!("shard {i}/{count}: {why}")).collect();
    let how: Vec<String> = shards.iter().map(|(i, _)| format!("--shard {i}/{count}")).collect();
    Error::file(
        folder,
        format!(
            "{}; re-run {} with {} (add --overwrite if its output exists)",
            what.join("; "),
            if shards.len() == 1 { "it" } else { "them" },
            how.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_string())
    }

    #[test]
    fn explicit_shards_parse_and_bad_ones_say_why() {
        let none = env(&[]);
        assert_eq!(Shard::resolve("2/4", &none).unwrap().0, Shard { index: 2, count: 4 });
        for bad in ["4/4", "x/4", "1/0", "3", "1/", "/4", "-1/4"] {
            let err = Shard::resolve(bad, &none).unwrap_err();
            assert!(err.contains(bad) || err.contains("not below"), "{bad}: {err}");
        }
        assert!(Shard::resolve("auto/4", &none).unwrap_err().contains("JOB_COMPLETION_INDEX"));
    }

    #[test]
    fn every_engine_gives_the_index() {
        let k8s = env(&[("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(
            Shard::resolve("auto/4", &k8s).unwrap(),
            (Shard { index: 3, count: 4 }, "JOB_COMPLETION_INDEX=3".into())
        );
        assert!(Shard::resolve("auto", &k8s).unwrap_err().contains("auto/N"), "Kubernetes does not tell N");
        assert!(Shard::resolve("auto/3", &k8s).unwrap_err().contains("not below"));
        let aws = env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "0")]);
        assert_eq!(Shard::resolve("auto/2", &aws).unwrap().0, Shard { index: 0, count: 2 });
        // Slurm `--array=1-4`: made 0-based, N from the array.
        let slurm =
            env(&[("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "4")]);
        assert_eq!(Shard::resolve("auto", &slurm).unwrap().0, Shard { index: 3, count: 4 });
        assert_eq!(Shard::resolve("auto/4", &slurm).unwrap().0, Shard { index: 3, count: 4 });
        assert!(Shard::resolve("auto/5", &slurm).unwrap_err().contains("SLURM_ARRAY_TASK_COUNT=4"));
        // `--array=0-12:4`: tasks 0, 4, 8, 12.
        let step = env(&[
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(Shard::resolve("auto", &step).unwrap().0, Shard { index: 2, count: 4 });
        let junk = env(&[("SLURM_ARRAY_TASK_ID", "two")]);
        assert!(Shard::resolve("auto/4", &junk).unwrap_err().contains("SLURM_ARRAY_TASK_ID=two"));
        let below = env(&[("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_MIN", "1")]);
        assert!(Shard::resolve("auto/4", &below).unwrap_err().contains("below"));
    }

    #[test]
    fn ranges_are_balanced_contiguous_and_cover_everything() {
        for len in [0, 1, 3, 7, 200, 1001] {
            for count in [1, 2, 3, 4, 7, 16] {
                let ranges: Vec<Range<usize>> = (0..count).map(|index| Shard { index, count }.range(len)).collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[count - 1].end, len);
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                let sizes: Vec<usize> = ranges.iter().map(ExactSizeIterator::len).collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(hi - lo <= 1, "len {len}, {count} shards: {sizes:?}");
            }
        }
    }

    #[test]
    fn the_listing_is_by_relative_path_whatever_the_directory_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let names = ["b.png", "a.jpg", "B.png", "c.txt", "a10.png", "a2.png"];
        for n in names {
            std::fs::write(a.path().join(n), b"x").unwrap();
        }
        for n in names.iter().rev() {
            std::fs::write(b.path().join(n), b"x").unwrap();
        }
        let (la, lb) = (list_inputs(a.path()).unwrap(), list_inputs(b.path()).unwrap());
        assert_eq!(la.names, ["B.png", "a.jpg", "a10.png", "a2.png", "b.png"]);
        assert_eq!((la.names.clone(), la.digest.clone()), (lb.names, lb.digest));
        assert_eq!(la.files[0], a.path().join("B.png"));
        assert_ne!(la.digest, list_digest(&la.names[1..]));
    }

    #[test]
    fn file_names_parse() {
        assert_eq!(parse_file_name("shard-3-of-4.csv"), Some(Shard { index: 3, count: 4 }));
        assert_eq!(parse_file_name("shard-0-of-1.manifest.json"), Some(Shard { index: 0, count: 1 }));
        assert_eq!(parse_file_name("shard-4-of-4.csv"), None);
        assert_eq!(parse_file_name("predictions.csv"), None);
    }
}

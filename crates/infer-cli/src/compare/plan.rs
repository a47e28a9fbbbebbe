//! What a comparison will run: one slot per (model file, backend, device). A backend that cannot
//! run gets its status at once (not compiled, unavailable, no such device here, no model in its
//! format in the fixture); the others wait, pending, with the [`Target`] their children measure.

use std::{collections::BTreeMap, path::PathBuf};

use infer_core::{Availability, Backend, Device, Registry, registry::availability};

use crate::fixture::Fixture;
use infer_measure::{
    results::comparison::{CompareEntry, RowStatus},
    workload::Workload,
};

/// What the children of one slot measure.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// Model file or folder.
    pub model: PathBuf,
    /// The backend's own name (the row's label may add the file).
    pub backend: String,
    /// Reference input and expected output checked before timing.
    pub reference: Option<(PathBuf, PathBuf)>,
    /// What the timed inputs are made of, for this model.
    pub workload: Workload,
    /// Row dimension keys of this model's unnamed axes and the symbol they stand for
    /// (`input_ids[1]` → `sequence`), so every row shows the same dimension columns.
    pub dim_names: BTreeMap<String, String>,
}

/// One (backend, device) of a comparison, and what its children measure when it can run.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    /// The row as it stands.
    pub entry: CompareEntry,
    /// `None` when it cannot run.
    pub target: Option<Target>,
}

impl Slot {
    /// Whether a child should measure it (again): it can run, and no round has failed.
    pub fn runnable(&self) -> bool {
        self.target.is_some() && matches!(self.entry.status, RowStatus::Pending | RowStatus::Ok)
    }
}

/// The status of `backend` on `device` when it cannot run there, `None` when it can.
pub(super) fn unavailable(backend: &dyn Backend, avail: &Availability, device: Device) -> Option<RowStatus> {
    match avail {
        Availability::NotCompiled { .. } => Some(RowStatus::NotCompiled),
        Availability::Unavailable { reason } => Some(RowStatus::Unavailable { reason: reason.clone() }),
        Availability::Available(info) if !info.devices.contains(&device) => {
            let have: Vec<String> = info.devices.iter().map(ToString::to_string).collect();
            Some(RowStatus::Unavailable {
                reason: format!(
                    "{} {} has no {device} here (devices: {})",
                    backend.name(),
                    info.runtime_version,
                    have.join(", ")
                ),
            })
        }
        Availability::Available(_) => None,
    }
}

/// The slots of every backend of `registry` on every device of `devices`, on the fixture's file
/// of each backend's format, checked against that format's reference; `workload` is what the
/// timed inputs are made of.
pub(super) fn fixture_slots(
    registry: &Registry,
    fixture: &Fixture,
    devices: &[Device],
    workload: &Workload,
) -> Vec<Slot> {
    let dim_names = fixture.dim_names();
    let mut slots = Vec::new();
    for backend in registry.iter() {
        let name = backend.name();
        let avail = availability(backend);
        for &device in devices {
            let (status, target) = match unavailable(backend, &avail, device) {
                Some(status) => (status, None),
                None => match fixture.entry_for(backend) {
                    Ok(format) => (
                        RowStatus::Pending,
                        Some(Target {
                            model: fixture.path(&format.file),
                            backend: name.into(),
                            reference: Some((fixture.input_for(format), fixture.path(&format.reference))),
                            workload: workload.clone(),
                            dim_names: dim_names.clone(),
                        }),
                    ),
                    Err(reason) => (RowStatus::Unavailable { reason }, None),
                },
            };
            slots.push(Slot { entry: CompareEntry::new(name, device, status, None), target });
        }
    }
    slots
}

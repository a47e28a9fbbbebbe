//! What a comparison will run: one slot per (backend, device) in registry order. A backend that
//! cannot run gets its status at once (not compiled, unavailable, no such device here, no model
//! in its format in the fixture); the others wait, pending, with the fixture's file they read.

use infer_core::{Availability, Device, Registry, registry::availability};

use crate::{
    comparison::{CompareEntry, RowStatus},
    fixture::{Fixture, FormatEntry},
};

/// One (backend, device) of a comparison, and the fixture's file it reads when it can run.
#[derive(Debug, Clone)]
pub(super) struct Slot<'f> {
    /// The row as it stands.
    pub entry: CompareEntry,
    /// The fixture's model and reference for this backend; `None` when it cannot run.
    pub format: Option<&'f FormatEntry>,
}

impl Slot<'_> {
    /// Whether a child should measure it (again): it can run, and no round has failed.
    pub fn runnable(&self) -> bool {
        self.format.is_some() && matches!(self.entry.status, RowStatus::Pending | RowStatus::Ok)
    }
}

/// The slots of every backend of `registry` on every device of `devices`.
pub(super) fn slots<'f>(registry: &Registry, fixture: &'f Fixture, devices: &[Device]) -> Vec<Slot<'f>> {
    let mut slots = Vec::new();
    for backend in registry.iter() {
        let name = backend.name();
        let avail = availability(backend);
        for &device in devices {
            let unavailable = |reason: String| (RowStatus::Unavailable { reason }, None);
            let (status, format) = match &avail {
                Availability::NotCompiled { .. } => (RowStatus::NotCompiled, None),
                Availability::Unavailable { reason } => unavailable(reason.clone()),
                Availability::Available(info) if !info.devices.contains(&device) => {
                    let have: Vec<String> = info.devices.iter().map(ToString::to_string).collect();
                    unavailable(format!(
                        "{name} {} has no {device} here (devices: {})",
                        info.runtime_version,
                        have.join(", ")
                    ))
                }
                Availability::Available(_) => match fixture.entry_for(backend) {
                    Ok(format) => (RowStatus::Pending, Some(format)),
                    Err(reason) => unavailable(reason),
                },
            };
            slots.push(Slot { entry: CompareEntry::new(name, device, status, None), format });
        }
    }
    slots
}

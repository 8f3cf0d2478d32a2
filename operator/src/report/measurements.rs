//! Cold start and footprint of a workload's pods in the mode they run now, from what was
//! observed. Pure.

use crate::api::crd::{FootprintStatus, Mode};
use crate::decide::observed::Observed;
use crate::report::footprint::image_size;
use crate::report::status::Measurements;

/// The image size of the pods of one mode, for its gauge.
pub type ImageSize = (Mode, Option<i64>);

/// The measurements, and the image size for its gauge when the workload runs pods.
pub fn measure(
    observed: &Observed,
    previous: Option<&FootprintStatus>,
    mode: Option<Mode>,
) -> (Measurements, Option<ImageSize>) {
    let cold_start = observed.cold_start.clone();
    let Some(mode) = mode.filter(|m| *m != Mode::Pending) else {
        let none = Measurements {
            cold_start,
            footprint: None,
        };
        return (none, None);
    };
    let image_size_bytes = image_size(&observed.pods_of(mode), &observed.nodes);
    let memory_now = observed.memory_of(mode);
    // Working sets wiggle on every poll: status follows only changes over 10 %, so it does not churn.
    let memory_before = previous.and_then(|f| f.memory_working_set_bytes);
    let memory_working_set_bytes = match (memory_before, memory_now) {
        (Some(before), Some(now)) if (now - before).abs() * 10 <= before => Some(before),
        (_, now) => now,
    };
    let footprint = (image_size_bytes.is_some() || memory_working_set_bytes.is_some()).then_some(FootprintStatus {
        image_size_bytes,
        memory_working_set_bytes,
    });
    (Measurements { cold_start, footprint }, Some((mode, image_size_bytes)))
}

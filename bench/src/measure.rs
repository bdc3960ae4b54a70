//! Rate measurement for micro benchmarks that must be compared within one run.
//!
//! The machine this project runs on is small and shared, so a variant measured a minute after
//! another may see a different machine. Variants are therefore measured in interleaved rounds
//! (A, B, C, A, B, C, ...), each round a fixed time slice, and each variant reports the median
//! of its rounds: noise hits every variant alike, and ratios stay meaningful.

use std::time::{Duration, Instant};

/// One thing to measure: a closure that processes `items_per_call` items per call.
pub struct Variant<'a> {
    pub name: String,
    pub items_per_call: u64,
    pub run: Box<dyn FnMut() + 'a>,
}

/// A variant's result: items per second, median over rounds, and the spread.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Rate {
    pub name: String,
    pub per_second: f64,
    pub min_per_second: f64,
    pub max_per_second: f64,
    pub nanos_per_item: f64,
}

/// Measures every variant for `rounds` interleaved slices of `slice` each.
pub fn measure_interleaved(
    variants: &mut [Variant<'_>],
    rounds: usize,
    slice: Duration,
) -> Vec<Rate> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); variants.len()];
    // one warm-up slice each (page faults, CPU frequency, caches)
    for variant in variants.iter_mut() {
        run_for(variant, slice / 2);
    }
    for _ in 0..rounds {
        for (variant, samples) in variants.iter_mut().zip(samples.iter_mut()) {
            samples.push(run_for(variant, slice));
        }
    }
    variants
        .iter()
        .zip(samples)
        .map(|(variant, mut samples)| {
            samples.sort_by(f64::total_cmp);
            let median = samples.get(samples.len() / 2).copied().unwrap_or(0.0);
            Rate {
                name: variant.name.clone(),
                per_second: median,
                min_per_second: samples.first().copied().unwrap_or(0.0),
                max_per_second: samples.last().copied().unwrap_or(0.0),
                nanos_per_item: if median > 0.0 {
                    1e9 / median
                } else {
                    f64::INFINITY
                },
            }
        })
        .collect()
}

/// Calls the variant until `slice` has passed; returns items per second.
fn run_for(variant: &mut Variant<'_>, slice: Duration) -> f64 {
    let start = Instant::now();
    let mut items = 0u64;
    // bounded: at most one slice of wall time per call of this function
    while start.elapsed() < slice {
        (variant.run)();
        items += variant.items_per_call;
    }
    items as f64 / start.elapsed().as_secs_f64()
}

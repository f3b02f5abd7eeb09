//! The host's TSC rate, for a guest under emulation: QEMU's TCG gives the guest the host's
//! TSC, and the guest's kernel (told the rate and that the TSC is reliable) keeps its time
//! with it. The rate is measured against the host's monotonic clock: `cpu MHz` in
//! `/proc/cpuinfo` is a core's current speed where a cpufreq driver runs, not the TSC's.
#![allow(unsafe_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the TSC is counted against the monotonic clock (once per process).
const SPAN: Duration = Duration::from_millis(20);

/// The host's TSC rate in kHz, on an x86_64 host whose TSC runs at one rate in every
/// state (`constant_tsc` and `nonstop_tsc`); `None` elsewhere.
pub(crate) fn host_khz() -> Option<u64> {
    static RATE: OnceLock<Option<u64>> = OnceLock::new();
    *RATE.get_or_init(measure)
}

#[cfg(target_arch = "x86_64")]
fn measure() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let flags = info.lines().find(|l| l.starts_with("flags"))?;
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    if !(has("constant_tsc") && has("nonstop_tsc")) {
        return None;
    }
    // SAFETY: RDTSC reads a counter; it has no memory effects.
    let tsc = || unsafe { core::arch::x86_64::_rdtsc() };
    let (c0, t0) = (tsc(), Instant::now());
    std::thread::sleep(SPAN);
    let (c1, t1) = (tsc(), Instant::now());
    let nanos = t1.duration_since(t0).as_nanos();
    let khz = u128::from(c1.checked_sub(c0)?) * 1_000_000 / nanos.max(1);
    u64::try_from(khz).ok().filter(|k| *k > 0)
}

#[cfg(not(target_arch = "x86_64"))]
fn measure() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_measured_rate_is_a_cpus_and_stays_the_same() {
        let Some(khz) = super::measure() else {
            eprintln!("skipping: this host's TSC is not constant and nonstop");
            return;
        };
        assert!((100_000..20_000_000).contains(&khz), "{khz} kHz");
        let again = super::measure().expect("measured once");
        let drift = khz.abs_diff(again) as f64 / khz as f64;
        assert!(drift < 0.01, "{khz} then {again} kHz");
    }
}

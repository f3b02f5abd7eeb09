//! The last steps before `execve`: bounding set, user and groups, capabilities,
//! no_new_privs and seccomp.

use rustix::io::Errno;
use rustix::thread::{self as rthread, CapabilitySet, CapabilitySets};

use super::fail::{at, step, Step, R};
use super::Plan;
use crate::sys;

fn load_seccomp(p: &Plan) -> R {
    for prog in &p.seccomp {
        sys::load_seccomp(prog).map_err(step(Step::Seccomp))?;
    }
    Ok(())
}

/// Bounding set, user and groups, capabilities, no_new_privs, seccomp.
pub(super) fn drop_privileges(p: &Plan) -> R {
    // Loading a filter without no_new_privs needs CAP_SYS_ADMIN, which is
    // about to go: load it while we still have it.
    if !p.no_new_privs {
        load_seccomp(p)?;
    }
    for cap in 0..=p.last_cap.min(63) {
        if p.caps & (1u64 << cap) == 0 {
            match sys::drop_bounding_cap(cap) {
                Ok(()) | Err(Errno::INVAL) => {}
                Err(e) => return Err(at(Step::BoundingSet, cap)(e)),
            }
        }
    }
    let user = step(Step::SetUser);
    rthread::set_keep_capabilities(true).map_err(&user)?;
    rthread::set_thread_groups(&p.groups).map_err(&user)?;
    rthread::set_thread_gid(rustix::process::Gid::from_raw(p.gid)).map_err(&user)?;
    rthread::set_thread_uid(rustix::process::Uid::from_raw(p.uid)).map_err(&user)?;
    rthread::set_keep_capabilities(false).map_err(&user)?;

    let set = CapabilitySet::from_bits_retain(p.caps);
    rthread::set_capabilities(
        None,
        CapabilitySets {
            effective: set,
            permitted: set,
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(step(Step::Capset))?;
    rthread::clear_ambient_capability_set().map_err(step(Step::Capset))?;

    if p.no_new_privs {
        rthread::set_no_new_privs(true).map_err(step(Step::NoNewPrivs))?;
        // Last privileged step before exec.
        load_seccomp(p)?;
    }
    Ok(())
}

//! Failure records a child writes on the error pipe before it exits: which setup step
//! failed, on which item, with which errno; and the size of the exit status message.

use rustix::io::Errno;

/// Declares [`Step`] (numbered from 1, as sent over the error pipe) and its list, from one
/// list of names.
macro_rules! steps {
    ($first:ident, $($name:ident),* $(,)?) => {
        /// A setup step that can fail in a child; `index` refines it (which path).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u32)]
        pub(crate) enum Step {
            $first = 1,
            $($name,)*
        }

        impl Step {
            const ALL: &'static [Step] = &[Step::$first, $(Step::$name,)*];

            pub(crate) fn from_u32(v: u32) -> Option<Step> {
                Self::ALL.iter().copied().find(|s| *s as u32 == v)
            }
        }
    };
}

steps!(
    Fds,
    CgroupJoin,
    Unshare,
    Propagation,
    Loopback,
    JoinNetwork,
    Fork,
    BindRoot,
    OpenRoot,
    EtcTarget,
    EtcBind,
    PivotRoot,
    DetachOldRoot,
    MountProc,
    MountDev,
    DevNode,
    DevMount,
    DevLink,
    InlineScript,
    MountSys,
    Mask,
    Readonly,
    Hostname,
    Chdir,
    Seccomp,
    BoundingSet,
    SetUser,
    Capset,
    NoNewPrivs,
    Exec,
    ParentDeath,
    NetworkWait,
    ExtraMount,
    NodevRoot,
);

/// A failure record sent over the error pipe: step, index, errno.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fail {
    pub step: Step,
    pub index: u32,
    pub errno: Errno,
}

pub(crate) const FAIL_LEN: usize = 12;

impl Fail {
    pub(super) fn encode(&self) -> [u8; FAIL_LEN] {
        let mut b = [0u8; FAIL_LEN];
        b[0..4].copy_from_slice(&(self.step as u32).to_ne_bytes());
        b[4..8].copy_from_slice(&self.index.to_ne_bytes());
        b[8..12].copy_from_slice(&self.errno.raw_os_error().to_ne_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Fail> {
        let word = |i: usize| -> Option<[u8; 4]> { b.get(i..i + 4)?.try_into().ok() };
        Some(Fail {
            step: Step::from_u32(u32::from_ne_bytes(word(0)?))?,
            index: u32::from_ne_bytes(word(4)?),
            errno: Errno::from_raw_os_error(i32::from_ne_bytes(word(8)?)),
        })
    }
}

pub(super) type R<T = ()> = Result<T, Fail>;

pub(super) fn at(step: Step, index: u32) -> impl Fn(Errno) -> Fail {
    move |errno| Fail { step, index, errno }
}

pub(super) fn step(step: Step) -> impl Fn(Errno) -> Fail {
    at(step, 0)
}

/// The exit status message on the status pipe: (0, code) or (1, signal).
pub(crate) const STATUS_LEN: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_round_trips_through_the_error_pipe_record() {
        let mut n = 0;
        for v in 0..100 {
            if let Some(step) = Step::from_u32(v) {
                n += 1;
                let fail = Fail {
                    step,
                    index: 7,
                    errno: Errno::ACCESS,
                };
                let back = Fail::decode(&fail.encode()).map(|f| (f.step, f.index, f.errno));
                assert_eq!(back, Some((step, 7, Errno::ACCESS)));
            }
        }
        assert_eq!(n, Step::NodevRoot as u32, "Step::from_u32 misses a step");
        assert!(Fail::decode(&[0u8; 4]).is_none());
        assert!(Fail::decode(&[0u8; FAIL_LEN]).is_none());
    }
}

//! Running the stages a target needs, independent ones at the same time: a stage starts
//! once the stages it builds on or copies from are done, with at most `jobs` running.
//! The first failure stops new stages from starting; running ones finish.

use super::error::BuildError;
use kiln_dockerfile::plan::Plan;
use std::sync::mpsc;

/// Stack of a stage's thread. The tree walkers (layer diff, copies, extraction) recurse once
/// per directory level, up to `kiln_layer`'s depth limit of 2048; a step can make a tree
/// that deep, and the default 2 MiB would overflow first. Only touched pages cost memory.
const STAGE_STACK: usize = 64 << 20;

/// Run `run(stage)` for every stage in `plan.order`, respecting dependencies.
pub(crate) fn run_stages<F>(plan: &Plan, jobs: usize, run: F) -> Result<(), BuildError>
where
    F: Fn(usize) -> Result<(), BuildError> + Sync,
{
    let jobs = if jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        jobs
    };
    let deps: Vec<(usize, Vec<usize>)> = plan
        .order
        .iter()
        .map(|&i| {
            let mut d: Vec<usize> = plan.stages[i]
                .stage_deps()
                .filter(|j| plan.order.contains(j) && *j != i)
                .collect();
            d.dedup();
            (i, d)
        })
        .collect();
    let run = &run;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Result<(), BuildError>)>();
        let mut waiting = deps;
        let mut finished: Vec<usize> = Vec::new();
        let mut running = 0usize;
        let mut failure: Option<BuildError> = None;
        loop {
            if failure.is_none() {
                // Start what is ready, in plan order.
                while running < jobs {
                    let Some(pos) = waiting
                        .iter()
                        .position(|(_, d)| d.iter().all(|j| finished.contains(j)))
                    else {
                        break;
                    };
                    let (stage, _) = waiting.remove(pos);
                    let tx = tx.clone();
                    running += 1;
                    let report = tx.clone();
                    let spawned = std::thread::Builder::new()
                        .name(format!("stage-{stage}"))
                        .stack_size(STAGE_STACK)
                        .spawn_scoped(scope, move || {
                            // A panic must still report, or the loop would wait forever.
                            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                                || run(stage),
                            ))
                            .unwrap_or_else(|_| {
                                Err(BuildError::Internal {
                                    message: format!(
                                        "stage {stage} stopped on an internal error (a kiln bug): please report it"
                                    ),
                                })
                            });
                            let _ = tx.send((stage, result));
                        });
                    if let Err(e) = spawned {
                        let _ = report.send((
                            stage,
                            Err(BuildError::Output {
                                message: format!(
                                    "cannot start a thread for stage {stage}: {e}; lower --jobs or raise the process limits"
                                ),
                            }),
                        ));
                    }
                }
            }
            if running == 0 {
                break;
            }
            let Ok((stage, result)) = rx.recv() else {
                break;
            };
            running -= 1;
            match result {
                Ok(()) => finished.push(stage),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None if !waiting.is_empty() => Err(BuildError::Internal {
                message: format!(
                    "stages {:?} could not start: their dependencies form a cycle",
                    waiting.iter().map(|(i, _)| *i).collect::<Vec<_>>()
                ),
            }),
            None => Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_dockerfile::plan::{self, PlanOptions};
    use kiln_oci::Platform;
    use std::sync::Mutex;

    fn plan_of(dockerfile: &str) -> Plan {
        let ast = kiln_dockerfile::syntax::parse_bytes(dockerfile.as_bytes()).expect("parse");
        let df = kiln_dockerfile::instructions::from_ast(&ast).expect("instructions");
        plan::plan(
            df,
            &PlanOptions {
                build_args: Default::default(),
                target: None,
                build_platform: Platform::host(),
                target_platform: None,
            },
        )
        .expect("plan")
    }

    const DF: &str = "FROM scratch AS a\nFROM scratch AS b\nFROM scratch AS unused\n\
        FROM a AS c\nCOPY --from=b / /\nFROM scratch\nCOPY --from=c / /\n";

    #[test]
    fn stages_start_after_their_dependencies_and_unused_ones_never() {
        let p = plan_of(DF);
        let log = Mutex::new(Vec::new());
        run_stages(&p, 2, |i| {
            log.lock().expect("log").push(("start", i));
            std::thread::sleep(std::time::Duration::from_millis(20));
            log.lock().expect("log").push(("end", i));
            Ok(())
        })
        .expect("run");
        let log = log.into_inner().expect("log");
        let at = |what: &str, i: usize| log.iter().position(|e| *e == (what, i));
        assert_eq!(at("start", 2), None, "the unused stage ran: {log:?}");
        for (stage, deps) in [(3, vec![0, 1]), (4, vec![3])] {
            for d in deps {
                assert!(at("end", d) < at("start", stage), "{log:?}");
            }
        }
        // a and b are independent: with two jobs both start before either ends.
        assert!(
            at("start", 1) < at("end", 0) && at("start", 0) < at("end", 1),
            "{log:?}"
        );
    }

    #[test]
    fn a_failure_stops_what_has_not_started() {
        let p = plan_of(DF);
        let started = Mutex::new(Vec::new());
        let r = run_stages(&p, 1, |i| {
            started.lock().expect("log").push(i);
            if i == 0 {
                Err(BuildError::Output {
                    message: "boom".into(),
                })
            } else {
                Ok(())
            }
        });
        assert!(matches!(r, Err(BuildError::Output { message }) if message == "boom"));
        let started = started.into_inner().expect("log");
        assert!(
            !started.contains(&3) && !started.contains(&4),
            "{started:?}"
        );
    }

    #[test]
    fn a_panicked_stage_is_an_internal_error() {
        let p = plan_of(DF);
        let r = run_stages(&p, 2, |i| {
            if i == 0 {
                panic!("a bug");
            }
            Ok(())
        });
        let e = r.expect_err("the panic is reported");
        assert_eq!(e.kind(), kiln_oci::ErrorKind::Internal, "{e:?}");
        assert!(e.to_string().contains("internal error"), "{e}");
    }
}

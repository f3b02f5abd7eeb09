//! Running the stages a target needs, independent ones at the same time: a stage starts
//! once the stage it builds on is done and the stages it reads from (`COPY --from`,
//! `RUN --mount from=`) have started, with at most `jobs` running. Its steps before the
//! first such read run while those stages still run (the read waits for them), as in
//! BuildKit. Waiting only on started stages keeps the waits acyclic: the stages form a
//! DAG, so some running stage always waits on nothing. The first failure stops new
//! stages from starting; running ones finish.

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
    let deps: Vec<Deps> = plan.order.iter().map(|&i| Deps::of(plan, i)).collect();
    let run = &run;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Result<(), BuildError>)>();
        let mut waiting = deps;
        let mut finished: Vec<usize> = Vec::new();
        let mut started: Vec<usize> = Vec::new();
        let mut running = 0usize;
        let mut failure: Option<BuildError> = None;
        loop {
            if failure.is_none() {
                // Start what is ready, in plan order.
                while running < jobs {
                    let Some(pos) = waiting.iter().position(|d| d.ready(&finished, &started))
                    else {
                        break;
                    };
                    let stage = waiting.remove(pos).stage;
                    started.push(stage);
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
                // A stage that stopped because one it reads from failed: that stage's
                // error is the build's.
                Err(e) => match &failure {
                    Some(BuildError::SourceFailed { .. }) | None => failure = Some(e),
                    Some(_) => {}
                },
            }
        }
        match failure {
            Some(e) => Err(e),
            None if !waiting.is_empty() => Err(BuildError::Internal {
                message: format!(
                    "stages {:?} could not start: their dependencies form a cycle",
                    waiting.iter().map(|d| d.stage).collect::<Vec<_>>()
                ),
            }),
            None => Ok(()),
        }
    })
}

/// What a stage waits for before it starts.
struct Deps {
    stage: usize,
    /// The stage it builds on (`FROM name`): done first.
    base: Option<usize>,
    /// The stages it reads from: started first.
    reads: Vec<usize>,
}

impl Deps {
    fn of(plan: &Plan, stage: usize) -> Deps {
        let planned = &plan.stages[stage];
        let needed = |j: &usize| plan.order.contains(j) && *j != stage;
        let base = match planned.base {
            kiln_dockerfile::plan::Base::Stage(j) => Some(j).filter(needed),
            _ => None,
        };
        let mut reads: Vec<usize> = planned.stage_deps().filter(needed).collect();
        reads.sort_unstable();
        reads.dedup();
        Deps { stage, base, reads }
    }

    fn ready(&self, finished: &[usize], started: &[usize]) -> bool {
        self.base.map_or(true, |b| finished.contains(&b))
            && self.reads.iter().all(|j| started.contains(j))
    }
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
    fn stages_start_after_their_base_ends_and_their_sources_start() {
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
        // c builds on a: a is done first. (That c's source b, and the last stage's
        // source c, were started first is the scheduler's order, which the threads' own
        // logs cannot show: a thread spawned later may log first.)
        assert!(at("end", 0) < at("start", 3), "{log:?}");
        assert!(
            at("start", 3).is_some() && at("start", 4).is_some(),
            "{log:?}"
        );
        // a and b are independent: with two jobs both start before either ends.
        assert!(
            at("start", 1) < at("end", 0) && at("start", 0) < at("end", 1),
            "{log:?}"
        );
    }

    /// A stage that only copies from a long one starts while it runs (its own steps
    /// before the copy overlap it); with one job it waits for the slot.
    #[test]
    fn a_stage_starts_while_the_stage_it_copies_from_runs() {
        let p = plan_of("FROM scratch AS long\nFROM scratch\nCOPY --from=long / /\n");
        for (jobs, overlap) in [(2, true), (1, false)] {
            let log = Mutex::new(Vec::new());
            run_stages(&p, jobs, |i| {
                log.lock().expect("log").push(("start", i));
                if i == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                }
                log.lock().expect("log").push(("end", i));
                Ok(())
            })
            .expect("run");
            let log = log.into_inner().expect("log");
            let at = |what: &str, i: usize| log.iter().position(|e| *e == (what, i));
            assert_eq!(
                at("start", 1) < at("end", 0),
                overlap,
                "jobs {jobs}: {log:?}"
            );
        }
    }

    /// The error of the stage that failed is the build's, not that of a stage that
    /// stopped because it read from it (whichever reported first).
    #[test]
    fn a_source_failure_gives_way_to_the_failure_it_came_from() {
        let p = plan_of("FROM scratch AS long\nFROM scratch\nCOPY --from=long / /\n");
        let r = run_stages(&p, 2, |i| {
            if i == 0 {
                std::thread::sleep(std::time::Duration::from_millis(50));
                return Err(BuildError::Output {
                    message: "the real failure".into(),
                });
            }
            Err(BuildError::SourceFailed {
                stage: "long".into(),
                span: Default::default(),
            })
        });
        assert!(
            matches!(&r, Err(BuildError::Output { message }) if message == "the real failure"),
            "{r:?}"
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

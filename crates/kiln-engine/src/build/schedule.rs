//! Running the stages a target needs, independent ones at the same time: a stage starts
//! once the stages it builds on or copies from are done, with at most `jobs` running.
//! The first failure stops new stages from starting; running ones finish.

use super::BuildError;
use kiln_dockerfile::plan::Plan;
use std::sync::mpsc;

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
                    scope.spawn(move || {
                        // A panic must still report, or the loop would wait forever.
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                            || run(stage),
                        ))
                        .unwrap_or_else(|_| {
                            Err(BuildError::Output {
                                message: format!(
                                    "stage {stage} stopped on an internal error (a kiln bug): please report it"
                                ),
                            })
                        });
                        let _ = tx.send((stage, result));
                    });
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
            None if !waiting.is_empty() => Err(BuildError::Output {
                message: format!(
                    "stages {:?} could not start: their dependencies form a cycle",
                    waiting.iter().map(|(i, _)| *i).collect::<Vec<_>>()
                ),
            }),
            None => Ok(()),
        }
    })
}
